"""Validation: turn the composed data into the frozen data model, finding every problem.

One pass collects every problem instead of stopping at the first: wrong types, nulls and
unfilled ``???``, unknown or missing keys, ids that are not plain text, unknown ids, self-loops,
duplicate ids across vendors (errors); cycles and edges that will not behave as they read are
:mod:`resolver.edges`' part. Each problem carries the key path and the file or override that
set it. This module holds what each section may contain (the specs) and builds the frozen
objects; :mod:`resolver.fields` does the checking.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .budgets import budget_entries, budget_warnings
from .catalog import (
    ACCEPTABLE,
    ERROR_CLASSES,
    HEALTH_STORES,
    MID_STREAM,
    REDIS_URL_ENV,
    STORE_DOWN,
    STRATEGIES,
    Acceptance,
    Budget,
    BudgetPolicy,
    CostPolicy,
    EdgePolicy,
    Group,
    HealthPolicy,
    Member,
    Policy,
    Pricing,
    Provider,
    SecretURL,
    Trigger,
    Vendor,
    looks_like_secret,
    mask_url,
)
from .edges import cycles, edge_warnings
from .errors import Problem, did_you_mean
from .fields import (
    POSITIVE,
    Field,
    Findings,
    KeyPath,
    OriginOf,
    describe,
    id_problem,
    is_kind,
    masked,
)


def url_problem(value: str, schemes: tuple[str, ...]) -> str | None:
    """What is wrong with URL ``value`` (None: nothing; '' when only its scheme is, which the
    caller's message names), as every URL of the configuration is checked when it is validated
    rather than when it is first used: a scheme of ``schemes``, a host (a path for unix://), a
    port in range, no space or control character anywhere."""
    if value != value.strip():
        return "it has a leading or trailing space"
    if any(c.isspace() or not c.isprintable() for c in value):
        return "it holds a space or a control character"
    try:
        parts = urlsplit(value)
        host, _ = parts.hostname, parts.port  # .port raises on one out of range or not a number
    except ValueError as e:  # a port out of range, a malformed [IPv6] host
        return str(e)
    if parts.scheme not in schemes:
        return ""
    if parts.scheme == "unix":
        return None if parts.path else "a unix:// URL needs the socket's path"
    return None if host else "it has no host"


def _http_url(value: str) -> tuple[str, str] | None:
    problem = url_problem(value, ("http", "https"))
    if problem is not None:
        return (
            f"expected an http:// or https:// URL with a host, got {mask_url(value)!r}"
            + (f": {problem}" if problem else ""),
            "e.g. https://api.example.com/v1",
        )
    if _has_password(value):
        return (
            f"{mask_url(value)!r} carries credentials, which configuration never holds",
            "give the key by api_key_env (the variable's name), and the URL without user:pass@",
        )
    return None


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _env_var_name(value: str) -> tuple[str, str] | None:
    if _ENV_NAME.fullmatch(value) and not looks_like_secret(value):
        return None
    return (
        f"expected the name of an environment variable, got {masked(value)}",
        "name the variable that holds the key (e.g. TOGETHER_API_KEY) and export the key "
        "there; if a key was written here, rotate it",
    )


PRICING = {
    "prompt": Field("number", required=True, minimum=0),
    "completion": Field("number", required=True, minimum=0),
}


def _vendor_model(value: str) -> tuple[str, str] | None:
    bad = id_problem(value)
    return None if bad is None else (f"the vendor's model name {value!r} {bad[0]}", bad[1])


MODEL = {
    "model": Field("str", required=True, check=_vendor_model),
    "display_name": Field("str"),
    "tier": Field("str", required=True),
    "reasoning": Field("bool"),
    "pricing": Field("mapping", required=True),
    "enabled": Field("bool"),
    "disabled_reason": Field("str", nullable=True),
    "context_window": Field("int", nullable=True, minimum=1),
    "timeout_s": Field("number", minimum=POSITIVE),
    "max_concurrency": Field("int", nullable=True, minimum=1),
    "first_token_timeout_s": Field("number", minimum=POSITIVE),
    "base_url": Field("str", check=_http_url),
    "api_key_env": Field("str", nullable=True, check=_env_var_name, secret=True),
    "rpm": Field("int", nullable=True, minimum=1),
    "tpm": Field("int", nullable=True, minimum=1),
    "max_tokens": Field("int", nullable=True, minimum=1),
    "retries": Field("int", nullable=True, minimum=0),
}
PATCH = {
    name: Field(f.kind, nullable=f.nullable, minimum=f.minimum, check=f.check, secret=f.secret)
    for name, f in MODEL.items()
}
VENDOR = {
    "base_url": Field("str", required=True, check=_http_url),
    "api_key_env": Field("str", required=True, nullable=True, check=_env_var_name, secret=True),
    "timeout_s": Field("number", minimum=POSITIVE),
    "max_concurrency": Field("int", nullable=True, minimum=1),
    "first_token_timeout_s": Field("number", minimum=POSITIVE),
    "models": Field("mapping", required=True),
    "registry": Field("str"),
}
REGISTRY = {
    "base_url": Field("str", required=True, nullable=True, check=_http_url),
    "api_key_env": Field("str", required=True, nullable=True, check=_env_var_name),
    "api_base_path": Field("str"),
    "cannot": Field("list"),
    "refused": Field("str", nullable=True),
    "docs": Field("str", nullable=True),
}
COST = {
    "prompt_tokens": Field("int", minimum=0),
    "completion_tokens": Field("int", minimum=0),
    "max_ratio": Field("number", minimum=POSITIVE),
    "action": Field("str", choices=("warn", "skip")),
}
POLICY = {
    "max_depth": Field("int", minimum=1),
    "max_attempts": Field("int", minimum=1),
    "deadline_s": Field("number", nullable=True, minimum=POSITIVE),
    "fallback_on": Field("list", choices=ERROR_CLASSES),
    "retries": Field("int", minimum=0),
    "retry_on": Field("list", choices=ERROR_CLASSES),
    "retry_backoff_s": Field("number", minimum=0),
    "retry_max_wait_s": Field("number", minimum=0),
    "cost": Field("mapping"),
    "health": Field("mapping"),
    "budget": Field("mapping"),
}
BUDGET_POLICY = {
    "on_store_down": Field("str", choices=STORE_DOWN),
    "completion_tokens": Field("int", minimum=1),
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
    "timeout_s": Field("number", minimum=POSITIVE),
    "retry_s": Field("number", minimum=POSITIVE),
}
REDIS_SCHEMES = ("redis", "rediss", "unix")
EDGE_POLICY = {
    "fallback_on": Field("list", nullable=True, choices=ERROR_CLASSES),
    "max_cost_ratio": Field("number", nullable=True, minimum=POSITIVE),
    "note": Field("str", nullable=True),
    "mid_stream": Field("str", choices=MID_STREAM),
    "accept": Field("records"),
    "backup_on": Field("mapping"),
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
GROUP = {
    "strategy": Field("str", choices=STRATEGIES),
    "members": Field("members", required=True),
}
MEMBER = {
    "weight": Field("number", minimum=0),
    "order": Field("int", nullable=True, minimum=0),
}
TOP = {
    "registry": Field("mapping"),
    "providers": Field("mapping", required=True),
    "groups": Field("mapping"),
    "fallbacks": Field("mapping"),
    "models": Field("mapping"),
    "edge_policy": Field("mapping"),
    "policy": Field("mapping"),
    "budgets": Field("mapping"),
}


@dataclass(frozen=True, slots=True)
class Validated:
    providers: dict[str, Provider]
    groups: dict[str, Group]
    registry: dict[str, Vendor]
    fallbacks: dict[str, tuple[str, ...]]
    edge_policy: dict[str, EdgePolicy]
    policy: Policy
    problems: tuple[Problem, ...]
    budgets: dict[str, Budget] = dataclasses.field(default_factory=dict)


def restored_problems(validated: Validated) -> list[Problem]:
    """The field rules over a catalog that did not come through composition (a snapshot):
    every id plain visible text, every URL http(s) without credentials, every key variable a
    plausible name, every number in its bounds. What validation refuses is refused there too,
    whoever wrote the file."""
    find = Findings(lambda path: None)
    passed: set[tuple[str, Any]] = set()  # most values repeat (a vendor's URL, timeouts)
    for pid, provider in validated.providers.items():
        path: KeyPath = ("providers", pid)
        find.ident(pid, path)
        find.ident(provider.vendor, (*path, "vendor"), "vendor name")
        values = [(k, getattr(provider, k, None), f) for k, f in MODEL.items() if k != "pricing"]
        values += [(k, getattr(provider.pricing, k), f) for k, f in PRICING.items()]
        for key, value, field in values:
            if value is None or (key, value) in passed:
                continue
            plain = list(value) if isinstance(value, tuple) else value
            where = (*path, "pricing", key) if key in PRICING else (*path, key)
            if find.value(plain, where, field):
                passed.add((key, value))
    for source, targets in validated.fallbacks.items():
        for i, target in enumerate((source, *targets)):
            find.ident(target, ("fallbacks", source) if i == 0 else ("fallbacks", source, i - 1))
    for gid, group in validated.groups.items():
        find.ident(gid, ("groups", gid), "group id")
        for member in group.members:
            find.ident(member.id, ("groups", gid, "members"))
    # Budgets by the rules the YAML's go through: read back as written, checked again.
    fields = {
        bid: {"amount": b.amount, "window": b.window, b.scope: b.target or True}
        for bid, b in validated.budgets.items()
    }
    budget_entries(fields, validated.providers, validated.groups, find)
    return find.problems


def validate(
    data: Mapping[str, Any], *, origin_of: OriginOf, environ: Mapping[str, str]
) -> Validated:
    """Check the composed ``data`` and build the frozen objects it describes."""
    find = Findings(origin_of)
    top = find.mapping(dict(data), (), TOP) or {}
    policy = _policy(top.get("policy", {}), find, environ)
    vendors = top.get("providers", {})
    # Only the entries a vendor takes settings from are checked and kept: the registry is a
    # reference of 140 vendors, and checking all of them would double a small catalog's load.
    registry = registry_entries(top.get("registry", {}), find, wanted=_wanted(vendors))
    names = top.get("registry") or {}
    providers = _providers(
        top.get("providers", {}), top.get("models", {}), registry, set(names), find
    )
    _keys_across_hosts(providers, find)
    for p in providers.values():
        _retries_bound(
            p.retries, policy.max_attempts, ("providers", p.vendor, "models", p.id), find
        )
    groups = _groups(top.get("groups", {}), providers, find, environ)
    # Edges join routable ids: a deployment, or a group standing for its members.
    nodes = {**providers, **{g: group_view(group, providers) for g, group in groups.items()}}
    fallbacks = _fallbacks(top.get("fallbacks", {}), nodes, find)
    edge_policy = _edge_policies(top.get("edge_policy", {}), nodes, fallbacks, find)
    cycles(fallbacks, find)
    edge_warnings(nodes, fallbacks, edge_policy, policy, environ, find)
    budgets = budget_entries(top.get("budgets", {}), providers, groups, find)
    budget_warnings(budgets, providers, groups, fallbacks, policy, find)
    return Validated(
        providers, groups, registry, fallbacks, edge_policy, policy, tuple(find.problems), budgets
    )


def _keys_across_hosts(providers: Mapping[str, Provider], find: Findings) -> None:
    """One key variable sent to several hosts: a key one vendor issued would reach another
    vendor's servers (a copied vendor file whose api_key_env was not changed). A warning at
    each vendor concerned, since which of them is wrong is the reader's to say; a gateway of
    one's own in front of several vendors can take one key, and then it is expected."""
    hosts: dict[str, dict[str, str]] = {}  # variable -> vendor -> host it sends the key to
    for p in providers.values():
        if p.api_key_env is not None:
            by_vendor = hosts.setdefault(p.api_key_env, {})
            by_vendor.setdefault(p.vendor, urlsplit(p.base_url).hostname or "")
    for variable, by_vendor in hosts.items():
        if len(set(by_vendor.values())) < 2:
            continue
        for vendor, host in by_vendor.items():
            others = ", ".join(f"{h} ({v})" for v, h in by_vendor.items() if h != host)
            find.add(
                "key-to-other-host",
                f"vendor {vendor!r} sends {variable} to {host}, which also goes to {others}: "
                "a key one vendor issued would reach the other",
                ("providers", vendor, "api_key_env"),
                hint="give each vendor the variable of its own key; when one gateway of yours "
                "fronts them, this is expected (serve with the warning, not --strict)",
                severity="warning",
            )


def _policy(node: Any, find: Findings, environ: Mapping[str, str]) -> Policy:
    raw = find.mapping(node, ("policy",), POLICY) or {}
    cost = find.mapping(raw.pop("cost", {}), ("policy", "cost"), COST) or {}
    health = find.mapping(raw.pop("health", {}), ("policy", "health"), HEALTH) or {}
    budget = find.mapping(raw.pop("budget", {}), ("policy", "budget"), BUDGET_POLICY) or {}
    _health_store(health, find, environ)
    _policy_bounds(raw, cost, health, find)
    return Policy(
        **raw,
        cost=CostPolicy(**cost),
        health=HealthPolicy(**health),
        budget=BudgetPolicy(**budget),
    )


def _policy_bounds(
    raw: dict[str, Any], cost: dict[str, Any], health: dict[str, Any], find: Findings
) -> None:
    """Settings each valid alone that together cannot mean what they say (refused, as
    ``backoff < 1`` is): a cooldown above its cap, retries that never happen, a cost reference
    of no tokens (every price ratio would read 1.00x, and no cost cap would ever act)."""
    # (retry_backoff_s above retry_max_wait_s is no such pair: it means "retry only on a short
    # Retry-After", and is used so.)
    cooldown, cap = health.get("cooldown_s"), health.get("max_cooldown_s")
    if cooldown is not None and cap is not None and cooldown > cap:
        find.add(
            "bad-value",
            f"cooldown_s {cooldown:g} is above max_cooldown_s {cap:g}: cooldowns would shrink "
            "as failures repeat",
            ("policy", "health", "cooldown_s"),
            hint=f"lower cooldown_s to at most {cap:g}, or raise max_cooldown_s",
        )
    _retries_bound(raw.get("retries"), raw.get("max_attempts"), ("policy",), find)
    if cost.get("prompt_tokens") == 0 and cost.get("completion_tokens") == 0:
        find.add(
            "bad-value",
            "the cost reference call has no tokens: every price ratio would read 1.00x, and "
            "max_ratio would never act",
            ("policy", "cost", "prompt_tokens"),
            hint="give the tokens of a typical call, e.g. prompt_tokens: 1000, "
            "completion_tokens: 500",
        )


def _retries_bound(retries: Any, attempts: Any, path: KeyPath, find: Findings) -> None:
    """Same-deployment retries (the policy's, or a model's own) count towards the policy's
    max_attempts: as many as it, or more, can never all happen."""
    if retries is not None and attempts is not None and retries >= attempts:
        find.add(
            "bad-value",
            f"retries {retries} can never all happen: each counts towards policy.max_attempts "
            f"{attempts}, so at most {attempts - 1} can follow the first call",
            (*path, "retries"),
            hint=f"set retries to at most {attempts - 1}, or raise policy.max_attempts",
        )


def _health_store(health: dict[str, Any], find: Findings, environ: Mapping[str, str]) -> None:
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
    problem = url_problem(url, REDIS_SCHEMES)
    if problem is None:
        problem = _redis_url_problem(url, health.get("store"))
    if problem is not None:
        find.add(
            "bad-value",
            f"expected a redis://, rediss:// or unix:// URL, got {mask_url(url)!r}"
            + (f": {problem}" if problem else ""),
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
            # Not written as a URL with a password: every output masks those, this one too.
            hint=f"keep the password out of files: leave url as ${{oc.env:{REDIS_URL_ENV}}} and "
            f"set {REDIS_URL_ENV}, password included, in the service's environment",
            severity="warning",
        )


def _redis_url_problem(url: str, store: Any) -> str | None:
    """What redis-py, which will read the URL, refuses in it (its query's values), and a
    database that is not a number, which it would silently ignore. redis-py is asked only when
    the store is Redis: another store never imports it."""
    parts = urlsplit(url)
    db = parts.path.strip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        return f"the database {db!r} is not a number (redis://host:port/0)"
    if store != "redis":
        return None
    try:
        from redis.connection import parse_url
    except ImportError:  # missing-dependency says so
        return None
    try:
        parse_url(url)  # type: ignore[no-untyped-call]
    except (ValueError, TypeError) as e:
        return mask_url(str(e))
    return None


def _has_password(url: str) -> bool:
    """Whether ``url`` carries a credential: what the one masker (``mask_url``) would hide, a
    password or a query value named like a key, token or password."""
    return mask_url(url) != url


def _wanted(vendors: Any) -> set[str]:
    """The registry entries the vendors take settings from (see :func:`_from_registry`)."""
    wanted = set()
    for vendor, vnode in vendors.items() if isinstance(vendors, dict) else ():
        if isinstance(vnode, dict):
            named = vnode.get("registry")
            if isinstance(named, str):
                wanted.add(named)
            elif "base_url" not in vnode or "api_key_env" not in vnode:
                wanted.add(str(vendor))
    return wanted


def registry_entries(
    node: Any, find: Findings, *, wanted: set[str] | None = None
) -> dict[str, Vendor]:
    """The vendor registry: LiteLLM provider prefix -> where it serves the OpenAI API; only
    the ``wanted`` entries (None: all of them)."""
    registry: dict[str, Vendor] = {}
    if not isinstance(node, dict):
        find.mapping(node, ("registry",), {})  # reported as the wrong type
        return registry
    for prefix, entry in node.items():
        if wanted is not None and prefix not in wanted:
            continue
        path: KeyPath = ("registry", prefix)
        if not find.ident(prefix, path, "registry prefix"):
            continue
        raw = find.mapping(entry, path, REGISTRY)
        if raw is not None and "base_url" in raw and "api_key_env" in raw:
            registry[prefix] = Vendor(prefix=prefix, **raw)
    return registry


# Stands in for the base URL of a vendor already reported (refused, or no URL to be had), so
# that its models stay known and edges to them are not reported again as unknown.
_NO_URL = "https://refused.invalid/v1"


def _from_registry(
    vendor: str, vnode: Any, registry: Mapping[str, Vendor], names: set[str], find: Findings
) -> Any:
    """A vendor's settings with what its registry entry supplies: the base URL and the key
    variable it leaves out. The entry is the one named by ``registry:``, else the one of the
    vendor's own name when the vendor leaves either out."""
    if not isinstance(vnode, dict):
        return vnode
    named = vnode.get("registry")
    if named is None and "base_url" in vnode and "api_key_env" in vnode:
        return vnode
    name = named if isinstance(named, str) else vendor
    entry = registry.get(name)
    path: KeyPath = ("providers", vendor)
    if entry is None:
        if isinstance(named, str):
            find.add(
                "unknown-registry-entry",
                f"vendor {vendor!r} names {named!r}, which the vendor registry does not hold",
                (*path, "registry"),
                hint=did_you_mean(named, names)
                or "use the registry (`override /registry: litellm` in the env's defaults), "
                "add the entry under registry: in your config dir, or give base_url",
            )
        return vnode
    filled = dict(vnode)
    if entry.refused is not None:
        find.add(
            "refused-vendor",
            f"vendor {vendor!r} is {name!r} in the vendor registry, which cannot be called as "
            f"an OpenAI-compatible endpoint: {entry.refused}",
            path,
            hint="serve it behind a gateway that speaks the OpenAI API, and give that base_url",
        )
        filled.setdefault("base_url", _NO_URL)
    elif "base_url" not in filled:
        if entry.base_url is None:
            find.add(
                "missing-field",
                f"required key 'base_url' is missing, and registry entry {name!r} has no "
                "default: each deployment of it gives its own",
                (*path, "base_url"),
                hint="add base_url: <the OpenAI-compatible base URL>",
            )
        filled["base_url"] = entry.base_url or _NO_URL
    filled.setdefault("api_key_env", entry.api_key_env)
    return filled


def _providers(
    vendors: Any, patches: Any, registry: Mapping[str, Vendor], names: set[str], find: Findings
) -> dict[str, Provider]:
    declared: dict[str, tuple[str, dict[str, Any]]] = {}  # id -> (vendor, vendor settings)
    raw_models: dict[str, dict[str, Any]] = {}
    for vendor, vnode in vendors.items():
        if not find.ident(vendor, ("providers", vendor), "vendor name"):
            continue
        vnode = _from_registry(vendor, vnode, registry, names, find)
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
            # NaN for a price reported missing: no cost comparison with it holds (a 0 made
            # the model free, and every backup of it "over the cap").
            pricing=Pricing(**{"prompt": math.nan, "completion": math.nan, **(pricing or {})}),
            **fields,
        )
    return providers


def _groups(
    node: Any, providers: Mapping[str, Provider], find: Findings, environ: Mapping[str, str]
) -> dict[str, Group]:
    """Each group's members: deployments (provider ids), each with its weight and order. A
    group written as a plain list is an ``ordered`` group of those members."""
    groups: dict[str, Group] = {}
    for group_id, gnode in node.items():
        path: KeyPath = ("groups", group_id)
        if not find.ident(group_id, path, "group id"):
            continue
        if group_id in providers:
            find.add(
                "group-collides",
                f"group id {group_id!r} is also a provider's id",
                path,
                hint=f"ids are global: rename the group (e.g. {group_id}-group) or the provider",
            )
            continue
        if isinstance(gnode, list):  # the short form: an ordered list of members
            gnode = {"members": gnode}
        raw = find.mapping(gnode, path, GROUP)
        if raw is None or "members" not in raw:
            continue
        members = _members(raw["members"], (*path, "members"), group_id, providers, find)
        if members is None:
            continue
        groups[group_id] = group = Group(
            id=group_id, members=members, strategy=raw.get("strategy", "ordered")
        )
        _group_warnings(group, providers, find, environ)
    return groups


def _members(
    node: Any, path: KeyPath, group_id: str, providers: Mapping[str, Provider], find: Findings
) -> tuple[Member, ...] | None:
    """A group's members, from a list of ids or a mapping of id -> {weight, order}."""
    if isinstance(node, list):
        node = {m: {} for m in node} if all(isinstance(m, str) for m in node) else node
        if isinstance(node, list):
            find.add("wrong-type", f"expected provider ids, got {describe(node)}", path)
            return None
    if not isinstance(node, dict):
        find.add(
            "wrong-type",
            f"expected a list of provider ids or a mapping of id -> {{weight, order}}, got "
            f"{describe(node)}",
            path,
        )
        return None
    if not node:
        find.add(
            "empty-group",
            f"group {group_id!r} has no members",
            path,
            hint="list the deployments (provider ids) that serve it, or remove the group",
        )
        return None
    members: list[Member] = []
    for member_id, settings in node.items():
        where: KeyPath = (*path, member_id)
        if not find.ident(member_id, where, "member id"):
            continue
        if member_id not in providers:
            find.add(
                "unknown-member",
                f"member {member_id!r} of group {group_id!r} is not a provider id",
                where,
                hint=did_you_mean(member_id, providers)
                or "members are deployments declared under providers (a group is not a member)",
            )
            continue
        fields = find.mapping({} if settings is None else settings, where, MEMBER)
        if fields is not None:
            members.append(Member(id=member_id, **fields))
    if members and not any(m.weight > 0 for m in members):
        find.add(
            "bad-weights",
            f"every member of group {group_id!r} has weight 0, so none would ever be picked",
            path,
            hint="give the members that should serve a weight above 0",
        )
    return tuple(members) if len(members) == len(node) else None


def _group_warnings(
    group: Group, providers: Mapping[str, Provider], find: Findings, environ: Mapping[str, str]
) -> None:
    path: KeyPath = ("groups", group.id, "members")
    deployments = [providers[m.id] for m in group.members]
    if not any(p.enabled for p in deployments):
        find.add(
            "group-disabled",
            f"every member of group {group.id!r} is disabled, so calls to it go straight to its "
            "backups",
            path,
            severity="warning",
        )
    keys = {p.api_key_env for p in deployments}
    if len(keys) > 1:
        first = deployments[0]
        for p in deployments[1:]:
            if p.api_key_env != first.api_key_env:
                find.add(
                    "member-key-differs",
                    f"member {p.id!r} of group {group.id!r} reads its key from "
                    f"{p.api_key_env or 'no variable'}, {first.id!r} from "
                    f"{first.api_key_env or 'no variable'}",
                    (*path, p.id),
                    hint="intended when the members are different accounts or vendors; "
                    "otherwise give them the same api_key_env",
                    severity="warning",
                )
    if group.strategy != "weighted" and len({m.weight for m in group.members}) > 1:
        find.add(
            "weight-unused",
            f"group {group.id!r} gives its members weights, but its strategy is "
            f"{group.strategy}, which does not read them",
            path,
            hint="set strategy: weighted, or drop the weights",
            severity="warning",
        )


def group_view(group: Group, providers: Mapping[str, Provider]) -> Provider:
    """How the graph's checks see a group: enabled while any member is; priced as its dearest
    enabled member, reasoning only when every one does, and the smallest window among them."""
    members = [providers[m.id] for m in group.members]
    live = [p for p in members if p.enabled] or members
    windows = [p.context_window for p in live]
    return Provider(
        id=group.id,
        vendor="group",
        model="",
        display_name=group.id,
        base_url="",
        api_key_env=live[0].api_key_env,
        tier=live[0].tier,
        pricing=Pricing(
            prompt=max(p.pricing.prompt for p in live),
            completion=max(p.pricing.completion for p in live),
        ),
        reasoning=all(p.reasoning for p in live),
        enabled=any(p.enabled for p in members),
        disabled_reason=None if any(p.enabled for p in members) else "every member is disabled",
        context_window=None if None in windows else min(w for w in windows if w is not None),
    )


def _fallbacks(
    node: Any, providers: Mapping[str, Provider], find: Findings
) -> dict[str, tuple[str, ...]]:
    edges: dict[str, tuple[str, ...]] = {}
    for source, targets in node.items():
        path: KeyPath = ("fallbacks", source)
        if not find.ident(source, path) or find.missing(targets, path):
            continue
        if targets is None:
            targets = []
        if not is_kind(targets, "list"):
            find.add(
                "wrong-type",
                f"expected a list of model ids, got {describe(targets)}",
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


_TRIGGER = Field("list", choices=ERROR_CLASSES)


def _triggers(
    node: dict[str, Any], path: KeyPath, backups: tuple[str, ...], find: Findings
) -> tuple[Trigger, ...]:
    """``backup_on``: backup id -> the classes that move a call to it; each one a backup of
    this source, each class a known one."""
    here: KeyPath = (*path, "backup_on")
    known = {}
    for backup in node:
        if not find.ident(backup, (*here, backup), "backup id"):
            continue
        if backup in backups:
            known[backup] = _TRIGGER
            continue
        find.add(
            "unknown-backup",
            f"{backup!r} is not a backup of {path[-1]!r}, so no call reaches it by this edge",
            (*here, backup),
            hint=did_you_mean(backup, backups) or f"its backups: {', '.join(backups) or 'none'}",
        )
    good = find.mapping({b: c for b, c in node.items() if b in known}, here, known) or {}
    return tuple(Trigger(backup=b, on=on) for b, on in good.items())


def _edge_policies(
    node: Any,
    providers: Mapping[str, Provider],
    fallbacks: Mapping[str, tuple[str, ...]],
    find: Findings,
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
            triggers = _triggers(raw.pop("backup_on", {}), path, fallbacks.get(source, ()), find)
            policies[source] = EdgePolicy(**raw, accept=accept, backup_on=triggers)
    return policies
