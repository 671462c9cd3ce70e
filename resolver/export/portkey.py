"""Portkey gateway configs (JSON): one ``fallback`` config per source model.

A Portkey config travels with each request (``x-portkey-config``), so the export is a map from
our model id to the config a request for that model sends: the model itself first, then its
backups in chain order, each an OpenAI-compatible target (``custom_host``) with the vendor's
model string in ``override_params.model``. Portkey's open-source gateway takes keys inline in
the config; the export never writes one: each target names its variable in ``api_key_env``, and
the sender fills ``api_key`` from its environment, dropping a target whose key is unset, as our
resolver does at call time.
"""

from __future__ import annotations

import json
from typing import Any

from ..catalog import ErrorClass, Provider
from ..resolve import Resolver
from .common import Export, chains, fallback_on, left_out, source_of

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
    paths = chains(r)
    configs = {}
    for source_id, chain in paths.items():
        strategy: dict[str, Any] = {
            "mode": "fallback",
            "on_status_codes": status_codes(fallback_on(r, source_id)),
        }
        targets = [_target(r, p) for p in (r.providers[source_id], *chain)]
        configs[source_id] = {"strategy": strategy, "targets": targets}
    unsupported = _unsupported(r, paths)
    document = {
        "generated_by": str(source_of(r)),
        "not_expressed": unsupported,
        "configs": configs,
    }
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return Export(text, tuple(unsupported))


def _target(r: Resolver, p: Provider) -> dict[str, Any]:
    target: dict[str, Any] = {
        "provider": "openai",
        "custom_host": p.base_url,
        "api_key_env": p.api_key_env,
        "override_params": {"model": p.model},
        "request_timeout": round(p.timeout_s * 1000),
    }
    if r.policy.retries:
        target["retry"] = {
            "attempts": r.policy.retries,
            "on_status_codes": status_codes(r.policy.retry_on),
        }
    return target


def _unsupported(r: Resolver, paths: dict[str, tuple[Provider, ...]]) -> list[str]:
    policy = r.policy
    lines = left_out(r)
    lines.append(
        "keys: each target names its variable in api_key_env; fill api_key from the "
        "environment when sending, and drop a target whose key is unset"
    )
    for source_id, chain in paths.items():
        classes = fallback_on(r, source_id)
        missing = [why for c, why in _NO_STATUS.items() if c in classes]
        if missing:
            lines.append(f"{source_id}: no fallback on {'; '.join(missing)}")
        for p in chain[:-1]:
            if fallback_on(r, p.id) != classes:
                lines.append(
                    f"{source_id}: the chain goes on past {p.id} on {source_id}'s error "
                    f"classes, not on {p.id}'s own ({', '.join(fallback_on(r, p.id))})"
                )
        if any(_smaller_window(r.providers[source_id], p) for p in chain):
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
