"""Counting what happened to calls, per requested model, in one consistent snapshot."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

End = Literal["primary", "fallback", "exhausted", "failed"]


@dataclass(frozen=True, slots=True)
class ModelStats:
    """Calls that asked for one model, by how they ended.

    ``calls == served_by_primary + sum(served_by_fallback.values()) + exhausted + failed``;
    ``failed`` counts calls ended by an error that does not fall back (e.g. a bad request).
    """

    model_id: str
    calls: int = 0
    served_by_primary: int = 0
    served_by_fallback: MappingProxyType[str, int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    exhausted: int = 0
    failed: int = 0
    served_by_member: MappingProxyType[str, int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """``served_by_primary`` by deployment: for a group, each of its members that served; for a
    provider in no group, itself."""

    @property
    def fallback_rate(self) -> float:
        """The share of calls a backup served."""
        return sum(self.served_by_fallback.values()) / self.calls if self.calls else 0.0


class StatsByModel(dict[str, ModelStats]):
    """Per requested model; a declared model never called reads as zero calls, not a
    KeyError (an undeclared id still is one)."""

    def __init__(self, counted: dict[str, ModelStats], declared: Collection[str]) -> None:
        super().__init__(counted)
        self._declared = declared

    def __missing__(self, model_id: str) -> ModelStats:
        if model_id in self._declared:
            return ModelStats(model_id)
        raise KeyError(f"{model_id!r} is not a declared model")


class CallStats:
    """Thread-safe counters fed by the executor at the end of each call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ends: Counter[tuple[str, End, str]] = Counter()

    def record(self, requested: str, end: End, served_by: str = "") -> None:
        with self._lock:
            self._ends[(requested, end, served_by)] += 1

    def snapshot(self) -> dict[str, ModelStats]:
        with self._lock:
            ends = dict(self._ends)
        counts: dict[str, dict[str, int]] = {}
        fallbacks: dict[str, dict[str, int]] = {}
        members: dict[str, dict[str, int]] = {}
        for (requested, end, served_by), n in ends.items():
            row = counts.setdefault(requested, {})
            row[end] = row.get(end, 0) + n
            if end in ("fallback", "primary"):
                by = (fallbacks if end == "fallback" else members).setdefault(requested, {})
                by[served_by] = by.get(served_by, 0) + n
        return {
            model: ModelStats(
                model,
                calls=sum(row.values()),
                served_by_primary=row.get("primary", 0),
                served_by_fallback=MappingProxyType(dict(sorted(fallbacks.get(model, {}).items()))),
                exhausted=row.get("exhausted", 0),
                failed=row.get("failed", 0),
                served_by_member=MappingProxyType(dict(sorted(members.get(model, {}).items()))),
            )
            for model, row in sorted(counts.items())
        }

    def reset(self) -> None:
        with self._lock:
            self._ends.clear()
