"""Budgets shared on the Redis of a :class:`~resolver.redis_health.RedisHealthStore`: one budget
for every worker and host of a deployment, the way a finance team reads it.

Each budget is a hash of spend per slice of its window (``resolver:budget:<namespace>:<id>``)
and a sorted set of reservations scored by their expiry (``...:held``). Reserving checks and
holds every covering budget in one script, so concurrent calls anywhere overshoot by at most
one call's estimate. The server's clock is used throughout, never a host's.

While Redis does not answer, ``policy.budget.on_store_down`` decides: ``fail_open`` keeps
counting in this process (the store logs the outage once), ``fail_closed`` passes over every
deployment a budget covers.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from .budgets import SLICES, Hold, Ledger, Usage
from .catalog import BUDGET_WINDOWS, Budget, BudgetPolicy
from .redis_health import _NOW

if TYPE_CHECKING:
    from .redis_health import RedisHealthStore

BUDGET_PREFIX = "resolver:budget"

# The spend of budget i (KEYS[i]) over its window, and what its live reservations hold.
# ARGV[offset + 2i - 1]: the budget's slice (ms); expired slices and holds are dropped.
_TOTALS = f"""
local function totals(i, slice)
  local first = math.floor(now / slice) - {SLICES - 1}
  local spent = 0
  local fields = redis.call('HGETALL', KEYS[i])
  for j = 1, #fields, 2 do
    if tonumber(fields[j]) < first then
      redis.call('HDEL', KEYS[i], fields[j])
    else
      spent = spent + tonumber(fields[j + 1])
    end
  end
  local held_key = KEYS[i] .. ':held'
  redis.call('ZREMRANGEBYSCORE', held_key, '-inf', now)
  local held = 0
  for _, member in ipairs(redis.call('ZRANGE', held_key, 0, -1)) do
    held = held + tonumber(string.match(member, ':(%d+)$'))
  end
  return spent, held
end
"""

# 0 when reserved on every budget; else the number of the first budget without room.
# ARGV: amount (micro-USD), hold (ms), the hold's member; then per budget its limit and slice.
_RESERVE = (
    _NOW
    + _TOTALS
    + """
local amount, hold, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i = 1, #KEYS do
  local spent, held = totals(i, tonumber(ARGV[3 + 2 * i]))
  if spent + held + amount > tonumber(ARGV[2 + 2 * i]) then return i end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i] .. ':held', now + hold, member)
  redis.call('PEXPIRE', KEYS[i] .. ':held', 2 * hold)
end
return 0
"""
)

# ARGV: the hold's member, its cost (-1: release it, nothing spent); then per budget its slice
# and window (ms).
_SETTLE = (
    _NOW
    + """
local member, cost = ARGV[1], tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZREM', KEYS[i] .. ':held', member)
  if cost >= 0 then
    local slice = tonumber(ARGV[1 + 2 * i])
    redis.call('HINCRBY', KEYS[i], math.floor(now / slice), cost)
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 + 2 * i]) + slice)
  end
end
return 1
"""
)

# {spent, held} of KEYS[1]; ARGV[1]: its slice (ms).
_USAGE = (
    _NOW
    + _TOTALS
    + """
