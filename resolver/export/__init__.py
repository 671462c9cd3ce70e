"""Exports: the validated, frozen configuration written in other runtimes' formats.

Each exporter reads a :class:`~resolver.resolve.Resolver` (from ``load`` or a compiled snapshot)
and never composes on its own. What a target cannot express is returned in
:attr:`Export.unsupported` and written at the top of the output, never dropped silently.
"""

from __future__ import annotations

from typing import Literal, get_args

from ..resolve import Resolver
from .common import Export

Format = Literal["litellm", "portkey", "ts", "json-schema"]
FORMATS: tuple[Format, ...] = get_args(Format)

__all__ = ["FORMATS", "Export", "Format", "export"]


def export(r: Resolver, fmt: str) -> Export:
    """``r`` written as ``fmt``: the text and what the target cannot express."""
    # Each writer is imported on use: a service exporting one format loads only that one.
    if fmt == "litellm":
        from .litellm import to_litellm

        return to_litellm(r)
    if fmt == "portkey":
        from .portkey import to_portkey

        return to_portkey(r)
    if fmt == "ts":
        from .typescript import to_typescript

        return to_typescript(r)
    if fmt == "json-schema":
        from .schema import to_json_schema

        return to_json_schema()
    raise ValueError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")
