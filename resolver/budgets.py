"""Spend budgets: at most so many USD per window on a model, a group, a vendor or the env.

A call reserves its estimate (the prompt's size and its ``max_tokens``, or the model's limit)
on every budget covering the deployment before it is sent, settles the real cost from the
response's usage after it, and releases the reservation when it fails. A deployment a budget
has no room for is passed over (class ``budget``), never charged to health. Concurrent calls
can overshoot a budget by at most one call's estimate: the reservation of a call that reports
more tokens than it was estimated at.

Money is kept in micro-USD (integers), spend in 30 slices of the window (a rolling window), and
reservations each with an expiry, so that a process that dies mid-call holds nothing for long.
:class:`Ledger` keeps them in this process; the Redis store keeps a shared one
(:mod:`resolver.redis_health`), one budget for the whole deployment.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import json
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .catalog import BUDGET_SCOPES, BUDGET_WINDOWS, Budget, Group, Policy, Provider
from .fields import Field, Findings, KeyPath

SLICES = 30
MICRO = 1_000_000
RESERVATION_MIN_S = 60.0
"""A reservation outlives its call's timeout by at least this: only a dead process leaves one."""

BUDGET: dict[str, Field] = {
    "amount": Field("number", required=True, minimum=0),
    "window": Field("str", required=True, choices=tuple(BUDGET_WINDOWS)),
    **{scope: Field("bool" if scope == "env" else "str") for scope in BUDGET_SCOPES},
}


# --- configuration ------------------------------------------------------------------------------


def budget_entries(
    node: Mapping[str, Any],
    providers: Mapping[str, Provider],
    groups: Mapping[str, Group],
    find: Findings,
) -> dict[str, Budget]:
    """The ``budgets:`` section checked: each entry names one scope that exists, a finite
    amount above zero and a window."""
    budgets: dict[str, Budget] = {}
    vendors = {p.vendor for p in providers.values()}
    for budget_id, raw in node.items():  # a mapping: the top level's rules checked that
        path: KeyPath = ("budgets", budget_id)
        find.ident(budget_id, path, "budget id")
        fields = find.mapping(raw, path, BUDGET)
        if fields is None or "amount" not in fields or "window" not in fields:
            continue
        if not amount_ok(fields["amount"], (*path, "amount"), find):
            continue
        amount = fields["amount"]
        scopes = [s for s in BUDGET_SCOPES if fields.get(s) not in (None, False)]
        if len(scopes) != 1:
            named = ", ".join(scopes) or "none"
            find.add(
                "budget-scope",
                f"a budget names exactly one of {', '.join(BUDGET_SCOPES)}; this one names {named}",
                path,
                hint="e.g. model: deepseek-r1, group: gpt-4o, vendor: together, or env: true",
            )
            continue
        scope = scopes[0]
        target = None if scope == "env" else str(fields[scope])
        known: Mapping[str, object] = {
            "model": providers,
            "group": groups,
            "vendor": dict.fromkeys(vendors),
            "env": {},
        }[scope]
        if target is not None and target not in known:
            from .errors import did_you_mean

            hint = did_you_mean(target, known)
            find.add(
                "unknown-target",
                f"{scope} {target!r} is not declared",
                (*path, scope),
                hint=hint or f"name a {scope} of the catalog",
            )
            continue
        budgets[budget_id] = Budget(
            id=budget_id, amount=float(amount), window=fields["window"], scope=scope, target=target
        )
    return budgets


def amount_ok(amount: float, path: KeyPath, find: Findings) -> bool:
    """Whether a budget's amount is a finite number of USD above zero (if not, reported)."""
    if amount > 0 and math.isfinite(amount):
        return True
    find.add(
        "bad-value",
        f"amount {amount!r} is not a positive number of USD",
        path,
        hint="give the most this scope may spend per window, e.g. amount: 5.00",
    )
    return False


