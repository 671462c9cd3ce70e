"""A LiteLLM proxy ``config.yaml``: ``model_list`` and ``router_settings``.

Every enabled model becomes one deployment (``model_name`` is our model id, called through
LiteLLM's OpenAI-compatible client at the vendor's ``api_base``, its key read by LiteLLM from
``os.environ/<VAR>``). ``router_settings.fallbacks`` holds each source's whole chain in order, as
our executor walks it. LiteLLM also follows a backup's own fallbacks, depth first; where that
changes the order, the header says so (:func:`litellm_order`). ``model_info.fallback_resolver``
carries what LiteLLM does not read (vendor, tier, reasoning) so that
``fallback-resolver import --from litellm`` brings it back.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..catalog import Provider
from ..resolve import Resolver
from .common import (
    Export,
    backups_tried,
    comment_header,
    enabled,
    fallback_on,
    left_out,
    node_chains,
)

PREFIX = "openai/"
"""LiteLLM's provider prefix for any OpenAI-compatible endpoint at ``api_base``."""
KEY_PREFIX = "os.environ/"
"""How a LiteLLM config names an environment variable instead of a value."""
OURS = "fallback_resolver"
"""The ``model_info`` key holding what LiteLLM does not read, for the import to bring back."""


def to_litellm(r: Resolver) -> Export:
    paths = node_chains(r)
    settings: dict[str, Any] = {
        "fallbacks": [],
        "max_fallbacks": backups_tried(r),
        "num_retries": r.policy.retries,
        "context_window_fallbacks": [],
        "content_policy_fallbacks": [],
    }
    models, aliases = _model_list(r)
    for source, chain in paths.items():
        if source in aliases and paths.get(aliases[source]) == chain:
            continue  # LiteLLM takes an alias's fallbacks from the model it names
        for name, ids in _lists(r, source, chain).items():
            if ids:
                settings[name].append({source: ids})
    health = r.policy.health
    if health.enabled:
        # LiteLLM cools a deployment down once it fails more than allowed_fails times.
        settings["allowed_fails"] = max(health.failure_threshold - 1, 0)
        settings["cooldown_time"] = health.cooldown_s
    else:
        settings["disable_cooldowns"] = True
    strategies = {g.strategy for g in r.groups.values() if len(g.members) > 1}
    if strategies:
        settings["routing_strategy"] = _ROUTING[sorted(strategies)[0]]
    if aliases:
        settings["model_group_alias"] = aliases
    config = {"model_list": models, "router_settings": settings}
    unsupported = _unsupported(r, paths)
    if len(strategies) > 1:
        unsupported.append(
            f"groups pick by {', '.join(sorted(strategies))}; LiteLLM has one routing_strategy "
            f"for all: {settings['routing_strategy']}"
        )
    comment = "# LiteLLM proxy config.\n" + comment_header(r, "litellm", unsupported, "#")
    body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
    return Export(comment + body, tuple(unsupported))


# A group's strategy as LiteLLM's routing_strategy (one for the whole router).
_ROUTING = {
    "ordered": "simple-shuffle",  # with each member's order, LiteLLM takes the lowest first
    "weighted": "simple-shuffle",
    "least-busy": "least-busy",
    "latency": "latency-based-routing",
}
LISTS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")


def _lists(r: Resolver, source: str, chain: tuple[str, ...]) -> dict[str, list[str]]:
    """The backups of ``source`` in each of LiteLLM's three lists. An edge with a trigger
    (``backup_on``) goes in exactly the lists its classes are; otherwise by the classes the
    source falls back on, with our context rule: after a context-window failure only a backup
    with a larger window is tried, where both windows are known."""
    edge = r.edge_policy.get(source)
    classes = fallback_on(r, source)
    out: dict[str, list[str]] = {name: [] for name in LISTS}
    for target in chain:
        trigger = edge.trigger(target) if edge is not None else None
        on = classes if trigger is None else trigger
        if any(c not in ("context_window", "content_policy", "bad_request") for c in on):
            out["fallbacks"].append(target)
        if "context_window" in on and (
            trigger is not None or _larger_window(r.nodes[source], r.nodes[target])
        ):
            out["context_window_fallbacks"].append(target)
        if "content_policy" in on:
            out["content_policy_fallbacks"].append(target)
    return out


