"""A TypeScript module for a Node service: the seed's contract with no runtime dependency.

``getFallbackProvider(modelId)`` returns the first backup whose key variable is set in
``process.env`` at call time, or ``undefined`` (unknown, disabled, no backups, no key), as
:meth:`Resolver.get_fallback_provider` does; ``getFallbackChain`` returns them all.
"""

from __future__ import annotations

import json
from typing import Any

from ..catalog import Group, Provider
from ..resolve import Resolver
from .common import Export, chains, comment_header, enabled, left_out

_RUNTIME = """\
// Only process.env is read, so the module needs no @types/node.
declare const process: { env: Record<string, string | undefined> };

function usable(provider: Provider, env: Record<string, string | undefined>): boolean {
  return provider.apiKeyEnv === null || Boolean(env[provider.apiKeyEnv]);
}

/** Every usable backup of `modelId`, in the order a failing call tries them. */
export function getFallbackChain(
  modelId: string,
  env: Record<string, string | undefined> = process.env,
): Provider[] {
  const chain = Object.prototype.hasOwnProperty.call(MODEL_FALLBACKS, modelId)
    ? MODEL_FALLBACKS[modelId as ModelId | GroupId]
    : undefined;
  return (chain ?? []).map((id) => ALL_PROVIDERS[id]).filter((p) => usable(p, env));
}

/**
 * The first usable backup of `modelId`: undefined when the model is unknown, disabled or has no
 * backups, or when no backup's key variable is set in `env` (process.env at call time).
 */
export function getFallbackProvider(
  modelId: string,
  env: Record<string, string | undefined> = process.env,
): Provider | undefined {
  return getFallbackChain(modelId, env)[0];
}

/**
 * The member a call to group `groupId` goes to: among the first tier (by `order`) with a
 * usable member, a draw by weight for a weighted group, else the first usable member;
 * undefined for an unknown group or when no member's key variable is set.
 */
export function pickMember(
  groupId: string,
  env: Record<string, string | undefined> = process.env,
  random: () => number = Math.random,
): Provider | undefined {
  // Typed as a plain record: with no group at all, GroupId is never.
  const groups: Readonly<Record<string, Group>> = GROUPS;
  const group = Object.prototype.hasOwnProperty.call(groups, groupId) ? groups[groupId] : undefined;
  if (group === undefined) return undefined;
  const tiers = new Map<number, Member[]>();
  for (const m of group.members) {
    const tier = m.order ?? Number.POSITIVE_INFINITY;
    tiers.set(tier, [...(tiers.get(tier) ?? []), m]);
  }
  for (const tier of [...tiers.keys()].sort((a, b) => a - b)) {
    const members = (tiers.get(tier) ?? []).filter((m) => usable(ALL_PROVIDERS[m.id], env));
    if (members.length === 0) continue;
    if (group.strategy !== "weighted") return ALL_PROVIDERS[members[0].id];
    const total = members.reduce((sum, m) => sum + m.weight, 0);
    let draw = random() * total;
    for (const m of members) {
      draw -= m.weight;
      if (draw < 0) return ALL_PROVIDERS[m.id];
    }
    return ALL_PROVIDERS[members[members.length - 1].id];
  }
  return undefined;
}
"""


def to_typescript(r: Resolver) -> Export:
    unsupported = left_out(r)
    unsupported.append("health: a model out of rotation in Python is still returned here")
    if any(g.strategy != "ordered" for g in r.groups.values()):
        unsupported.append(
            "a group in a chain is listed in its members' declared order; pickMember draws a "
            "weighted group's member by weight, and least-busy and latency pick the first"
        )
    providers = enabled(r)
    ids = " | ".join(json.dumps(p.id) for p in providers) or "never"
    groups = {g: group for g, group in r.groups.items() if r.nodes[g].enabled}
    group_ids = " | ".join(json.dumps(g) for g in groups) or "never"
    records = "\n".join(f"  {json.dumps(p.id)}: {_record(p)}," for p in providers)
    group_records = "\n".join(
        f"  {json.dumps(g)}: {_group(r, group)}," for g, group in sorted(groups.items())
    )
    fallbacks = "\n".join(
        f"  {json.dumps(s)}: [{', '.join(json.dumps(p.id) for p in chain)}],"
        for s, chain in chains(r).items()
    )
    text = comment_header(r, "ts", unsupported, "//") + "\n".join(
        [
            "",
            "export interface Pricing {",
            "  /** USD per one million prompt tokens. */",
            "  readonly prompt: number;",
            "  /** USD per one million completion tokens. */",
            "  readonly completion: number;",
            "}",
            "",
            "export interface Provider {",
            "  readonly id: ModelId;",
            "  readonly vendor: string;",
            "  /** The vendor's model string. */",
            "  readonly model: string;",
            "  readonly displayName: string;",
            "  readonly baseUrl: string;",
            "  /** The environment variable holding the key; null: the endpoint needs none. */",
            "  readonly apiKeyEnv: string | null;",
            "  readonly tier: string;",
            "  readonly reasoning: boolean;",
            "  readonly pricing: Pricing;",
            "  readonly contextWindow: number | null;",
            "  readonly timeoutS: number;",
            "}",
            "",
            f"export type ModelId = {ids};",
            "",
            "export interface Member {",
            "  readonly id: ModelId;",
            "  readonly weight: number;",
            "  /** Priority tier, lower first; null after every numbered tier. */",
            "  readonly order: number | null;",
            "}",
            "",
            "export interface Group {",
            '  readonly strategy: "ordered" | "weighted" | "least-busy" | "latency";',
            "  readonly members: readonly Member[];",
            "}",
            "",
            f"export type GroupId = {group_ids};",
            "",
            f"export const SOURCE_ENV = {json.dumps(r.env)};",
            "",
            "/** The enabled models. */",
            "export const ALL_PROVIDERS: Readonly<Record<ModelId, Provider>> = {",
            records,
            "};",
            "",
            "/** Model groups: a logical model id served by several deployments. */",
            "export const GROUPS: Readonly<Record<GroupId, Group>> = {",
            group_records,
            "};",
            "",
            "export type Chains = Readonly<",
            "  Partial<Record<ModelId | GroupId, readonly ModelId[]>>",
            ">;",
            "",
            "/** Each model's backups in the order a failing call tries them. */",
            "export const MODEL_FALLBACKS: Chains = {",
            fallbacks,
            "};",
            "",
            _RUNTIME,
        ]
    )
    return Export(text, tuple(unsupported))


def _group(r: Resolver, group: Group) -> str:
    members = [
        {"id": m.id, "weight": m.weight, "order": m.order}
        for m in group.members
        if r.providers[m.id].enabled
    ]
    return json.dumps({"strategy": group.strategy, "members": members})


def _record(p: Provider) -> str:
    fields: dict[str, Any] = {
        "id": p.id,
        "vendor": p.vendor,
        "model": p.model,
        "displayName": p.display_name,
        "baseUrl": p.base_url,
        "apiKeyEnv": p.api_key_env,
        "tier": p.tier,
        "reasoning": p.reasoning,
        "pricing": {"prompt": p.pricing.prompt, "completion": p.pricing.completion},
        "contextWindow": p.context_window,
        "timeoutS": p.timeout_s,
    }
    return json.dumps(fields, ensure_ascii=False)
