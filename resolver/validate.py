"""Validation: turn the composed data into the frozen data model, finding every problem.

One pass collects every problem instead of stopping at the first: wrong types, unknown or
missing keys, unknown ids, self-loops, cycles, duplicate ids across vendors (errors), and edges
that will not behave as they read (warnings). Each problem carries the key path and the file or
override that set it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .catalog import (
    ERROR_CLASSES,
    HEALTH_STORES,
    MID_STREAM,
    CostPolicy,
    EdgePolicy,
    HealthPolicy,
    Policy,
    Pricing,
    Provider,
    SecretURL,
    is_downgrade,
    mask_url,
)
from .errors import Problem, Severity, did_you_mean

KeyPath = tuple[str | int, ...]
OriginOf = Callable[[KeyPath], "str | None"]


@dataclass(frozen=True, slots=True)
class Field:
    kind: str  # str | bool | int | number | list | mapping
    required: bool = False
    nullable: bool = False
    minimum: float | None = None  # inclusive lower bound for numbers
    choices: tuple[str, ...] = ()


_POSITIVE = 1e-9
PRICING = {
    "prompt": Field("number", required=True, minimum=0),
    "completion": Field("number", required=True, minimum=0),
}
MODEL = {
    "model": Field("str", required=True),
    "display_name": Field("str"),
    "tier": Field("str", required=True),
    "reasoning": Field("bool"),
    "pricing": Field("mapping", required=True),
    "enabled": Field("bool"),
    "disabled_reason": Field("str", nullable=True),
    "context_window": Field("int", nullable=True, minimum=1),
    "timeout_s": Field("number", minimum=_POSITIVE),
    "max_concurrency": Field("int", nullable=True, minimum=1),
    "first_token_timeout_s": Field("number", minimum=_POSITIVE),
    "base_url": Field("str"),
    "api_key_env": Field("str", nullable=True),
}
PATCH = {name: Field(f.kind, nullable=f.nullable, minimum=f.minimum) for name, f in MODEL.items()}
VENDOR = {
    "base_url": Field("str", required=True),
    "api_key_env": Field("str", required=True, nullable=True),
    "timeout_s": Field("number", minimum=_POSITIVE),
    "max_concurrency": Field("int", nullable=True, minimum=1),
    "first_token_timeout_s": Field("number", minimum=_POSITIVE),
    "models": Field("mapping", required=True),
}
COST = {
    "prompt_tokens": Field("int", minimum=0),
    "completion_tokens": Field("int", minimum=0),
    "max_ratio": Field("number", minimum=_POSITIVE),
    "action": Field("str", choices=("warn", "skip")),
}
POLICY = {
    "max_depth": Field("int", minimum=1),
    "max_attempts": Field("int", minimum=1),
    "deadline_s": Field("number", nullable=True, minimum=_POSITIVE),
    "fallback_on": Field("list", choices=ERROR_CLASSES),
    "retries": Field("int", minimum=0),
    "retry_on": Field("list", choices=ERROR_CLASSES),
    "retry_backoff_s": Field("number", minimum=0),
    "retry_max_wait_s": Field("number", minimum=0),
    "cost": Field("mapping"),
    "health": Field("mapping"),
}
HEALTH = {
    "enabled": Field("bool"),
    "failure_threshold": Field("int", minimum=1),
    "cooldown_s": Field("number", minimum=0),
    "max_cooldown_s": Field("number", minimum=0),
    "backoff": Field("number", minimum=1),
    "counts": Field("list", choices=ERROR_CLASSES),
    "store": Field("str", choices=HEALTH_STORES),
    "url": Field("str", nullable=True),
    "namespace": Field("str", nullable=True),
    "timeout_s": Field("number", minimum=_POSITIVE),
    "retry_s": Field("number", minimum=_POSITIVE),
}
REDIS_SCHEMES = ("redis", "rediss", "unix")
EDGE_POLICY = {
    "fallback_on": Field("list", nullable=True, choices=ERROR_CLASSES),
    "max_cost_ratio": Field("number", nullable=True, minimum=_POSITIVE),
    "note": Field("str", nullable=True),
    "mid_stream": Field("str", choices=MID_STREAM),
}
TOP = {
    "providers": Field("mapping", required=True),
    "fallbacks": Field("mapping"),
    "models": Field("mapping"),
    "edge_policy": Field("mapping"),
    "policy": Field("mapping"),
}
_KIND_NAMES = {
    "str": "text",
    "bool": "true or false",
    "int": "a whole number",
    "number": "a number",
    "list": "a list",
    "mapping": "a mapping",
}


@dataclass(frozen=True, slots=True)
class Validated:
    providers: dict[str, Provider]
    fallbacks: dict[str, tuple[str, ...]]
    edge_policy: dict[str, EdgePolicy]
    policy: Policy
    problems: tuple[Problem, ...]


def render_key(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class _Findings:
    def __init__(self, origin_of: OriginOf) -> None:
        self.problems: list[Problem] = []
        self.origin_of = origin_of

    def add(
        self,
        code: str,
        message: str,
        path: KeyPath,
        *,
        hint: str | None = None,
        severity: Severity = "error",
    ) -> None:
        self.problems.append(
            Problem(
                code,
                message,
                severity,
                key=render_key(path) or None,
                file=self.origin_of(path),
                hint=hint,
            )
        )

    def known(
        self, model_id: str, ids: Mapping[str, object], path: KeyPath, code: str, what: str
    ) -> bool:
        """Whether ``model_id`` is declared; if not, report it with the closest known id."""
        if model_id in ids:
            return True
        self.add(
            code,
            f"{what} declared for {model_id!r}, which no vendor declares",
            path,
            hint=did_you_mean(model_id, ids),
        )
        return False

    def mapping(self, node: Any, path: KeyPath, spec: Mapping[str, Field]) -> dict[str, Any] | None:
        """The keys of ``node`` that match ``spec``; every mismatch becomes a problem."""
        if not isinstance(node, dict):
            self.add("wrong-type", f"expected a mapping, got {_describe(node)}", path)
            return None
        good: dict[str, Any] = {}
        for key, value in node.items():
            field = spec.get(key)
            if field is None:
                self.add(
                    "unknown-key",
                    f"unknown key {key!r}",
                    (*path, key),
                    hint=did_you_mean(key, spec) or f"known keys here: {', '.join(sorted(spec))}",
                )
            elif self._value(value, (*path, key), field):
                # The frozen model holds tuples and floats whatever YAML wrote (a list, `60`).
                if field.kind == "list" and value is not None:
                    value = tuple(value)
                elif field.kind == "number" and value is not None:
                    value = float(value)
                good[key] = value
        for key, field in spec.items():
            if field.required and node.get(key) is None and (key not in node or not field.nullable):
                self.add(
                    "missing-field",
                    f"required key {key!r} is missing"
                    if key not in node
                    else f"required key {key!r} has no value",
                    (*path, key),
                    hint=f"add {key}: <{_KIND_NAMES[field.kind]}>",
                )
        return good

    def _value(self, value: Any, path: KeyPath, field: Field) -> bool:
        if value is None:
            return field.nullable
        if not _is_kind(value, field.kind):
            hint = None
            if isinstance(value, str) and field.kind in ("number", "int"):
                hint = "write the number without quotes or units"
            self.add(
                "wrong-type",
                f"expected {_KIND_NAMES[field.kind]}, got {_describe(value)}",
                path,
                hint=hint,
            )
            return False
        if field.minimum is not None and value < field.minimum:
            bound = "greater than 0" if field.minimum == _POSITIVE else f"at least {field.minimum}"
            self.add("bad-value", f"must be {bound}, got {value!r}", path)
            return False
        if field.choices:
            items = value if isinstance(value, list) else [value]
            bad = [v for v in items if v not in field.choices]
            for item in bad:
                self.add(
                    "bad-value",
                    f"{item!r} is not one of {', '.join(field.choices)}",
                    path,
                    hint=did_you_mean(str(item), field.choices),
                )
            return not bad
        return True


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, dict)


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        return f"a list with non-text items {value!r}"
    return f"{type(value).__name__} {value!r}"


def validate(
    data: Mapping[str, Any], *, origin_of: OriginOf, environ: Mapping[str, str]
) -> Validated:
    """Check the composed ``data`` and build the frozen objects it describes."""
    find = _Findings(origin_of)
    top = find.mapping(dict(data), (), TOP) or {}
    policy = _policy(top.get("policy", {}), find)
    providers = _providers(top.get("providers", {}), top.get("models", {}), find)
    fallbacks = _fallbacks(top.get("fallbacks", {}), providers, find)
    edge_policy = _edge_policies(top.get("edge_policy", {}), providers, find)
    _cycles(fallbacks, find)
    _edge_warnings(providers, fallbacks, edge_policy, policy, environ, find)
    return Validated(providers, fallbacks, edge_policy, policy, tuple(find.problems))


def _policy(node: Any, find: _Findings) -> Policy:
    raw = find.mapping(node, ("policy",), POLICY) or {}
    cost = find.mapping(raw.pop("cost", {}), ("policy", "cost"), COST) or {}
    health = find.mapping(raw.pop("health", {}), ("policy", "health"), HEALTH) or {}
    _health_store(health, find)
    return Policy(**raw, cost=CostPolicy(**cost), health=HealthPolicy(**health))


def _health_store(health: dict[str, Any], find: _Findings) -> None:
    """Check the shared store's settings and wrap the URL so that no output shows its password."""
    path: KeyPath = ("policy", "health")
    if health.get("namespace") == "":
        find.add("bad-value", "namespace must not be empty", (*path, "namespace"))
        del health["namespace"]
    url = health.get("url")
    if url is None:
        if health.get("store") == "redis":
            find.add(
                "missing-field",
                "store is redis but no url is set",
                (*path, "url"),
                hint="export RESOLVER_REDIS_URL=redis://host:6379/0, or set policy.health.url",
            )
        return
    if url.partition("://")[0] not in REDIS_SCHEMES or "://" not in url:
        find.add(
            "bad-value",
            f"expected a redis://, rediss:// or unix:// URL, got {mask_url(url)!r}",
            (*path, "url"),
            hint="redis://host:port/db, with any password only in the environment: "
            "${oc.env:RESOLVER_REDIS_URL}",
        )
        del health["url"]
        return
    health["url"] = SecretURL(url)