local spent, held = totals(1, tonumber(ARGV[1]))
return {spent, held}
"""
)

_SCRIPTS = {"reserve": _RESERVE, "settle": _SETTLE, "usage": _USAGE}


def _slice_ms(budget: Budget) -> int:
    return BUDGET_WINDOWS[budget.window] * 1000 // SLICES


class SharedLedger(Ledger):
    """Budgets kept on the store's Redis; in this process while it is down and the policy
    says ``fail_open``."""

    def __init__(self, store: RedisHealthStore, policy: BudgetPolicy) -> None:
        super().__init__()
        self._store = store
        self._policy = policy
        self._scripts = {n: store._client.register_script(t) for n, t in _SCRIPTS.items()}
        self._ascripts: dict[Any, dict[str, Any]] = {}
        self._pending: set[asyncio.Task[None]] = set()  # settles under way, kept from the GC
        # What was spent in this process while Redis was away (fail_open): added to the shared
        # spend once Redis answers again, so that an outage loses none of it.
        self._unsynced: list[tuple[tuple[Budget, ...], int]] = []
        self.closed = False
        """The last reservation was refused because Redis did not answer (fail_closed)."""

    def key(self, budget: Budget) -> str:
        return f"{BUDGET_PREFIX}:{self._store.namespace}:{budget.id}"

    # --- reserve ----------------------------------------------------------------------------

    def _reserve_args(
        self, budgets: Sequence[Budget], amount: int, hold_s: float
    ) -> tuple[list[str], list[int | str]]:
        args: list[int | str] = [amount, max(1, round(hold_s * 1000)), f"{_token()}:{amount}"]
        for budget in budgets:
            args += [round(budget.amount * 1_000_000), _slice_ms(budget)]
        return [self.key(b) for b in budgets], args

    def _outcome(
        self, budgets: Sequence[Budget], amount: int, args: list[int | str], reply: Any
    ) -> Hold | Budget:
        while self._unsynced:  # Redis answers again
            spent_on, cost = self._unsynced.pop()
            self._end(Hold("-", spent_on, cost, shared=True), cost)
        refused = int(reply)
        if refused:
            return budgets[refused - 1]
        return Hold(str(args[2]), tuple(budgets), amount, shared=True)

    def reserve(self, budgets: Sequence[Budget], amount: int, hold_s: float) -> Hold | Budget:
        for budget in budgets:
            if budget.id in self.assumed_spent:
                return budget
        keys, args = self._reserve_args(budgets, amount, hold_s)
        return self._store._sync(
            lambda: self._outcome(budgets, amount, args, self._scripts["reserve"](keys, args)),
            lambda: self._down(budgets, amount, hold_s),
        )

    async def areserve(
        self, budgets: Sequence[Budget], amount: int, hold_s: float
    ) -> Hold | Budget:
        for budget in budgets:
            if budget.id in self.assumed_spent:
                return budget
        keys, args = self._reserve_args(budgets, amount, hold_s)

        async def shared() -> Hold | Budget:
            reply = await self._ascript("reserve")(keys, args)
            return self._outcome(budgets, amount, args, reply)

        return await self._store._async(shared, lambda: self._down(budgets, amount, hold_s))

    def _down(self, budgets: Sequence[Budget], amount: int, hold_s: float) -> Hold | Budget:
        """Redis did not answer: reserve in this process, or refuse (fail_closed)."""
        if self._policy.on_store_down == "fail_closed":
            self.closed = True
            return budgets[0]
        self.closed = False
        return super().reserve(budgets, amount, hold_s)

    def why(self, budget: Budget) -> str:
        if self.closed:
            return (
                f"budget {budget.describe()} cannot be checked: its store "
                f"{self._store.url} does not answer (policy.budget.on_store_down: fail_closed)"
            )
        return super().why(budget)

    # --- settle and release ---------------------------------------------------------------------

    def settle(self, hold: Hold, cost: int | None) -> None:
        if not hold.shared:
            super().settle(hold, cost)
            self._unsynced.append((hold.budgets, hold.amount if cost is None else cost))
            return
        self._end(hold, hold.amount if cost is None else cost)

    def release(self, hold: Hold) -> None:
        if not hold.shared:
            super().release(hold)
            return
        self._end(hold, -1)

    def _end(self, hold: Hold, cost: int) -> None:
        keys = [self.key(b) for b in hold.budgets]
        args: list[int | str] = [hold.key, cost]
        for budget in hold.budgets:
            args += [_slice_ms(budget), BUDGET_WINDOWS[budget.window] * 1000]

        def later() -> None:
            # Redis is away: the hold expires there by itself, and what was spent is added
            # once it answers again.
            if cost > 0:
                self._unsynced.append((hold.budgets, cost))

        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no event loop: a plain round trip
            self._store._sync(lambda: self._scripts["settle"](keys, args), later)
            return

        async def shared() -> None:
            await self._ascript("settle")(keys, args)

        async def end() -> None:
            await self._store._async(shared, later)

        # Called from a call's outcome, inside the loop: sent after the answer, not before it.
        task = asyncio.get_running_loop().create_task(end())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # --- reading --------------------------------------------------------------------------------

    def usage(self, budget: Budget) -> Usage:
        def shared() -> Usage:
            spent, held = self._scripts["usage"]([self.key(budget)], [_slice_ms(budget)])
            return Usage(budget, int(spent) / 1_000_000, int(held) / 1_000_000)

        return self._store._sync(shared, lambda: super(SharedLedger, self).usage(budget))

    async def settled(self) -> None:
        """Wait for the settles and releases sent from this loop (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*self._pending)

    def _ascript(self, name: str) -> Callable[[list[str], list[Any]], Awaitable[Any]]:
        client, _ = self._store._aclient_scripts()
        scripts = self._ascripts.get(client)
        if scripts is None:
            scripts = self._ascripts[client] = {
                n: client.register_script(t) for n, t in _SCRIPTS.items()
            }
        return scripts[name]  # type: ignore[no-any-return]


def _token() -> str:
    return secrets.token_hex(8)
