"""The JSON of the call paths reads and writes by json's rules, whichever library does the work."""

from __future__ import annotations

import datetime
import enum
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resolver import jsonio

# Values json reads and writes, with what orjson treats differently: NaN and the infinities,
# integers beyond 64 bits, lone surrogates, non-ASCII text, integer keys.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(["\ud800", "x\udfffy", "null", "é", "\u2028"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6) | st.integers(-3, 3), inner, max_size=4)
    ),
    max_leaves=20,
)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@given(values)
def test_a_request_is_written_as_json_writes_it(value: Any) -> None:
    """What goes to a vendor reads back as json.dumps's text of the same parameters: a NaN a
    caller passed stays NaN (refused by the vendor), never turned into null."""
    assert same(json.loads(jsonio.dumps_request(value)), json.loads(json.dumps(value)))


@given(values)
def test_a_document_is_read_as_json_reads_it(value: Any) -> None:
    """A vendor's answer or a client's body reads as json.loads reads the same bytes,
    NaN, big integers and lone surrogates included."""
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        data = text.encode("utf-8", "surrogatepass")
        try:
            expected = json.loads(data)
        except ValueError as refused:
            with pytest.raises(type(refused)):
                jsonio.loads(data)
            continue
        assert same(jsonio.loads(data), expected)


@given(st.binary(max_size=40) | st.text(max_size=40).map(str.encode))
def test_what_json_refuses_is_refused(data: bytes) -> None:
    """Bytes json refuses raise json's own error, and bytes it reads give its value."""
    try:
        expected = json.loads(data)
    except ValueError as refused:
        with pytest.raises(type(refused)):
            jsonio.loads(data)
    else:
        assert same(jsonio.loads(data), expected)


def test_too_deep_is_a_recursion_error() -> None:
    """A document nested past json's recursion raises RecursionError, as json does (the
    gateway answers it with a 400)."""
    with pytest.raises(RecursionError):
        jsonio.loads(b"[" * 100_000 + b"]" * 100_000)


class Level(enum.IntEnum):
    LOW = 1


class Kind(enum.StrEnum):
    CHAT = "chat"


class Extra(dict[str, int]):
    pass


@pytest.mark.parametrize(
    "value",
    [{"when": datetime.date(2026, 1, 2)}, {"when": datetime.datetime(2026, 1, 2)}, {b"k": 1}],
)
def test_types_json_refuses_stay_refused(value: Any) -> None:
    """A parameter json cannot write fails as json fails, before anything is sent."""
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        jsonio.dumps_request(value)


def test_subclasses_are_written_as_json_writes_them() -> None:
    """An IntEnum, a StrEnum and a dict subclass are written as json writes them."""
    value = {"level": Level.LOW, "kind": Kind.CHAT, "extra": Extra(a=1)}
    assert jsonio.dumps_request(value) == json.dumps(value, separators=(",", ":")).encode()