def budget_warnings(
    budgets: Mapping[str, Budget],
    providers: Mapping[str, Provider],
    groups: Mapping[str, Group],
    chains: Mapping[str, Sequence[str]],
    policy: Policy,
    find: Findings,
) -> None:
    """A budget smaller than one call's estimate (it would refuse every call), and a chain
    whose every model a budget covers (when it is spent, nothing is left to fall back to)."""
    for budget in budgets.values():
        covered = [p for p in providers.values() if p.enabled and budget.covers(p, groups)]
        if not covered:
            continue
        largest = max(covered, key=lambda p: call_estimate(p, 0, None, policy))
        estimate = call_estimate(largest, policy.cost.prompt_tokens, None, policy) / MICRO
        if budget.amount < estimate:
            find.add(
                "budget-too-small",
                f"{budget.amount:g} USD is less than one call's estimate on {largest.id} "
                f"({estimate:.4f} USD: {policy.cost.prompt_tokens} prompt tokens and "
                f"{largest.max_tokens or policy.budget.completion_tokens} completion tokens): "
                "it would pass over every call",
                ("budgets", budget.id, "amount"),
                hint="raise the amount, or set the model's max_tokens so calls estimate smaller",
                severity="warning",
            )
        for source, chain in chains.items():
            members = [source, *chain]
            if chain and all(
                budget.covers(providers[m], groups) for m in members if m in providers
            ):
                find.add(
                    "budget-no-headroom",
                    f"budget {budget.id} covers {source} and every backup of it "
                    f"({', '.join(chain)}): once it is spent, nothing is left to fall back to",
                    ("budgets", budget.id),
                    hint="give the chain a backup outside this budget, or accept that calls "
                    "fail once it is spent",
                    severity="warning",
                )


# --- estimates ---------------------------------------------------------------------------------

Size = tuple[int, int | None]
"""A request's prompt tokens (estimated) and the completion tokens it asks for at most."""

request_size: contextvars.ContextVar[Size | None] = contextvars.ContextVar(
    "resolver_request_size", default=None
)
"""The size of the request the calls of this context make (set by chat and achat)."""


@contextlib.contextmanager
def sizing(
    budgets: Mapping[str, Budget], messages: Sequence[Any], params: Mapping[str, Any]
) -> Iterator[None]:
    """Within the block, calls know their request's size (only when there are ``budgets`` to
    estimate for: otherwise nothing is measured)."""
    token = request_size.set(sized(messages, params)) if budgets else None
    try:
        yield
    finally:
        if token is not None:
            request_size.reset(token)


def sized(messages: Sequence[Any], params: Mapping[str, Any]) -> Size:
    """How large a chat request is: the prompt's tokens, estimated at 3 characters a token (on
    the high side), and the ``max_tokens`` it asks for."""
    text = json.dumps(list(messages), ensure_ascii=False, default=str)
    wanted = params.get("max_completion_tokens", params.get("max_tokens"))
    limit = wanted if isinstance(wanted, int) and not isinstance(wanted, bool) else None
    return len(text) // 3 + 1, limit


def call_estimate(
    provider: Provider, prompt_tokens: int, max_tokens: int | None, policy: Policy
) -> int:
    """Micro-USD a call may cost at most: its prompt, and its completion limit (its own
    ``max_tokens``, else the model's, else ``policy.budget.completion_tokens``)."""
    completion = max_tokens or provider.max_tokens or policy.budget.completion_tokens
    return math.ceil(provider.pricing.cost(prompt_tokens, completion) * MICRO)


def estimate_for(provider: Provider, policy: Policy, size: Size | None) -> int:
    """The estimate of a call of ``size`` (None: unknown, the policy's reference prompt)."""
    prompt, limit = size if size is not None else (policy.cost.prompt_tokens, None)
    return call_estimate(provider, prompt, limit, policy)


def actual_cost(provider: Provider, value: object) -> int | None:
    """Micro-USD a response's usage says the call cost (None: it reported no usage)."""
    prompt = getattr(value, "prompt_tokens", None)
    completion = getattr(value, "completion_tokens", None)
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return round(provider.pricing.cost(prompt, completion) * MICRO)


# --- the ledger ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    """A budget's state now: spent over its window, reserved by calls in flight, and left."""

    budget: Budget
    spent: float
    reserved: float

    @property
    def left(self) -> float:
        return max(0.0, self.budget.amount - self.spent - self.reserved)


