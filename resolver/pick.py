"""Picking a member of a group: the strategies, and the load they read.

A group's members are ranked tier by tier (``order``, lower first, unnumbered last); within a
tier by the group's strategy:

- ``ordered``: declaration order;
- ``weighted``: a weighted random order, so that the first member is each one's share of calls
  (weight over the tier's total) and the rest follow in a weighted order too;
- ``least-busy``: fewest calls in flight in this process first, ties broken at random (always
  breaking them the same way is what unbalances LiteLLM's, #37622);
- ``latency``: lowest moving average of the member's latency first (time to first token for
  streams); a member with no sample yet goes first, so that it gets one.

:class:`Load` is the runtime state the last two read: the executor counts calls in flight and
reports each served call's latency.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping, Sequence
from itertools import accumulate

from .catalog import Group, Member, Provider, Strategy

__all__ = ["LATENCY_ALPHA", "Draw", "Load", "Tiers", "rank"]

# A group's first tier ready for one pick: (deployments, cumulative weights or () for "take
# the first", total weight).
Draw = tuple[tuple[Provider, ...], tuple[float, ...], float]

LATENCY_ALPHA = 0.3
"""Weight of the newest sample in a member's latency average: a slow spell shows within a few
calls, and one slow call does not move a member to the back."""

_random = random.random


class Load:
    """Calls in flight and a latency moving average per provider id, in this process."""

    __slots__ = ("_latency", "_lock", "in_flight")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        self._latency: dict[str, float] = {}

    def started(self, provider_id: str) -> None:
        with self._lock:
            self.in_flight[provider_id] = self.in_flight.get(provider_id, 0) + 1

    def ended(self, provider_id: str) -> None:
        with self._lock:
            left = self.in_flight.get(provider_id, 0) - 1
            if left > 0:
                self.in_flight[provider_id] = left
            else:
                self.in_flight.pop(provider_id, None)

    def observe(self, provider_id: str, seconds: float) -> None:
        """A served call's latency (or time to first token) on ``provider_id``."""
        with self._lock:
            old = self._latency.get(provider_id)
            self._latency[provider_id] = (
                seconds if old is None else old + LATENCY_ALPHA * (seconds - old)
            )

    def latency(self, provider_id: str) -> float | None:
        return self._latency.get(provider_id)


class Tiers:
    """A group's members split into tiers by ``order``, with what a weighted pick needs."""

    __slots__ = ("cumulative", "group", "static", "tiers", "totals")

    def __init__(self, group: Group) -> None:
        self.group = group
        by_order: dict[float, list[Member]] = {}
        for member in group.members:
            key = float("inf") if member.order is None else float(member.order)
            by_order.setdefault(key, []).append(member)
        self.tiers: tuple[tuple[Member, ...], ...] = tuple(
            tuple(members) for _, members in sorted(by_order.items())
        )
        self.cumulative = tuple(tuple(accumulate(m.weight for m in t)) for t in self.tiers)
        self.totals = tuple(c[-1] for c in self.cumulative)
        self.static: tuple[Member, ...] = tuple(m for tier in self.tiers for m in tier)
        """Every member, tier by tier, in declaration order within a tier."""

    def draw(self, providers: Mapping[str, Provider]) -> Draw | None:
        """What one pick needs when every member of the first tier is usable: its deployments,
        and (``weighted``) their cumulative weights ending in infinity, so that a uniform draw
        below the total lands on one of them with a single bisect. None when a pick must rank
        (``least-busy``, ``latency``) or a member of the first tier is disabled."""
        tier = self.tiers[0]
        deployments = tuple(providers[m.id] for m in tier)
        if not all(p.enabled for p in deployments):
            return None
        if len(tier) == 1 or self.group.strategy == "ordered":
            return deployments, (), 0.0
        if self.group.strategy != "weighted":
            return None
        return deployments, (*self.cumulative[0][:-1], math.inf), self.totals[0]

    def share(self, member: Member) -> float:
        """``weighted``: the member's share of the calls its tier takes."""
        for tier, total in zip(self.tiers, self.totals, strict=True):
            if member in tier:
                return member.weight / total if total else 0.0
        return 0.0


def rank(tiers: Tiers, load: Load) -> list[Member]:
    """Every member in the order a call tries them now."""
    strategy: Strategy = tiers.group.strategy
    ranked: list[Member] = []
    for tier in tiers.tiers:
        ranked += _order(tier, strategy, load)
    return ranked


def _order(tier: Sequence[Member], strategy: Strategy, load: Load) -> list[Member]:
    if len(tier) == 1 or strategy == "ordered":
        return list(tier)
    if strategy == "weighted":
        # Efraimidis-Spirakis: sorting by u ** (1 / w) draws without replacement in
        # proportion to the weights; a weight of 0 goes last.
        return sorted(
            tier,
            key=lambda m: _random() ** (1.0 / m.weight) if m.weight > 0 else -1.0,
            reverse=True,
        )
    if strategy == "least-busy":
        busy = load.in_flight
        return sorted(tier, key=lambda m: (busy.get(m.id, 0), _random()))
    return sorted(tier, key=lambda m: (load.latency(m.id) or 0.0, _random()))
