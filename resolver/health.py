"""Model health: take a provider out of rotation after consecutive failures, probe it back.

A circuit breaker per provider. ``failure_threshold`` consecutive failures of the classes that
count open it for ``cooldown_s``; when the cooldown is over one caller gets a probe (half-open)
and everyone else still sees it out; the probe's success closes it, its failure opens it again
for a longer cooldown (times ``backoff``, at most ``max_cooldown_s``). A probe whose caller never
reports back lapses after ``cooldown_s``, so a crashed worker cannot hold it for ever.

State lives behind :class:`HealthStore`; :class:`MemoryHealthStore` keeps it in this process
(thread-safe, and asyncio-safe since no method awaits);
:class:`resolver.redis_health.RedisHealthStore` shares it between processes on Redis
(``policy.health.store: redis``); :func:`resolver.stores.store_for` picks one from the policy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from .catalog import HealthPolicy

Permit = Literal["ok", "probe", "out"]
HealthStatus = Literal["in rotation", "out", "probing"]


OUT_OF_ROTATION = "out of rotation"
"""How :meth:`HealthState.describe` begins for a provider health keeps out: a skip's reason
that begins so was health's doing."""


@dataclass(frozen=True, slots=True)
class HealthState:
    """One provider's health at one moment."""

    provider_id: str
    failures: int = 0
    """Consecutive counted failures since the last success."""
    out_for_s: float = 0.0
    """Seconds until it may be tried again; 0 when in rotation."""
    last_error: str | None = None
    probing: bool = False

    @property
    def in_rotation(self) -> bool:
        return self.out_for_s <= 0

    @property
    def status(self) -> HealthStatus:
        """One word for the state: ``in rotation``, ``out``, or ``probing`` (out while the
        one probe after its cooldown is in flight)."""
        if self.in_rotation:
            return "in rotation"
        return "probing" if self.probing else "out"

    def describe(self) -> str:
        if self.in_rotation:
            return "in rotation" + (
                f" ({self.failures} failure(s) in a row)" if self.failures else ""
            )
        what = "probe in flight" if self.probing else f"after {self.failures} failures"
        return f"{OUT_OF_ROTATION} for {self.out_for_s:.0f} s {what} (last: {self.last_error})"


class HealthStore(Protocol):
    """Where health is kept. Every method is one atomic step, so a shared store can run it as
    a single server-side script."""

    policy: HealthPolicy
    all_in_rotation: bool
    """True only when no provider can be out of rotation, so that lookups skip asking each
    one (False: ask :meth:`in_rotation`). A store that cannot tell cheaply keeps it False."""

    def state(self, provider_id: str) -> HealthState: ...

    def in_rotation(self, provider_id: str) -> bool:
        """Whether a lookup may offer this provider now; takes no probe."""
        ...

    def acquire(self, provider_id: str) -> Permit:
        """Whether a call may go to this provider now: ``ok``, ``probe`` (this caller is the one
        probe after a cooldown) or ``out``."""
        ...

    def record_success(self, provider_id: str) -> None: ...

    def record_failure(
        self, provider_id: str, error_class: str, detail: str = ""
    ) -> HealthState: ...

    def reset(self, provider_id: str | None = None) -> None:
        """Put one provider (or every provider) back in rotation."""
        ...

    # Async twins, used by the asyncio executor, so that a store doing network I/O never
    # blocks the event loop. Stores that never block get them from :class:`AsyncTwins`.

    async def astate(self, provider_id: str) -> HealthState: ...

    async def ain_rotation(self, provider_id: str) -> bool: ...

    async def aacquire(self, provider_id: str) -> Permit: ...

    async def arecord_success(self, provider_id: str) -> None: ...

    async def arecord_failure(
        self, provider_id: str, error_class: str, detail: str = ""
    ) -> HealthState: ...


