"""Compiled snapshots: the validated, resolved configuration as one JSON file.

A snapshot is a reviewable artifact, like a lock file: ``fallback-resolver compile -o FILE``
composes and validates as usual and writes what came out (providers, edges, edge policy,
policy, env, warnings, where each edge was declared; never a key or a Redis URL), sorted so
that two compiles of the same configuration are byte-identical and diff cleanly.
:func:`load_snapshot` (and the ``RESOLVER_SNAPSHOT`` variable of the default resolver) serves
it without importing Hydra or OmegaConf: a service starts in the time it takes to read a small
JSON file.

The file carries the package version that wrote it and a SHA-256 over its canonical content;
a snapshot from another version, an edited file or a truncated one is refused with
:class:`SnapshotError` rather than served half-right. Dataclasses are written and read through
``dataclasses.fields``, so a new field on the data model needs no change here.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from ._version import __version__
from .catalog import (
    DEFAULT_REDIS_URL,
    REDIS_URL_ENV,
    Budget,
    EdgePolicy,
    Group,
    Policy,
    Provider,
    SecretURL,
)
from .errors import Problem, SnapshotError
from .resolve import Resolver
from .validate import Validated, restored_problems

FORMAT = 1
MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024
_HASHED = "integrity"
T = TypeVar("T")


def to_json(r: Resolver) -> str:
    """The snapshot text of ``r``: sorted, indented JSON ending in a newline."""
    content: dict[str, Any] = {
        "format": FORMAT,
        "version": __version__,
        "env": r.env,
        "providers": {k: dataclasses.asdict(p) for k, p in r.providers.items()},
        "groups": {k: dataclasses.asdict(g) for k, g in r.groups.items()},
        "fallbacks": {k: list(v) for k, v in r.fallbacks.items()},
        "edge_policy": {k: dataclasses.asdict(e) for k, e in r.edge_policy.items()},
        "budgets": {k: dataclasses.asdict(b) for k, b in r.budgets.items()},
        "policy": _policy_json(r.policy),
        "warnings": [dataclasses.asdict(p) for p in r.warnings],
        "origins": dict(r.origins),
    }
    content[_HASHED] = _digest(content)
    return json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(r: Resolver, path: str | Path) -> None:
    """Write ``r``'s snapshot to ``path`` atomically: a reader never sees half a file."""
    write_atomically(Path(path), to_json(r).encode("utf-8"))


