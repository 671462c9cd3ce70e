"""What-if: the routing as it would be under outages, missing keys and spent budgets, before an
incident and offline. No call is made and no state is changed: the resolver returned reads the
real health and spend, and sees the assumed ones on top (``explain`` and ``table`` take
``--assume-down ID``, ``--assume-unset VAR`` and ``--assume-spent BUDGET``)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence

from .budgets import Hold, Ledger, Usage
from .catalog import Budget
from .errors import did_you_mean
from .health import AsyncTwins, HealthState, HealthStore, Permit
from .resolve import Resolver

ASSUMED = "assumed down (--assume-down)"


class _AssumedHealth(AsyncTwins):
    """The real health, with ``down`` out of rotation; it records nothing."""

    def __init__(self, base: HealthStore, down: frozenset[str], r: Resolver) -> None:
        self._base = base
        self._down = down
        self.policy = policy = r.policy.health
        self._out = (policy.failure_threshold, policy.cooldown_s)
        self.all_in_rotation = base.all_in_rotation and not down

    def state(self, provider_id: str) -> HealthState:
        if provider_id in self._down:
            failures, cooldown = self._out
            return HealthState(provider_id, failures, cooldown, ASSUMED)
        return self._base.state(provider_id)

    def in_rotation(self, provider_id: str) -> bool:
        return provider_id not in self._down and self._base.in_rotation(provider_id)

    def acquire(self, provider_id: str) -> Permit:
        return "ok" if self.in_rotation(provider_id) else "out"

    def record_success(self, provider_id: str) -> None:
        pass

    def record_failure(self, provider_id: str, error_class: str, detail: str = "") -> HealthState:
        return self.state(provider_id)

    def reset(self, provider_id: str | None = None) -> None:
        pass


class _AssumedLedger(Ledger):
    """The real spend, with ``spent`` budgets full; it reserves nothing."""

    def __init__(self, base: Ledger, spent: frozenset[str]) -> None:
        super().__init__()
        self._base = base
        self.assumed_spent = spent

    def usage(self, budget: Budget) -> Usage:
        return self._base.usage(budget)

    def reserve(self, budgets: Sequence[Budget], amount: int, hold_s: float) -> Hold | Budget:
        raise TypeError("a what-if resolver is for explain and table: it makes no call")


def assuming(
    r: Resolver,
    *,
    down: Iterable[str] = (),
    unset: Iterable[str] = (),
    spent: Iterable[str] = (),
    environ: Mapping[str, str],
) -> tuple[Resolver, dict[str, str]]:
    """``r`` as it would route with the models (or groups' members) ``down`` out of rotation,
    the key variables ``unset`` missing from ``environ`` and the budgets ``spent`` full: a
    resolver for explaining, and the environment to explain with. Raises ValueError naming
    every id that is not ``r``'s, with what is."""
    down, unset, spent = list(down), list(unset), list(spent)
    variables = {p.api_key_env for p in r.providers.values() if p.api_key_env}
    problems = [
        *_unknown("--assume-down", down, r.nodes, "a model or group id"),
        *_unknown("--assume-unset", unset, variables, "a key variable the catalog reads"),
        *_unknown("--assume-spent", spent, r.budgets, "a budget id (budgets:)"),
    ]
    if problems:
        raise ValueError("; ".join(problems))
    members = {m.id for d in down for m in r.members(d)}
    twin = copy.copy(r)
    twin.health = _AssumedHealth(r.health, frozenset(members), r)
    twin.ledger = _AssumedLedger(r.ledger, frozenset(spent))
    return twin, {k: v for k, v in environ.items() if k not in set(unset)}


def _unknown(flag: str, given: list[str], known: Iterable[str], what: str) -> list[str]:
    names = set(known)
    out = []
    for name in given:
        if name not in names:
            hint = did_you_mean(name, names)
            out.append(f"{flag} {name!r} is not {what}" + (f"; {hint}" if hint else ""))
    return out
