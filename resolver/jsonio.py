"""JSON on the call paths (request bodies, vendors' answers, stream events, the gateway's
answers and log lines), read and written by the rules of Python's json module.

orjson, which the gateway extra installs, does the usual document several times faster; what it
reads or writes differently from json goes to json, so that the choice never changes a value.
Without orjson, json does everything.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # the core install: the json module alone
    orjson = None  # type: ignore[assignment]

# Dataclasses and dates go to json, which refuses them (orjson would write them). Subclasses
# of str, int, dict and list orjson writes as json does (an IntEnum as its number).
_AS_JSON = (
    0 if orjson is None else orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
)

# Every digit as "0", anything else as a space: a run of 19 digits is then one substring search
# (about 1 us for a 500-byte answer, where a regular expression takes 7).
_DIGITS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_LONG_RUN = b"0" * 19


def loads(data: bytes) -> Any:
    """``data`` read as ``json.loads`` reads it: ValueError for what is not JSON,
    RecursionError for a document nested too deep. What orjson refuses and json takes (NaN,
    Infinity, lone surrogates, UTF-16 and UTF-32) goes to json, and so does a document with
    a run of 19 digits or more: orjson reads an integer beyond 64 bits as a float, silently
    losing its last digits."""
    if orjson is not None and _LONG_RUN not in data.translate(_DIGITS):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def dumps(data: Any) -> bytes:
    """``data`` as compact JSON, for our own answers and lines. What orjson cannot write (an
    integer beyond 64 bits, nesting past its limit) is written by json, as a vendor's answer
    may hold it; NaN and Infinity come out as ``null``, as orjson writes them."""
    if orjson is not None:
        try:
            return orjson.dumps(data)
        except TypeError:
            pass
    return json.dumps(data, separators=(",", ":")).encode()


def dumps_request(data: Any) -> bytes:
    """``data`` as ``json.dumps`` writes it, to be sent on: a NaN or Infinity the caller put in
    a parameter reaches the vendor as json writes it (and is refused there), never quietly
    turned into ``null``. orjson writes both as ``null``, so a document in which it wrote a
    ``null`` is written again by json: the rare case, as chat requests seldom hold one. Types
    json refuses stay refused (TypeError), save the two orjson writes natively, UUID and Enum,
    which are written as their value."""
    if orjson is not None:
        try:
            written = orjson.dumps(data, option=_AS_JSON)
        except TypeError:
            pass
        else:
            if b"null" not in written:
                return written
    return json.dumps(data, separators=(",", ":")).encode()
