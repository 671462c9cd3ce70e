"""The gateway's clients: each key, the name it is known by, and what it may reach.

``RESOLVER_GATEWAY_KEYS`` (comma-separated) and a keys file of one key per line give keys that
may call anything. A keys file in YAML gives each client a scope::

    clients:
      frontend:                        # its name: in logs, skips and budgets (never the key)
        key: "..."                     # the key itself: this file is a secret
        models: [deepseek-r1-0528-syn, deepseek-r1]   # what it may call and be served by
        budget: {amount: 5.00, window: day}           # what its calls may spend
        chains: {deepseek-r1-0528-syn: [deepseek-r1]} # its own backups, within its models

A fallback never leaves a client's ``models``: a backup outside them is passed over, whatever
error class the call failed with. The file is read again on reload, under the config's rules: a
bad file is refused and the clients it replaced keep serving.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..budgets import BUDGET, amount_ok
from ..callers import CallerScope
from ..catalog import Budget
from ..configfile import MAX_FILE_BYTES, FileProblem, read_config_file
from ..errors import did_you_mean
from ..fields import Field, Findings
from ..resolve import Resolver
from .auth import KEYS_ENV, KEYS_FILE_ENV, GatewaySetupError, offered_key

CLIENT = {
    "key": Field("str", required=True, secret=True),
    "models": Field("list"),
    "budget": Field("mapping"),
    "chains": Field("mapping"),
}
CLIENT_BUDGET = {name: BUDGET[name] for name in ("amount", "window")}


@dataclass(frozen=True, slots=True)
class Caller:
    """A client of the gateway: its key, and the name and scope its entry gives it."""

    name: str
    key: bytes
    scope: CallerScope | None = None
    """What its calls may reach and spend; None: anything (a key without an entry)."""


def identify(
    authorization: str | None, clients: Sequence[Caller], *, basic: bool = False
) -> Caller | None:
    """The client whose key ``Authorization`` carries (Bearer, or with ``basic`` the password
    of HTTP Basic), or None. Every key is compared, each in constant time, so the time taken
    says nothing about which one nearly matched."""
    offered = offered_key(authorization, basic=basic)
    found = None
    for client in clients:
        if hmac.compare_digest(offered, client.key) and offered:
            found = client
    return found


def callers_from(environ: Mapping[str, str], r: Resolver) -> tuple[Caller, ...]:
    """Every client the environment gives, checked against the config ``r``: all problems in
    one GatewaySetupError naming the file and key path (never a key)."""
    keys = [k.strip() for k in environ.get(KEYS_ENV, "").split(",") if k.strip()]
    clients = [Caller(f"{KEYS_ENV}[{i}]", k.encode()) for i, k in enumerate(keys)]
    path = environ.get(KEYS_FILE_ENV, "").strip()
    if path:
        clients += _read(path, r)
    seen: dict[bytes, str] = {}
    for client in clients:
        if client.key in seen:
            raise GatewaySetupError(
                f"{KEYS_FILE_ENV}={path}: clients {seen[client.key]!r} and {client.name!r} have "
                "the same key, so a call could not say which it is; give each its own"
            )
        seen[client.key] = client.name
    return tuple(clients)


def _read(path: str, r: Resolver) -> list[Caller]:
    try:
        if os.stat(path).st_size > MAX_FILE_BYTES:  # a dump, not keys: never read whole
            raise GatewaySetupError(
                f"{KEYS_FILE_ENV}={path}: the file is larger than the {MAX_FILE_BYTES:,} bytes "
                "a config file may be; point it at the keys file"
            )
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or type(e).__name__
        raise GatewaySetupError(
            f"{KEYS_FILE_ENV}={path}: cannot read the key file ({reason}); point it at a "
            "readable file with one key per line, or clients in YAML, or unset it"
        ) from None
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    if not any(line.startswith("clients:") for line in lines):
        found = [k for k in lines if k]
        if not found:
            raise GatewaySetupError(
                f"{KEYS_FILE_ENV}={path}: the key file holds no key; put one key per line"
            )
        return [Caller(f"{Path(path).name}[{i}]", k.encode()) for i, k in enumerate(found)]
    # The rules of every YAML file the config reads: aliases, depth, !! tags, valid YAML.
    try:
        _, data = read_config_file(path, path)
    except FileProblem as e:
        hint = f" ({e.problem.hint})" if e.problem.hint else ""
        raise GatewaySetupError(f"{KEYS_FILE_ENV}={path}: {e.problem.message}{hint}") from None
    find = Findings(lambda _: None)
    clients = [
        client
        for name, entry in (find.mapping(data, (), {"clients": Field("mapping")}) or {})
        .get("clients", {})
        .items()
        if (client := _client(str(name), entry, r, find)) is not None
    ]
    if find.problems:
        listed = "\n".join(f"  {p.key}: {p.message}" + (f" ({p.hint})" if p.hint else "")
                           for p in find.problems)  # fmt: skip
        raise GatewaySetupError(f"{KEYS_FILE_ENV}={path}: the clients are not valid:\n{listed}")
    if not clients:
        raise GatewaySetupError(f"{KEYS_FILE_ENV}={path}: `clients:` names no client")
    return clients


def _client(name: str, entry: Any, r: Resolver, find: Findings) -> Caller | None:
    path = ("clients", name)
    find.ident(name, path, "client name")
    fields = find.mapping(entry, path, CLIENT)
    if fields is None or "key" not in fields:  # find.mapping has said what is wrong
        return None
    key = fields["key"]
    if not key.strip() or key != key.strip():
        # A blank key would never match, yet count as a key (and let serve bind beyond
        # loopback); spaces around one are lost from an Authorization header.
        find.add(
            "bad-value",
            "the key is blank or has spaces around it, so no request could ever send it",
            (*path, "key"),
            hint='write the key alone, e.g. key: "<40 random characters>"',
        )
        return None
    models = fields.get("models")
    if models is not None and not models:
        find.add(
            "bad-value",
            "models is empty: the key could call nothing",
            (*path, "models"),
            hint="name the models and groups it may call, or leave models out for all",
        )
    allowed: frozenset[str] | None = None
    if models is not None:
        for i, model in enumerate(models):
            find.known(model, r.nodes, (*path, "models", i), "unknown-target", "model or group")
        allowed = frozenset(m.id for model in models if model in r.nodes for m in r.members(model))
    budgets: tuple[Budget, ...] = ()
    if (raw := fields.get("budget")) is not None:
        budget = find.mapping(raw, (*path, "budget"), CLIENT_BUDGET)
        if (
            budget is not None
            and {"amount", "window"} <= budget.keys()
            and amount_ok(budget["amount"], (*path, "budget", "amount"), find)
        ):
            budgets = (
                Budget(id=f"client:{name}", amount=float(budget["amount"]),
                       window=budget["window"], scope="client", target=name),
            )  # fmt: skip
    chains: dict[str, tuple[str, ...]] = {}
    for source, backups in (fields.get("chains") or {}).items():
        where = (*path, "chains", source)
        if not isinstance(backups, list) or not all(isinstance(b, str) for b in backups):
            find.add("wrong-type", "expected a list of model ids", where)
            continue
        for i, backup in enumerate([source, *backups]):
            at = where if i == 0 else (*where, i - 1)
            if not find.known(backup, r.nodes, at, "unknown-target", "model or group"):
                continue
            if models is not None and backup not in models:
                hint = did_you_mean(backup, models)
                find.add(
                    "bad-value",
                    f"{backup} is not among the client's models, so no call of it may go there",
                    at,
                    hint=hint or "add it to models, or take it out of the chain",
                )
        chains[source] = tuple(backups)
    scoped = models is not None or budgets or chains
    scope = CallerScope(name, allowed, budgets, chains) if scoped else None
    return Caller(name, key.encode(), scope)