def _providers(vendors: Any, patches: Any, find: _Findings) -> dict[str, Provider]:
    declared: dict[str, tuple[str, dict[str, Any]]] = {}  # id -> (vendor, vendor settings)
    raw_models: dict[str, dict[str, Any]] = {}
    for vendor, vnode in vendors.items():
        settings = find.mapping(vnode, ("providers", vendor), VENDOR)
        if settings is None:
            continue
        models = settings.get("models") or {}
        for model_id, mnode in models.items():
            path: KeyPath = ("providers", vendor, "models", model_id)
            if model_id in declared:
                first = declared[model_id][0]
                first_at = find.origin_of(("providers", first, "models", model_id))
                find.add(
                    "duplicate-id",
                    f"model id {model_id!r} is declared by vendors {first!r} and {vendor!r}",
                    path,
                    hint=f"ids are global: rename one (e.g. {model_id}-{vendor}) or remove it "
                    f"from one vendor (first declared in {first_at})",
                )
                continue
            declared[model_id] = (vendor, settings)
            raw_models[model_id] = dict(mnode) if isinstance(mnode, dict) else mnode

    for model_id, patch in (patches or {}).items():
        path = ("models", model_id)
        if not find.known(model_id, declared, path, "unknown-model", "a patch"):
            continue
        good = find.mapping(patch, path, PATCH) or {}
        target = raw_models[model_id]
        if isinstance(target, dict):
            if isinstance(good.get("pricing"), dict) and isinstance(target.get("pricing"), dict):
                good["pricing"] = {**target["pricing"], **good["pricing"]}
            target.update(good)

    providers: dict[str, Provider] = {}
    for model_id, (vendor, settings) in declared.items():
        path = ("providers", vendor, "models", model_id)
        model = find.mapping(raw_models[model_id], path, MODEL) or {}
        pricing_node = model.pop("pricing", None)
        pricing = (
            {} if pricing_node is None else find.mapping(pricing_node, (*path, "pricing"), PRICING)
        )
        # Placeholders stand in for what was reported missing, so that every declared id stays
        # known and edges to it are not reported a second time as unknown targets.
        fields: dict[str, Any] = {
            "model": "",
            "tier": "",
            "base_url": "",
            "api_key_env": None,
            "display_name": model_id,
        }
        fields |= {
            k: settings[k]
            for k in ("base_url", "api_key_env", "timeout_s", "first_token_timeout_s")
            if k in settings
        }
        if settings.get("max_concurrency") is not None:  # a cap shared by the vendor's models
            fields["vendor_max_concurrency"] = settings["max_concurrency"]
        fields |= model
        providers[model_id] = Provider(
            id=model_id,
            vendor=vendor,
            pricing=Pricing(**{"prompt": 0.0, "completion": 0.0, **(pricing or {})}),
            **fields,
        )
    return providers


