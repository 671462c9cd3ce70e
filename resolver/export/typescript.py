"""A TypeScript module for a Node service: the seed's contract with no runtime dependency.

``getFallbackProvider(modelId)`` returns the first backup whose key variable is set in
``process.env`` at call time, or ``undefined`` (unknown, disabled, no backups, no key), as
:meth:`Resolver.get_fallback_provider` does; ``getFallbackChain`` returns them all.
"""

from __future__ import annotations

import json
from typing import Any

from ..catalog import Provider
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
    ? MODEL_FALLBACKS[modelId as ModelId]
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
"""


def to_typescript(r: Resolver) -> Export:
    unsupported = left_out(r)
    unsupported.append("health: a model out of rotation in Python is still returned here")
    providers = enabled(r)
    ids = " | ".join(json.dumps(p.id) for p in providers) or "never"
    records = "\n".join(f"  {json.dumps(p.id)}: {_record(p)}," for p in providers)
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
            f"export const SOURCE_ENV = {json.dumps(r.env)};",
            "",
            "/** The enabled models. */",
            "export const ALL_PROVIDERS: Readonly<Record<ModelId, Provider>> = {",
            records,
            "};",
            "",
            "export type Chains = Readonly<Partial<Record<ModelId, readonly ModelId[]>>>;",
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