def write_atomically(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data`` at once: a reader sees the old file or the new one,
    never half (a hidden file beside it, renamed over it)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def load_snapshot(path: str | Path) -> Resolver:
    """The :class:`Resolver` compiled into the snapshot at ``path``.

    Raises :class:`SnapshotError` when the file cannot be read, is not a complete snapshot,
    was written by another package version, or does not match its integrity hash.
    """
    try:
        size = os.stat(path).st_size
        if size > MAX_SNAPSHOT_BYTES:
            raise SnapshotError(
                path,
                f"is {size:,} bytes, more than the {MAX_SNAPSHOT_BYTES:,} a snapshot may be "
                "(one of 10,000 models is about 10 MB)",
            )
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SnapshotError(path, f"cannot be read: {getattr(e, 'strerror', None) or e}") from None
    return from_json(text, source=path)


def from_json(text: str, *, source: str | Path = "<snapshot>") -> Resolver:
    """The :class:`Resolver` in snapshot ``text`` (``source`` names it in errors)."""
    try:
        content = json.loads(text)
    except ValueError as e:
        raise SnapshotError(source, f"is not valid JSON (truncated?): {e}") from None
    except RecursionError:
        raise SnapshotError(source, "nests its JSON deeper than any snapshot does") from None
    if not isinstance(content, dict) or not isinstance(content.get(_HASHED), str):
        raise SnapshotError(source, "is not a fallback-resolver snapshot (no integrity hash)")
    if content.get("version") != __version__ or content.get("format") != FORMAT:
        raise SnapshotError(
            source,
            f"was compiled by fallback-resolver {content.get('version')!r} "
            f"(format {content.get('format')!r}); this is {__version__} (format {FORMAT})",
            hint="recompile it with this version: fallback-resolver compile -o FILE",
        )
    claimed = content.pop(_HASHED)
    if claimed != _digest(content):
        raise SnapshotError(
            source,
            "does not match its integrity hash: it was edited or damaged after compiling",
            hint="change the YAML configuration and recompile; never edit a snapshot",
        )
    # A hash that matches content this version cannot read: written by a hand, not by us.
    try:
        validated = Validated(
            providers={
                k: _build(Provider, v, f"providers.{k}") for k, v in content["providers"].items()
            },
            # A snapshot compiled before groups existed has none.
            groups={
                k: _build(Group, v, f"groups.{k}") for k, v in content.get("groups", {}).items()
            },
            # The registry is for composing; what it supplied is in each provider already.
            registry={},
            fallbacks={k: _ids(v, "fallbacks", k) for k, v in content["fallbacks"].items()},
            edge_policy={
                k: _build(EdgePolicy, v, f"edge_policy.{k}")
                for k, v in content["edge_policy"].items()
            },
            policy=_policy_from_json(content["policy"]),
            problems=tuple(
                _build(Problem, p, f"warnings[{i}]") for i, p in enumerate(content["warnings"])
            ),
            # A snapshot compiled before budgets existed has none.
            budgets={
                k: _build(Budget, v, f"budgets.{k}") for k, v in content.get("budgets", {}).items()
            },
        )
        refused = restored_problems(validated)
        if refused:
            # The hash matched: a hand made it. Refused as composition would have refused it.
            raise SnapshotError(
                source,
                "holds values the configuration's rules refuse: "
                + "; ".join(f"{p.key}: {p.message}" for p in refused),
                hint=_REDO,
            )
        return Resolver(validated, env=content["env"], origins=content["origins"])
    except _Unreadable as e:
        where, what = e.args
        raise SnapshotError(
            source, f"has content this version cannot read at {where}: {what}", hint=_REDO
        ) from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SnapshotError(
            source, f"has content this version cannot read: {e!r}", hint=_REDO
        ) from None


_REDO = "compile it again from the YAML configuration (fallback-resolver compile -o FILE)"


class _Unreadable(Exception):
    """A value of the wrong kind; its args: the key path in the snapshot, and what is wrong."""


# The shared health store's URL is this deployment's runtime setting and may carry a password:
# a snapshot records none (it is an artifact to commit and review), and the environment of the
# service that loads it supplies the URL, as the YAML configuration does.


def _policy_json(policy: Policy) -> dict[str, Any]:
    data = dataclasses.asdict(policy)
    data["health"]["url"] = None
    return data


def _policy_from_json(data: Any) -> Policy:
    policy = _build(Policy, data, "policy")
    url = SecretURL(os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL)
    return dataclasses.replace(policy, health=dataclasses.replace(policy.health, url=url))


def _digest(content: Mapping[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _build(cls: type[T], data: Any, where: str) -> T:
    """An instance of dataclass ``cls`` from its ``asdict`` form at key path ``where``, nested
    dataclasses and tuples restored from the field annotations."""
    if not isinstance(data, dict):
        raise _Unreadable(where, f"{cls.__name__}: expected an object, got {_kind(data)}")
    rules = _rules(typing.cast(type, cls))
    unknown = set(data) - set(rules)
    if unknown:
        raise _Unreadable(where, f"{cls.__name__}: unknown fields {sorted(unknown)}")
    # A value of a kind its field takes as it is (most are) costs a set lookup, not a call;
    # and a field's key path is spelled out only for an error: 10,000 models have 180,000.
    values = {}
    for name, value in data.items():
        plain, restore = rules[name]
        values[name] = value if type(value) in plain else restore(value, where, name)
    return cls(**values)


def _list(value: Any, where: str) -> tuple[Any, ...]:
    """A JSON list as a tuple; anything else is refused rather than taken apart."""
    if not isinstance(value, list):
        raise _Unreadable(where, f"expected a list, got {_kind(value)}")
    return tuple(value)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _at(where: str, key: str | int) -> str:
    return f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}"


Restore = Callable[[Any, str, str | int], Any]
"""Reads a value back, or raises :class:`_Unreadable` at key ``key`` of key path ``where``."""


Rule = tuple[frozenset[type], Restore]
"""A field's JSON kinds taken as they are, and how to read any other value back (or refuse
it)."""


@functools.cache
def _rules(cls: Any) -> dict[str, Rule]:
    """Per field of ``cls``: how to read its JSON value back. Worked out once per class:
    reading the annotations costs more than building a 10,000-model snapshot."""
    try:
        hints = typing.get_type_hints(cls)
    except NameError:
        # An annotation names a type imported only for type checkers (to break an import
        # cycle, as a policy section defined in its own module may): go by the defaults.
        hints = {}
    return {
        f.name: _rule(hints[f.name] if f.name in hints else _hint_of_default(f))
        for f in dataclasses.fields(cls)
    }


def _hint_of_default(f: dataclasses.Field[Any]) -> Any:
    """The type of a field's default value, standing in for an annotation that cannot be
    evaluated: a nested dataclass or a tuple is what needs restoring."""
    factory = f.default_factory
    sample = factory() if factory is not dataclasses.MISSING else f.default
    if isinstance(sample, tuple):
        return tuple[Any, ...]
    return type(sample) if dataclasses.is_dataclass(sample) else None


def _rule(hint: Any) -> Rule:
    """How to read a field of type ``hint`` back: ``None`` only where the type allows it,
    scalars of their own kind, literals among their values, nested objects and lists rebuilt;
    a type this reader does not know (or an annotation it could not evaluate) as it is."""
    options = typing.get_args(hint) if typing.get_origin(hint) in _UNIONS else (hint,)
    kinds = [o for o in options if o is not type(None)]
    one = _one(kinds[0]) if len(kinds) == 1 else _as_is
    if one is _as_is:
        return _JSON_KINDS, _as_is
    plain = _SCALARS[kinds[0]][0] if kinds[0] in _SCALARS else ()
    if len(kinds) < len(options):
        return frozenset((*plain, type(None))), one

    def required(value: Any, where: str, key: str | int) -> Any:
        if value is None:
            raise _Unreadable(_at(where, key), "expected a value, got null")
        return one(value, where, key)

    return frozenset(plain), required


_JSON_KINDS: frozenset[type] = frozenset((str, int, float, bool, type(None), list, dict))


def _as_is(value: Any, where: str, key: str | int) -> Any:
    return value


# The JSON kinds a scalar field's value may have (bool is not an int here, as in YAML's
# validation: `retries: true` is refused there too).
_SCALARS: dict[Any, tuple[tuple[type, ...], str]] = {
    str: ((str,), "text"),
    bool: ((bool,), "true or false"),
    int: ((int,), "a whole number"),
    float: ((int, float), "a number"),
}


def _one(kind: Any) -> Restore:
    if dataclasses.is_dataclass(kind):
        nested: type = kind  # type: ignore[assignment]
        return lambda value, where, key: _build(nested, value, _at(where, key))
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        each = _one(args[0]) if args else _as_is

        def items(value: Any, where: str, key: str | int) -> tuple[Any, ...]:
            path = _at(where, key)
            return tuple(each(v, path, i) for i, v in enumerate(_list(value, path)))

        return items
    if typing.get_origin(kind) is Literal:
        allowed = typing.get_args(kind)

        def literal(value: Any, where: str, key: str | int) -> Any:
            if isinstance(value, str) and value in allowed:
                return value
            shown = ", ".join(map(repr, allowed))
            raise _Unreadable(_at(where, key), f"expected one of {shown}, got {value!r}")

        return literal
    if kind in _SCALARS:
        types_, what = _SCALARS[kind]

        def scalar(value: Any, where: str, key: str | int) -> Any:
            if type(value) not in types_:
                raise _Unreadable(_at(where, key), f"expected {what}, got {_kind(value)}")
            return value  # as written: a snapshot holds what the validated YAML held

        return scalar
    return _as_is


_UNIONS = (typing.Union, types.UnionType)
_ids = _one(tuple[str, ...])  # a model's backups
