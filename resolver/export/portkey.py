"""Portkey gateway configs (JSON): one ``fallback`` config per source model.

A Portkey config travels with each request (``x-portkey-config``), so the export is a map from
our model id to the config a request for that model sends: the model itself first, then its
backups in chain order, each an OpenAI-compatible target (``custom_host``) with the vendor's
model string in ``override_params.model``. A group is a nested target: ``loadbalance`` over its
members by weight (``fallback`` over them for an ordered group), tier by tier.

Keys: Portkey's open-source gateway takes them inline in the config, and the export never writes
one. Each target that needs a key holds ``api_key: {"env": "VAR"}``, which the sender replaces by
the variable's value (:func:`with_keys`), dropping a target whose variable is unset, as our
resolver does at call time. Sent unfilled, the config is refused by the gateway's own schema
(``api_key`` must be text): it never goes out keyless, where a 401 would walk the whole chain.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..catalog import ErrorClass, Group, Provider
from ..pick import Tiers
from ..resolve import Resolver
from .common import Export, fallback_on, left_out, node_chains, source_of

# The HTTP statuses our classifier (resolver.classify) maps to each class. A class whose
# failures are not told apart by status alone is missing: Portkey cannot trigger on it.
STATUS_CODES: dict[ErrorClass, tuple[int, ...]] = {
    "rate_limit": (429,),
    "auth": (401, 403),
    "timeout": (408, 504),
    "server": (500, 502, 503),
    "context_window": (413,),
}
_NO_STATUS: dict[ErrorClass, str] = {
    "context_window": "a 400 saying the context is too long (only 413 is a status of its own)",
    "content_policy": "a refused prompt (a 400 like any bad request)",
    "connection": "a dropped connection (no status)",
    "bad_response": "a malformed 200 response (no error status)",
}


def status_codes(classes: tuple[ErrorClass, ...]) -> list[int]:
    return sorted({code for c in classes for code in STATUS_CODES.get(c, ())})


def to_portkey(r: Resolver) -> Export:
    paths = node_chains(r)
    configs = {}
    for source_id, chain in paths.items():
        strategy: dict[str, Any] = {
            "mode": "fallback",
            "on_status_codes": status_codes(fallback_on(r, source_id)),
        }
        targets = [_node(r, n) for n in (source_id, *chain)]
        configs[source_id] = {"strategy": strategy, "targets": targets}
    for group_id in sorted(r.groups):  # a group with no backups is still a model to call
        if group_id not in configs and r.nodes[group_id].enabled:
            configs[group_id] = _node(r, group_id)
    unsupported = _unsupported(r, paths)
    document = {
        "generated_by": str(source_of(r)),
        "not_expressed": unsupported,
        "configs": configs,
    }
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return Export(text, tuple(unsupported))


def with_keys(config: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """``config`` as a sender attaches it: each ``api_key: {"env": VAR}`` replaced by VAR's
    value, and a target whose variable is unset dropped (a group with no member left too)."""
    out = dict(config)
    key = out.get("api_key")
    if isinstance(key, dict):
        value = environ.get(str(key.get("env")))
        if not value:
            return {}
        out["api_key"] = value
    if "targets" in out:
        out["targets"] = [t for t in (with_keys(t, environ) for t in out["targets"]) if t]
        if not out["targets"]:
            return {}
    return out


def _node(r: Resolver, node_id: str) -> dict[str, Any]:
    """The target for a provider, or the nested config of a group's enabled members."""
    group = r.groups.get(node_id)
    if group is None:
        return _target(r, r.providers[node_id])
    tiers = [[m for m in tier if r.providers[m.id].enabled] for tier in Tiers(group).tiers]
    nested = [_tier(r, group, tier) for tier in tiers if tier]
    return nested[0] if len(nested) == 1 else {"strategy": {"mode": "fallback"}, "targets": nested}


def _tier(r: Resolver, group: Group, members: list[Any]) -> dict[str, Any]:
    if len(members) == 1:
        return _target(r, r.providers[members[0].id])
    if group.strategy == "ordered":
        return {
            "strategy": {"mode": "fallback"},
            "targets": [_target(r, r.providers[m.id]) for m in members],
        }
    targets = []
    for m in members:
        target = _target(r, r.providers[m.id])
        if group.strategy == "weighted":
            target["weight"] = m.weight
        targets.append(target)
    return {"strategy": {"mode": "loadbalance"}, "targets": targets}


def _target(r: Resolver, p: Provider) -> dict[str, Any]:
    target: dict[str, Any] = {
        "provider": "openai",
        "custom_host": p.base_url,
        "override_params": {"model": p.model},
        "request_timeout": round(p.timeout_s * 1000),
    }
    if p.api_key_env is not None:
        # Not text, so the gateway's schema refuses the config until the sender fills it in.
        target["api_key"] = {"env": p.api_key_env}
    if r.policy.retries:
        target["retry"] = {
            "attempts": r.policy.retries,
            "on_status_codes": status_codes(r.policy.retry_on),
        }
    return target


def _unsupported(r: Resolver, paths: dict[str, tuple[str, ...]]) -> list[str]:
    policy = r.policy
    lines = left_out(r)
    lines.append(
        'keys: a target that needs one holds api_key: {"env": VAR}; replace it by the '
        "variable's value when sending and drop a target whose variable is unset (the gateway "
        "refuses the config unfilled)"
    )
    if r.groups:
        lines.append(
            "groups: a failing member hands over to the group's backups, not to its other "
            "members; least-busy and latency groups are balanced evenly"
        )
    for source_id, chain in paths.items():
        classes = fallback_on(r, source_id)
        missing = [why for c, why in _NO_STATUS.items() if c in classes]
        if missing:
            lines.append(f"{source_id}: no fallback on {'; '.join(missing)}")
        for node in chain[:-1]:
            if fallback_on(r, node) != classes:
                lines.append(
                    f"{source_id}: the chain goes on past {node} on {source_id}'s error "
                    f"classes, not on {node}'s own ({', '.join(fallback_on(r, node))})"
                )
        edge = r.edge_policy.get(source_id)
        if edge is not None and edge.backup_on:
            lines.append(f"{source_id}: per-edge triggers (backup_on) are not expressed")
        if any(_smaller_window(r.nodes[source_id], r.nodes[n]) for n in chain):
            lines.append(
                f"{source_id}: after a context-window failure a backup with a smaller window "
                "is tried too"
            )
    lines.append(
        f"cost cap {policy.cost.max_ratio:g}x ({policy.cost.action}): Portkey has no cost guard"
    )
    if policy.deadline_s is not None:
        lines.append(f"deadline of {policy.deadline_s:g}s over the whole chain")
    if policy.retries and policy.retry_backoff_s:
        lines.append("retry waits: Portkey uses its own exponential backoff")
    if policy.health.enabled:
        lines.append(
            "health: a failing model stays in every chain (the open-source gateway has no "
            "circuit breaker)"
        )
    return lines


def _smaller_window(source: Provider, target: Provider) -> bool:
    return (
        source.context_window is not None
        and target.context_window is not None
        and target.context_window <= source.context_window
    )
