"""The JSON Schema (draft 2020-12) of a compiled snapshot, so that a service in any language can
check the file it reads.

Built from the data model's dataclasses, as the snapshot itself is: a new field on a provider or
the policy appears here with no change. The schema checks the structure; the integrity hash is
checked by :func:`resolver.load_snapshot`, which also recomputes it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from .._version import __version__
from ..catalog import Budget, EdgePolicy, Group, Policy, Provider, SecretURL
from ..errors import Problem
from ..snapshot import FORMAT
from .common import Export

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    type(None): {"type": "null"},
    # A snapshot never records the shared store's URL (it may carry a password).
    SecretURL: {"type": "null"},
}


def snapshot_schema() -> dict[str, Any]:
    """The schema as a JSON-ready dict."""
    defs: dict[str, Any] = {}

    def ref(cls: type) -> dict[str, Any]:
        _define(cls, defs)
        return {"$ref": f"#/$defs/{cls.__name__}"}

    def by_id(value: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": value}

    properties = {
        "format": {"const": FORMAT},
        "version": {"type": "string", "description": "the fallback-resolver that compiled it"},
        "env": {"type": ["string", "null"]},
        "providers": by_id(ref(Provider)),
        "groups": by_id(ref(Group)),
        "fallbacks": by_id({"type": "array", "items": {"type": "string"}}),
        "edge_policy": by_id(ref(EdgePolicy)),
        "budgets": by_id(ref(Budget)),
        "policy": ref(Policy),
        "warnings": {"type": "array", "items": ref(Problem)},
        "origins": by_id({"type": "string"}),
        "integrity": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"fallback-resolver compiled snapshot (format {FORMAT}, {__version__})",
        "type": "object",
        "properties": properties,
        "required": sorted(properties),
        "additionalProperties": False,
        "$defs": defs,
    }


def to_json_schema() -> Export:
    return Export(json.dumps(snapshot_schema(), indent=2, sort_keys=True) + "\n")


def _define(cls: type, defs: dict[str, Any]) -> None:
    if cls.__name__ in defs:
        return
    defs[cls.__name__] = {}  # reserved first: a dataclass may nest itself
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    defs[cls.__name__] = {
        "type": "object",
        "properties": {name: _schema(hints[name], defs) for name in fields},
        "required": fields,
        "additionalProperties": False,
    }


def _schema(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = []
        for arg in typing.get_args(hint):
            option = _schema(arg, defs)
            if option not in options:
                options.append(option)
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(hint))}
    if origin is tuple:
        return {"type": "array", "items": _schema(typing.get_args(hint)[0], defs)}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        _define(hint, defs)
        return {"$ref": f"#/$defs/{hint.__name__}"}
    if hint in _SCALARS:
        return _SCALARS[hint]
    raise TypeError(f"no JSON Schema for {hint!r}: add it to resolver.export.schema")