@dataclass(frozen=True, slots=True)
class Hold:
    """What one attempt reserved: the budgets and the amount (micro-USD), under ``key``."""

    key: str
    budgets: tuple[Budget, ...]
    amount: int
    shared: bool = False
    """Held on a shared store (else in this process's ledger)."""


_ids = itertools.count(1)


def slice_of(budget: Budget, now: float) -> int:
    return int(now // (BUDGET_WINDOWS[budget.window] / SLICES))


class Ledger:
    """Spend and reservations of every budget, in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spent: dict[str, dict[int, int]] = {}  # budget id -> slice -> micro-USD
        self._held: dict[str, dict[str, tuple[int, float]]] = {}  # id -> key -> (amount, until)
        self.assumed_spent: frozenset[str] = frozenset()
        """Budgets treated as spent (``--assume-spent``): nothing is reserved on them."""

    def reserve(self, budgets: Sequence[Budget], amount: int, hold_s: float) -> Hold | Budget:
        """Reserve ``amount`` on every one of ``budgets`` at once, or none: the first budget
        without room for it is returned instead."""
        now = time.time()
        key = f"{id(self)}:{next(_ids)}"
        with self._lock:
            for budget in budgets:
                if budget.id in self.assumed_spent:
                    return budget
                spent, held = self._totals(budget, now)
                if spent + held + amount > budget.amount * MICRO:
                    return budget
            for budget in budgets:
                self._held.setdefault(budget.id, {})[key] = (amount, now + hold_s)
        return Hold(key, tuple(budgets), amount)

    async def areserve(
        self, budgets: Sequence[Budget], amount: int, hold_s: float
    ) -> Hold | Budget:
        """:meth:`reserve` for the async loops (a shared ledger's is a round trip)."""
        return self.reserve(budgets, amount, hold_s)

    def settle(self, hold: Hold, cost: int | None) -> None:
        """The call answered: its reservation becomes its cost (the estimate when the response
        reported no usage)."""
        now = time.time()
        with self._lock:
            for budget in hold.budgets:
                self._held.get(budget.id, {}).pop(hold.key, None)
                slices = self._spent.setdefault(budget.id, {})
                at = slice_of(budget, now)
                slices[at] = slices.get(at, 0) + (hold.amount if cost is None else cost)

    def release(self, hold: Hold) -> None:
        """The call failed or was never sent: its reservation is given back."""
        with self._lock:
            for budget in hold.budgets:
                self._held.get(budget.id, {}).pop(hold.key, None)

    def blocked(self, budgets: Sequence[Budget], amount: int) -> Budget | None:
        """The first of ``budgets`` without room for ``amount`` now (nothing is reserved)."""
        for budget in budgets:
            if budget.id in self.assumed_spent or self.usage(budget).left * MICRO < amount:
                return budget
        return None

    def why(self, budget: Budget) -> str:
        """Why ``budget`` refused a reservation, for the skip it causes."""
        if budget.id in self.assumed_spent:
            return f"budget {budget.describe()} is assumed spent (--assume-spent)"
        usage = self.usage(budget)
        return (
            f"budget {budget.describe()} has no room: {usage.spent:.4f} spent and "
            f"{usage.reserved:.4f} held this {budget.window}"
        )

    def usage(self, budget: Budget) -> Usage:
        with self._lock:
            spent, held = self._totals(budget, time.time())
        return Usage(budget, spent / MICRO, held / MICRO)

    def _totals(self, budget: Budget, now: float) -> tuple[int, int]:
        """Micro-USD spent over the window and held now; what has aged out is dropped."""
        first = slice_of(budget, now) - SLICES + 1
        slices = self._spent.get(budget.id, {})
        for old in [s for s in slices if s < first]:
            del slices[old]
        held = self._held.get(budget.id, {})
        for gone in [k for k, (_, until) in held.items() if until <= now]:
            del held[gone]
        return sum(slices.values()), sum(amount for amount, _ in held.values())


def hold_seconds(provider: Provider, deadline_left: float | None) -> float:
    """How long a reservation may stand: past its call's end, only if its process died."""
    longest = provider.timeout_s
    if deadline_left is not None:
        longest = min(longest, deadline_left)
    return max(RESERVATION_MIN_S, 2 * longest)
