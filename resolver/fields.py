"""The checking engine of validation: a field's expected kind, and the findings of one pass.

:class:`Findings` checks a mapping against a spec of :class:`Field` s and records every problem
with its key path and the layer (file or override) that set it; :mod:`resolver.validate` holds
the specs and builds the data model, :mod:`resolver.edges` checks the graph.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import Problem, Severity, did_you_mean, hidden_char, printable

KeyPath = tuple[str | int, ...]
OriginOf = Callable[[KeyPath], "str | None"]
POSITIVE = 1e-9  # the minimum of a value that must be greater than 0

# What a value of the right kind may still get wrong: (message, hint) when it is bad.
Check = Callable[[Any], "tuple[str, str] | None"]


def masked(value: str) -> str:
    """How a value that may be a secret is shown: a masked prefix and its length, no more."""
    return f"'{value[:3]}***' ({len(value)} characters)" if len(value) > 6 else "'***'"


@dataclass(frozen=True, slots=True)
class Field:
    kind: str  # str | bool | int | number | list (of text) | records (of mappings) | mapping
    # | members (of a group)
    required: bool = False
    nullable: bool = False
    minimum: float | None = None  # inclusive lower bound for numbers
    choices: tuple[str, ...] = ()
    check: Check | None = None
    secret: bool = False  # never echoed: shown masked in every message


KIND_NAMES = {
    "str": "text",
    "bool": "true or false",
    "int": "a whole number",
    "number": "a number",
    "list": "a list",
    "records": "a list of mappings",
    "mapping": "a mapping",
    "members": "a list of provider ids, or a mapping of provider id -> {weight, order}",
}


def render_key(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        if isinstance(part, str):
            part = printable(part)  # a key is config text: it reaches terminals
            text += f".{part}" if text else part
        else:  # a list index, or a key YAML read as something else than text (`yes:`, `~:`)
            text += f"[{part!r}]"
    return text


MISSING = "???"  # OmegaConf's "must be filled in" value


def id_problem(model_id: Any) -> tuple[str, str] | None:
    """Why ``model_id`` cannot be a model id (message, hint), or None when it can."""
    # The usual id, at C speed: printable text holds no whitespace but the plain space, and
    # no hidden character.
    if (
        type(model_id) is str
        and model_id.isprintable()
        and model_id[:1] not in ("", " ")
        and model_id[-1] != " "
        and model_id != MISSING
        and (model_id.isascii() or unicodedata.is_normalized("NFC", model_id))
    ):
        return None
    if isinstance(model_id, bool):
        return "is a boolean", "YAML reads yes/no/on/off/true/false as booleans: quote the id"
    if model_id is None:
        return "is null (`~` or an empty key)", "write the model id"
    if not isinstance(model_id, str):
        kind = "a number" if isinstance(model_id, (int, float)) else f"a {type(model_id).__name__}"
        return f"is {kind}, not text", "quote the id"
    if not model_id.strip():
        return "is empty", "write the model id"
    if model_id != model_id.strip():
        return "has spaces around it", f"write it as {model_id.strip()!r}"
    if any(c.isspace() and c != " " for c in model_id):
        return "has a tab or line break in it", "write the id on one line, with plain spaces"
    if model_id == MISSING:
        return "is ??? (a value to fill in)", "write the model id"
    hidden = hidden_char(model_id)
    if hidden is not None:  # an escape sequence, a bidirectional override, a zero-width space
        return (
            f"holds the control or invisible character U+{ord(hidden):04X}",
            "write the id in plain visible characters",
        )
    if not unicodedata.is_normalized("NFC", model_id):
        # Two ids that differ only so look the same everywhere and match nothing typed.
        return (
            "is not in Unicode's composed form (NFC): an accent is a separate code point, and "
            "the same id typed on a keyboard would not match it",
            "retype the id (or save the file with NFC normalisation)",
        )
    return None


class Findings:
    """The problems of one validation pass, each located by key path and origin."""

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
        bad = id_problem(name)
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
                self.add("wrong-type", f"expected a mapping, got {describe(node)}", path)
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
            elif self.value(value, (*path, key), field):
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
                    hint=f"add {key}: <{KIND_NAMES[field.kind]}>",
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

    def value(self, value: Any, path: KeyPath, field: Field) -> bool:
        """Whether ``value`` is what ``field`` takes; if not, report it at ``path``."""
        if value is None:
            if field.nullable:
                return True
            # A null never means "use the default": `enabled:` left empty would load enabled.
            self.add(
                "missing-field" if field.required else "null-value",
                f"has no value (null); expected {KIND_NAMES[field.kind]}",
                path,
                hint=f"write a value, e.g. {path[-1]}: <{KIND_NAMES[field.kind]}>"
                + ("" if field.required else ", or delete the key to keep the default"),
            )
            return False
        if self.missing(value, path):
            return False
        if not is_kind(value, field.kind):
            hint = None
            if isinstance(value, str) and field.kind in ("number", "int"):
                hint = "write the number without quotes or units"
            shown = f"{type(value).__name__} {masked(str(value))}" if field.secret else None
            self.add(
                "wrong-type",
                f"expected {KIND_NAMES[field.kind]}, got {shown or describe(value)}",
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
            bound = "greater than 0" if field.minimum == POSITIVE else f"at least {field.minimum}"
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


def is_kind(value: Any, kind: str) -> bool:
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
    if kind == "members":
        return isinstance(value, list | dict)  # checked member by member
    return isinstance(value, dict)


def describe(value: Any) -> str:
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, list) and not all(isinstance(v, str) for v in value):
        return f"a list with non-text items {value!r}"
    return f"{type(value).__name__} {value!r}"