class AsyncTwins:
    """The async methods of :class:`HealthStore` for a store whose sync methods never block:
    each one calls its sync twin."""

    all_in_rotation: bool = False

    def state(self, provider_id: str) -> HealthState:
        raise NotImplementedError

    def in_rotation(self, provider_id: str) -> bool:
        raise NotImplementedError

    def acquire(self, provider_id: str) -> Permit:
        raise NotImplementedError

    def record_success(self, provider_id: str) -> None:
        raise NotImplementedError

    def record_failure(self, provider_id: str, error_class: str, detail: str = "") -> HealthState:
        raise NotImplementedError

    async def astate(self, provider_id: str) -> HealthState:
        return self.state(provider_id)

    async def ain_rotation(self, provider_id: str) -> bool:
        return self.in_rotation(provider_id)

    async def aacquire(self, provider_id: str) -> Permit:
        return self.acquire(provider_id)

    async def arecord_success(self, provider_id: str) -> None:
        self.record_success(provider_id)

    async def arecord_failure(
        self, provider_id: str, error_class: str, detail: str = ""
    ) -> HealthState:
        return self.record_failure(provider_id, error_class, detail)


@dataclass(slots=True)
class _Entry:
    failures: int = 0
    out_until: float = 0.0
    cooldown_s: float = 0.0
    last_error: str | None = None
    probing: bool = False


@dataclass
class MemoryHealthStore(AsyncTwins):
    """Health kept in this process. ``clock`` is injectable for tests (``time.monotonic``)."""

    policy: HealthPolicy = field(default_factory=HealthPolicy)
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, _Entry] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    all_in_rotation: bool = field(default=True, init=False, repr=False)
    """No provider has been taken out since the last success or reset of each one taken out:
    a lookup then needs no per-provider check. Kept under the lock by every change."""

    def state(self, provider_id: str) -> HealthState:
        with self._lock:
            return self._snapshot(provider_id, self._entries.get(provider_id))

    def in_rotation(self, provider_id: str) -> bool:
        # Read without the lock: a dict get and a float compare are atomic under the GIL,
        # and lookups are the hot path (an empty store answers without reading the clock).
        entry = self._entries.get(provider_id)
        return entry is None or entry.out_until <= self.clock()

    def acquire(self, provider_id: str) -> Permit:
        with self._lock:
            entry = self._entries.get(provider_id)
            if entry is None or entry.out_until == 0.0:
                return "ok"
            now = self.clock()
            if entry.out_until > now:
                return "out"
            # Cooldown over: this caller probes; the others wait out the probe's lease.
            entry.probing = True
            entry.out_until = now + self.policy.cooldown_s
            return "probe"

    def record_success(self, provider_id: str) -> None:
        with self._lock:
            if self._entries.pop(provider_id, None) is not None and not self.all_in_rotation:
                self._recount()

    def record_failure(self, provider_id: str, error_class: str, detail: str = "") -> HealthState:
        policy = self.policy
        with self._lock:
            entry = self._entries.get(provider_id)
            if error_class not in policy.counts:
                return self._snapshot(provider_id, entry)
            if entry is None:
                entry = self._entries[provider_id] = _Entry()
            now = self.clock()
            entry.failures += 1
            entry.last_error = f"{error_class} {detail}".strip()
            if entry.probing:
                entry.cooldown_s = min(entry.cooldown_s * policy.backoff, policy.max_cooldown_s)
                entry.out_until = now + entry.cooldown_s
                entry.probing = False
            elif entry.out_until == 0.0 and entry.failures >= policy.failure_threshold:
                entry.cooldown_s = policy.cooldown_s
                entry.out_until = now + entry.cooldown_s
                self.all_in_rotation = False
            return self._snapshot(provider_id, entry)

    def reset(self, provider_id: str | None = None) -> None:
        with self._lock:
            if provider_id is None:
                self._entries.clear()
            else:
                self._entries.pop(provider_id, None)
            self._recount()

    def _recount(self) -> None:
        self.all_in_rotation = not any(e.out_until for e in self._entries.values())

    def _snapshot(self, provider_id: str, entry: _Entry | None) -> HealthState:
        if entry is None:
            return HealthState(provider_id)
        out_for = max(0.0, entry.out_until - self.clock())
        return HealthState(provider_id, entry.failures, out_for, entry.last_error, entry.probing)