def _model_list(r: Resolver) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The deployments, and the groups written as LiteLLM aliases. A group's members go under
    the group's name, with their weight, order and limits; every enabled provider in no group,
    or named by an edge, under its own id. A group that is another name for a model (one member
    written under its own id, or the same members as a group written before it) is an alias."""
    in_groups = {m.id for g in r.groups.values() for m in g.members if len(g.members) > 1}
    named = set(r.fallbacks) | {t for ts in r.fallbacks.values() for t in ts}
    own = {p.id for p in enabled(r) if p.id not in in_groups or p.id in named}
    out: list[dict[str, Any]] = []
    aliases: dict[str, str] = {}
    written: dict[frozenset[str], str] = {}
    for group_id, group in sorted(r.groups.items()):
        members = frozenset(m.id for m in group.members)
        if len(members) == 1 and next(iter(members)) in own:
            aliases[group_id] = next(iter(members))
            continue
        if members in written:
            aliases[group_id] = written[members]
            continue
        written[members] = group_id
        # Every weight or none: LiteLLM reads a missing one as 0 once another has one.
        weighted = any(m.weight != 1.0 for m in group.members)
        for member in group.members:
            provider = r.providers[member.id]
            if provider.enabled:
                weight = member.weight if weighted else None
                out.append(_deployment(provider, group_id, weight, member.order))
    out += [_deployment(p, p.id, None, None) for p in enabled(r) if p.id in own]
    return out, aliases


def _deployment(
    p: Provider, model_name: str, weight: float | None, order: int | None
) -> dict[str, Any]:
    params: dict[str, Any] = {"model": PREFIX + p.model, "api_base": p.base_url}
    if p.api_key_env is not None:
        params["api_key"] = KEY_PREFIX + p.api_key_env
    params["timeout"] = p.timeout_s
    if weight is not None and weight != 1.0:
        params["weight"] = weight
    for name, value in (
        ("order", order),
        ("rpm", p.rpm),
        ("tpm", p.tpm),
        ("max_tokens", p.max_tokens),
        ("num_retries", p.retries),
    ):
        if value is not None:
            params[name] = value
    info: dict[str, Any] = {
        # Under a key of its own: LiteLLM's model_info has fields of the same names
        # (``tier`` is free or paid there).
        OURS: {
            "vendor": p.vendor,
            "display_name": p.display_name,
            "tier": p.tier,
            "reasoning": p.reasoning,
        },
        # LiteLLM prices per token; ours are per million tokens.
        "input_cost_per_token": per_token(p.pricing.prompt),
        "output_cost_per_token": per_token(p.pricing.completion),
    }
    if p.context_window is not None:
        info["max_input_tokens"] = p.context_window
    if model_name != p.id:
        info["id"] = p.id  # LiteLLM's deployment id: the import names the member by it
    return {"model_name": model_name, "litellm_params": params, "model_info": info}


def per_token(per_million: float) -> float:
    """A per-million price as LiteLLM's per-token one, without float noise in the file."""
    return float(f"{per_million / 1_000_000:.12g}")


def _larger_window(source: Provider, target: Provider) -> bool:
    if source.context_window is None or target.context_window is None:
        return True
    return target.context_window > source.context_window


def litellm_order(written: dict[str, list[str]], source: str, max_fallbacks: int) -> list[str]:
    """The models LiteLLM's Router tries after ``source`` fails, when each of them fails too.

    LiteLLM follows a backup's own fallbacks before the next backup of the source (depth
    first), skips a model already tried in the request, and stops at ``max_fallbacks`` hops
    counted along the way (litellm/router_utils/fallback_event_handlers.py, run_async_fallback).
    """
    attempted = {source}

    def walk(group: str, depth: int) -> list[str]:
        tried: list[str] = []
        if depth >= max_fallbacks:
            return tried
        for target in written.get(group, ()):
            if target in attempted:
                continue
            attempted.add(target)
            depth += 1
            tried += [target, *walk(target, depth)]
        return tried

    return walk(source, 0)


def _unsupported(r: Resolver, paths: dict[str, tuple[str, ...]]) -> list[str]:
    policy = r.policy
    lines = left_out(r)
    written = {s: list(chain) for s, chain in paths.items()}
    for source, ours in written.items():
        theirs = litellm_order(written, source, backups_tried(r))
        if theirs != ours:
            lines.append(
                f"{source}: LiteLLM tries {', '.join(theirs) or 'nothing'} (it follows a "
                f"backup's own fallbacks first); fallback-resolver tries {', '.join(ours)}"
            )
    lines.append(
        "a backup whose key variable is unset is skipped by fallback-resolver at call time; "
        "LiteLLM calls it and fails"
    )
    lines += [
        f"{p.id} needs no key; LiteLLM's OpenAI client still wants one (set OPENAI_API_KEY "
        "to any value)"
        for p in enabled(r)
        if p.api_key_env is None
    ]
    for source, edge in sorted(r.edge_policy.items()):
        if source in paths and edge.fallback_on is not None:
            lines.append(
                f"{source} falls back only on {', '.join(edge.fallback_on) or 'nothing'}; "
                "LiteLLM's fallbacks apply to every error"
            )
        if source in paths and edge.max_cost_ratio is not None:
            lines.append(f"{source}: cost cap {edge.max_cost_ratio:g}x (LiteLLM has none)")
    lines.append(
        f"which errors fall back (policy.fallback_on: {', '.join(policy.fallback_on)}): "
        "LiteLLM decides by its own exception types"
    )
    lines.append(
        f"cost cap {policy.cost.max_ratio:g}x ({policy.cost.action}): LiteLLM has no cost guard"
    )
    if policy.retries:
        lines.append(
            f"retries only on {', '.join(policy.retry_on)}, backoff "
            f"{policy.retry_backoff_s:g}s doubling, at most {policy.retry_max_wait_s:g}s, "
            "counted in max_attempts"
        )
    if policy.deadline_s is not None:
        lines.append(f"deadline of {policy.deadline_s:g}s over the whole chain")
    if policy.health.enabled:
        h = policy.health
        lines.append(
            f"health: {h.failure_threshold} failures in a row (not per minute), one probe after "
            f"the cooldown, cooldown x{h.backoff:g} up to {h.max_cooldown_s:g}s, counting only "
            f"{', '.join(h.counts)}"
        )
    return lines