def _fallbacks(
    node: Any, providers: Mapping[str, Provider], find: _Findings
) -> dict[str, tuple[str, ...]]:
    edges: dict[str, tuple[str, ...]] = {}
    for source, targets in node.items():
        path: KeyPath = ("fallbacks", source)
        if targets is None:
            targets = []
        if not _is_kind(targets, "list"):
            find.add(
                "wrong-type",
                f"expected a list of model ids, got {_describe(targets)}",
                path,
                hint=f"{source}: [backup-id, ...]",
            )
            continue
        if not find.known(source, providers, path, "unknown-source", "fallbacks"):
            continue
        kept: list[str] = []
        for i, target in enumerate(targets):
            if target == source:
                find.add(
                    "self-loop",
                    f"{source!r} lists itself as its own backup",
                    (*path, i),
                    hint="remove it: a retry of the same model is policy, not a fallback",
                )
            elif target not in providers:
                find.add(
                    "unknown-target",
                    f"backup {target!r} of {source!r} is not a known model id",
                    (*path, i),
                    hint=did_you_mean(target, providers),
                )
            elif target in kept:
                find.add(
                    "duplicate-target",
                    f"backup {target!r} is listed twice for {source!r}",
                    (*path, i),
                    hint="a provider is never tried twice in one call; remove the repeat",
                    severity="warning",
                )
            else:
                kept.append(target)
        edges[source] = tuple(kept)
    return edges


