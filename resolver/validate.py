"""Validation: turn the composed data into the frozen data model, finding every problem.

One pass collects every problem instead of stopping at the first: wrong types, unknown or
missing keys, unknown ids, self-loops, cycles, duplicate ids across vendors (errors), and edges
that will not behave as they read (warnings). Each problem carries the key path and the file or
override that set it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .catalog import (
    ACCEPTABLE,
    ERROR_CLASSES,
    HEALTH_STORES,
    REDIS_URL_ENV,
    Acceptance,
    CostPolicy,
    EdgePolicy,
    HealthPolicy,
    Policy,
    Pricing,
    Provider,
    SecretURL,
    is_downgrade,
    looks_like_secret,
    mask_url,
)
from .errors import Problem, Severity, did_you_mean

KeyPath = tuple[str | int, ...]
OriginOf = Callable[[KeyPath], "str | None"]


# What a value of the right kind may still get wrong: (message, hint) when it is bad.
Check = Callable[[Any], "tuple[str, str] | None"]


def _http_url(value: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # e.g. a malformed [IPv6] host
        host = None
        parts = urlsplit("")
    if parts.scheme in ("http", "https") and host:
        return None
    return (
        f"expected an http:// or https:// URL with a host, got {mask_url(value)!r}",
        "e.g. https://api.example.com/v1",
    )


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def masked(value: str) -> str:
    """How a value that may be a secret is shown: a masked prefix and its length, no more."""
    return f"'{value[:3]}***' ({len(value)} characters)" if len(value) > 6 else "'***'"


def _env_var_name(value: str) -> tuple[str, str] | None:
    if _ENV_NAME.fullmatch(value) and not looks_like_secret(value):
        return None
    return (
        f"expected the name of an environment variable, got {masked(value)}",
        "name the variable that holds the key (e.g. TOGETHER_API_KEY) and export the key "
        "there; if a key was written here, rotate it",
    )


@dataclass(frozen=True, slots=True)
class Field:
    kind: str  # str | bool | int | number | list | mapping
    required: bool = False
    nullable: bool = False
    minimum: float | None = None  # inclusive lower bound for numbers
    choices: tuple[str, ...] = ()
    check: Check | None = None
    secret: bool = False  # never echoed: shown masked in every message


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
    "base_url": Field("str", check=_http_url),
    "api_key_env": Field("str", nullable=True, check=_env_var_name, secret=True),
}
PATCH = {
    name: Field(f.kind, nullable=f.nullable, minimum=f.minimum, check=f.check, secret=f.secret)
    for name, f in MODEL.items()
}
VENDOR = {
    "base_url": Field("str", required=True, check=_http_url),
    "api_key_env": Field("str", required=True, nullable=True, check=_env_var_name, secret=True),
    "timeout_s": Field("number", minimum=_POSITIVE),
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
    "accept": Field("records"),
}


def _reason(value: str) -> tuple[str, str] | None:
    if value.strip():
        return None
    return "the reason must not be empty", "say why the warning is accepted"


ACCEPT = {
    "warning": Field("str", required=True, choices=ACCEPTABLE),
    "backup": Field("str"),
    "reason": Field("str", required=True, check=_reason),
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
    "records": "a list of mappings",
    "mapping": "a mapping",
}


@dataclass(frozen=True, slots=True)
class Validated:
    providers: dict[str, Provider]
    fallbacks: dict[str, tuple[str, ...]]
    edge_policy: dict[str, EdgePolicy]
    policy: Policy
    problems: tuple[Problem, ...]


def render_key(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        if isinstance(part, str):
            text += f".{part}" if text else part
        else:  # a list index, or a key YAML read as something else than text (`yes:`, `~:`)
            text += f"[{part!r}]"
    return text


MISSING = "???"  # OmegaConf's "must be filled in" value


def _id_problem(model_id: Any) -> tuple[str, str] | None:
    """Why ``model_id`` cannot be a model id (message, hint), or None when it can."""
    if isinstance(model_id, bool):
        return "is a boolean", "YAML reads yes/no/on/off/true/false as booleans: quote the id"
    if model_id is None:
        return "is null (`~` or an empty key)", "write the model id"
    if not isinstance(model_id, str):
        return f"is a {type(model_id).__name__}, not text", "quote the id"
    if not model_id.strip():
        return "is empty", "write the model id"
    if model_id != model_id.strip():
        return "has spaces around it", f"write it as {model_id.strip()!r}"
    if any(c.isspace() and c != " " for c in model_id):
        return "has a tab or line break in it", "write the id on one line, with plain spaces"
    if model_id == MISSING:
        return "is ??? (a value to fill in)", "write the model id"
    return None


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

    def ident(self, name: Any, path: KeyPath, what: str = "model id") -> bool:
        """Whether ``name`` is plain non-empty text; if not, report it at ``path``."""
        bad = _id_problem(name)
        if bad is not None:
            self.add("bad-model-id", f"{what} {name!r} {bad[0]}", path, hint=bad[1])
        return bad is None

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
            if not self.missing(node, path):
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
                    hint=did_you_mean(str(key), spec)
                    or f"known keys here: {', '.join(sorted(spec))}",
                )
            elif self._value(value, (*path, key), field):
                # The frozen model holds tuples and floats whatever YAML wrote (a list, `60`).
                if field.kind == "list" and value is not None:
                    value = tuple(value)
                elif field.kind == "number" and value is not None:
                    value = float(value)
                good[key] = value
        for key, field in spec.items():
            if field.required and key not in node:
                self.add(
                    "missing-field",
                    f"required key {key!r} is missing",
                    (*path, key),
                    hint=f"add {key}: <{_KIND_NAMES[field.kind]}>",
                )
        return good

    def missing(self, value: Any, path: KeyPath) -> bool:
        """Report a ``???`` nothing filled in; whether ``value`` is one."""
        if not (isinstance(value, str) and value == MISSING):
            return False
        self.add(
            "missing-value",
            "is ??? (a value that must be filled in) and no env file or override set it",
            path,
            hint=f"set {render_key(path)} in an env file or with an override",
        )
        return True

    def _value(self, value: Any, path: KeyPath, field: Field) -> bool:
        if value is None:
            if field.nullable:
                return True
            # A null never means "use the default": `enabled:` left empty would load enabled.
            self.add(
                "missing-field" if field.required else "null-value",
                f"has no value (null); expected {_KIND_NAMES[field.kind]}",
                path,
                hint=f"write a value, e.g. {path[-1]}: <{_KIND_NAMES[field.kind]}>"
                + ("" if field.required else ", or delete the key to keep the default"),
            )
            return False
        if self.missing(value, path):
            return False
        if not _is_kind(value, field.kind):
            hint = None
            if isinstance(value, str) and field.kind in ("number", "int"):
                hint = "write the number without quotes or units"
            shown = f"{type(value).__name__} {masked(str(value))}" if field.secret else None
            self.add(
                "wrong-type",
                f"expected {_KIND_NAMES[field.kind]}, got {shown or _describe(value)}",
                path,
                hint=hint,
            )
            return False
        if field.kind == "number" and not math.isfinite(value):
            self.add(
                "bad-value", f"must be a finite number, got {value!r}", path, hint="write a number"
            )
            return False
        if field.check is not None:
            wrong = field.check(value)
            if wrong is not None:
                self.add("bad-value", wrong[0], path, hint=wrong[1])
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
    if kind == "records":
        return isinstance(value, list)  # each item is checked against its own spec
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
    policy = _policy(top.get("policy", {}), find, environ)
    providers = _providers(top.get("providers", {}), top.get("models", {}), find)
    fallbacks = _fallbacks(top.get("fallbacks", {}), providers, find)
    edge_policy = _edge_policies(top.get("edge_policy", {}), providers, find)
    _cycles(fallbacks, find)
    _edge_warnings(providers, fallbacks, edge_policy, policy, environ, find)
    return Validated(providers, fallbacks, edge_policy, policy, tuple(find.problems))


def _policy(node: Any, find: _Findings, environ: Mapping[str, str]) -> Policy:
    raw = find.mapping(node, ("policy",), POLICY) or {}
    cost = find.mapping(raw.pop("cost", {}), ("policy", "cost"), COST) or {}
    health = find.mapping(raw.pop("health", {}), ("policy", "health"), HEALTH) or {}
    _health_store(health, find, environ)
    return Policy(**raw, cost=CostPolicy(**cost), health=HealthPolicy(**health))


def _health_store(health: dict[str, Any], find: _Findings, environ: Mapping[str, str]) -> None:
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
    origin = find.origin_of((*path, "url")) or ""
    # The shipped file reads the URL from RESOLVER_REDIS_URL: a password that came from there
    # (or from an override) is not written in a file.
    if (
        _has_password(url)
        and environ.get(REDIS_URL_ENV) != url
        and not origin.startswith("override ")
    ):
        find.add(
            "password-in-file",
            "the Redis URL carries a password written into a configuration file",
            (*path, "url"),
            hint=f"keep the password out of files: export {REDIS_URL_ENV}=redis://:PASSWORD@"
            f"host:6379/0 and leave url as ${{oc.env:{REDIS_URL_ENV}}}",
            severity="warning",
        )


def _has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False


def _providers(vendors: Any, patches: Any, find: _Findings) -> dict[str, Provider]:
    declared: dict[str, tuple[str, dict[str, Any]]] = {}  # id -> (vendor, vendor settings)
    raw_models: dict[str, dict[str, Any]] = {}
    for vendor, vnode in vendors.items():
        if not find.ident(vendor, ("providers", vendor), "vendor name"):
            continue
        settings = find.mapping(vnode, ("providers", vendor), VENDOR)
        if settings is None:
            continue
        models = settings.get("models") or {}
        for model_id, mnode in models.items():
            path: KeyPath = ("providers", vendor, "models", model_id)
            if not find.ident(model_id, path):
                continue
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
        if not find.ident(model_id, path) or not find.known(
            model_id, declared, path, "unknown-model", "a patch"
        ):
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
            k: settings[k] for k in ("base_url", "api_key_env", "timeout_s") if k in settings
        }
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
        if not find.ident(source, path) or find.missing(targets, path):
            continue
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
            if find.missing(target, (*path, i)):
                continue
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
        if not find.ident(source, path) or not find.known(
            source, providers, path, "unknown-source", "an edge policy"
        ):
            continue
        raw = find.mapping(pnode, path, EDGE_POLICY)
        if raw is not None:
            entries = (
                find.mapping(entry, (*path, "accept", i), ACCEPT)
                for i, entry in enumerate(raw.pop("accept", ()))
            )
            accept = tuple(
                Acceptance(**e) for e in entries if e and "warning" in e and "reason" in e
            )
            policies[source] = EdgePolicy(**raw, accept=accept)
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


class _EdgeWarnings:
    """Warnings about edges, less those the source's edge policy accepts; an acceptance that
    matches no warning is reported in turn, so that none outlives what it accepted."""

    def __init__(self, edge_policy: Mapping[str, EdgePolicy], find: _Findings) -> None:
        self.edge_policy = edge_policy
        self.find = find
        self.used: set[tuple[str, int]] = set()

    def add(
        self,
        code: str,
        message: str,
        source: str,
        backup: str | None,
        path: KeyPath,
        hint: str | None = None,
    ) -> None:
        policy = self.edge_policy.get(source)
        for i, accepted in enumerate(policy.accept if policy else ()):
            if accepted.warning == code and accepted.backup in (None, backup):
                self.used.add((source, i))
                return
        self.find.add(code, message, path, hint=hint, severity="warning")

    def report_unused(self, fallbacks: Mapping[str, tuple[str, ...]]) -> None:
        for source, policy in self.edge_policy.items():
            if not fallbacks.get(source):
                continue  # no edges in this composition (another fallbacks option): dormant
            for i, accepted in enumerate(policy.accept):
                if (source, i) not in self.used:
                    on = f" on backup {accepted.backup!r}" if accepted.backup else ""
                    self.find.add(
                        "unused-accept",
                        f"{source!r} accepts {accepted.warning}{on}, but no such warning is raised",
                        ("edge_policy", source, "accept", i),
                        hint="remove the entry: what it accepted has changed",
                        severity="warning",
                    )


def _edge_warnings(
    providers: Mapping[str, Provider],
    fallbacks: Mapping[str, tuple[str, ...]],
    edge_policy: Mapping[str, EdgePolicy],
    policy: Policy,
    environ: Mapping[str, str],
    find: _Findings,
) -> None:
    warn = _EdgeWarnings(edge_policy, find)
    for source_id, targets in fallbacks.items():
        source = providers[source_id]
        path: KeyPath = ("fallbacks", source_id)
        if not targets:
            continue
        if not source.enabled:
            warn.add(
                "inert-edge",
                f"{source_id!r} is disabled ({source.disabled_reason or 'no reason given'}), "
                "so its backups are never used",
                source_id,
                None,
                path,
                hint=f"enable it with '++models={{{source_id}: {{enabled: true}}}}', drop the "
                "edge, or accept the warning in edge_policy",
            )
            continue
        cap = (edge_policy.get(source_id) or EdgePolicy()).max_cost_ratio or policy.cost.max_ratio
        for i, target_id in enumerate(targets):
            target = providers[target_id]
            where = (*path, i)
            if i >= policy.max_attempts - 1:
                warn.add(
                    "unreachable",
                    f"backup {target_id!r} of {source_id!r} is never tried: max_attempts="
                    f"{policy.max_attempts} allows {policy.max_attempts - 1} backup(s)",
                    source_id,
                    target_id,
                    where,
                    hint="raise policy.max_attempts or shorten the list",
                )
            if not target.enabled:
                warn.add(
                    "edge-into-disabled",
                    f"backup {target_id!r} of {source_id!r} is disabled "
                    f"({target.disabled_reason or 'no reason given'}) and is skipped",
                    source_id,
                    target_id,
                    where,
                )
                continue
            if target.api_key_env and not environ.get(target.api_key_env):
                # Not acceptable in edge_policy: whether the key is set is the environment's
                # business, not the configuration's.
                find.add(
                    "key-unset",
                    f"backup {target_id!r} of {source_id!r} needs {target.api_key_env}, "
                    "which is not set in this environment",
                    where,
                    hint=f"export {target.api_key_env}=... where the service runs",
                    severity="warning",
                )
            if is_downgrade(source, target):
                warn.add(
                    "downgrade",
                    f"{source_id!r} reasons and its backup {target_id!r} does not",
                    source_id,
                    target_id,
                    where,
                )
            ratio = policy.cost.ratio(source, target)
            if ratio > cap:
                action = "skipped" if policy.cost.action == "skip" else "used anyway"
                warn.add(
                    "cost-over-cap",
                    f"backup {target_id!r} costs {ratio:.2f}x {source_id!r} on the reference "
                    f"call, over the cap of {cap:g}x ({action})",
                    source_id,
                    target_id,
                    where,
                )
    _beyond_depth(providers, fallbacks, policy.max_depth, warn)
    warn.report_unused(fallbacks)


def _beyond_depth(
    providers: Mapping[str, Provider],
    fallbacks: Mapping[str, tuple[str, ...]],
    max_depth: int,
    warn: _EdgeWarnings,
) -> None:
    """Warn, once per chain that starts at a model nothing falls back to, of the backups that
    chain holds past ``max_depth`` hops (walked breadth-first, as a call walks it)."""
    targets = {t for ts in fallbacks.values() for t in ts}
    for root, first in fallbacks.items():
        if root in targets or not first or not providers[root].enabled:
            continue
        seen = {root}
        frontier = [root]
        cut: list[tuple[str, int, str]] = []  # (via, index in via's list, backup)
        for depth in range(1, len(providers) + 1):
            reached = []
            for via in frontier:
                for i, target in enumerate(fallbacks.get(via, ())):
                    if target not in seen and providers[target].enabled:
                        seen.add(target)
                        reached.append((via, i, target))
            if not reached:
                break
            if depth > max_depth:
                cut += reached
            frontier = [target for _, _, target in reached]
        if cut:
            via, i, backup = cut[0]
            shown = ", ".join(repr(t) for _, _, t in cut)
            warn.add(
                "beyond-depth",
                f"a call of {root!r} never reaches {shown}: they are more than "
                f"max_depth={max_depth} hops away",
                root,
                backup,
                ("fallbacks", via, i),
                hint="raise policy.max_depth or shorten the chain",
            )