def _edge_policies(
    node: Any, providers: Mapping[str, Provider], find: _Findings
) -> dict[str, EdgePolicy]:
    policies: dict[str, EdgePolicy] = {}
    for source, pnode in node.items():
        path: KeyPath = ("edge_policy", source)
        if not find.known(source, providers, path, "unknown-source", "an edge policy"):
            continue
        raw = find.mapping(pnode, path, EDGE_POLICY)
        if raw is not None:
            policies[source] = EdgePolicy(**raw)
    return policies


def _cycles(fallbacks: Mapping[str, tuple[str, ...]], find: _Findings) -> None:
    """Report each cycle once, as the path that closes it (iterative DFS, any graph size)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    reported: set[frozenset[str]] = set()
    for start in fallbacks:
        if state.get(start):
            continue
        path: list[str] = [start]
        iters = [iter(fallbacks.get(start, ()))]
        state[start] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                cycle = path[path.index(nxt) :]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    shown = " -> ".join([*cycle, nxt])
                    find.add(
                        "cycle",
                        f"fallback cycle: {shown}",
                        ("fallbacks", cycle[-1]),
                        hint=f"remove one edge of the cycle, e.g. {cycle[-1]} -> {nxt}",
                    )
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(fallbacks.get(nxt, ())))


def _edge_warnings(
    providers: Mapping[str, Provider],
    fallbacks: Mapping[str, tuple[str, ...]],
    edge_policy: Mapping[str, EdgePolicy],
    policy: Policy,
    environ: Mapping[str, str],
    find: _Findings,
) -> None:
    for source_id, targets in fallbacks.items():
        source = providers[source_id]
        path: KeyPath = ("fallbacks", source_id)
        if not targets:
            continue
        if not source.enabled:
            find.add(
                "inert-edge",
                f"{source_id!r} is disabled ({source.disabled_reason or 'no reason given'}), "
                "so its backups are never used",
                path,
                hint=f"enable it with '++models={{{source_id}: {{enabled: true}}}}' or drop the "
                "edge",
                severity="warning",
            )
            continue
        cap = (edge_policy.get(source_id) or EdgePolicy()).max_cost_ratio or policy.cost.max_ratio
        for i, target_id in enumerate(targets):
            target = providers[target_id]
            where = (*path, i)
            if i >= policy.max_attempts - 1:
                find.add(
                    "unreachable",
                    f"backup {target_id!r} of {source_id!r} is never tried: max_attempts="
                    f"{policy.max_attempts} allows {policy.max_attempts - 1} backup(s)",
                    where,
                    hint="raise policy.max_attempts or shorten the list",
                    severity="warning",
                )
            if not target.enabled:
                find.add(
                    "edge-into-disabled",
                    f"backup {target_id!r} of {source_id!r} is disabled "
                    f"({target.disabled_reason or 'no reason given'}) and is skipped",
                    where,
                    severity="warning",
                )
                continue
            if target.api_key_env and not environ.get(target.api_key_env):
                find.add(
                    "key-unset",
                    f"backup {target_id!r} of {source_id!r} needs {target.api_key_env}, "
                    "which is not set in this environment",
                    where,
                    hint=f"export {target.api_key_env}=... where the service runs",
                    severity="warning",
                )
            if is_downgrade(source, target):
                find.add(
                    "downgrade",
                    f"{source_id!r} reasons and its backup {target_id!r} does not",
                    where,
                    severity="warning",
                )
            ratio = policy.cost.ratio(source, target)
            if ratio > cap:
                action = "skipped" if policy.cost.action == "skip" else "used anyway"
                find.add(
                    "cost-over-cap",
                    f"backup {target_id!r} costs {ratio:.2f}x {source_id!r} on the reference "
                    f"call, over the cap of {cap:g}x ({action})",
                    where,
                    severity="warning",
                )
