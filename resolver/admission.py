"""Admission: a call waits its turn in our own FIFO queues before its request is sent.

Two kinds of queue: a provider's caps (``max_concurrency`` of the model, and of its vendor,
shared by all of the vendor's models), held by the executor around ``fn``; and the built-in
client's connection pool, held by :mod:`resolver.http` around each request. Both are here so
that time spent waiting is known to be ours: an attempt whose deadline passes before its
request left (waiting here, or connecting, until the client holds a connection for it) was
never sent (class ``local``), and the provider's health is never charged for it. Keeping
the queue in front of the HTTP library also keeps the library's own queue short (httpcore's
pool bookkeeping is quadratic in its queue).

Queues are fair: ``asyncio.Semaphore`` and ``threading.Semaphore`` wake waiters in arrival
order. Async queues belong to one event loop, like every asyncio primitive.

A deployment's ``rpm`` and ``tpm`` are limits of another kind: a call that finds the deployment
at its limit does not wait, it passes the deployment over (:meth:`Limits.limited`) for the next
candidate, and its health is not charged. Requests are counted when admitted, tokens when a
response reports them (:meth:`Limits.spend`), over the last 60 seconds, in this process.

A third kind paces rather than caps: :class:`PerTurn` lets at most so many callers through in
one turn of the event loop, so that work a burst would start all at once (every call's first
step, every new connection) is spread over turns and no turn blocks the loop for long.
"""

from __future__ import annotations

import contextvars
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from typing import TYPE_CHECKING

from .catalog import Provider
from .health import HealthStore, Permit

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "Limits",
    "Mark",
    "PerTurn",
    "ahold",
    "hold",
    "pending",
    "reused",
    "sent",
    "track",
]


# Classes rather than @contextmanager generators: they run on every attempt of every call.


class Mark:
    """Whether the attempt running now has not sent its request yet, and whether it went on a
    connection that had served before."""

    __slots__ = ("queued", "reused")

    def __init__(self) -> None:
        self.queued = False
        self.reused = False


_mark: contextvars.ContextVar[Mark | None] = contextvars.ContextVar("resolver_mark", default=None)


class track:
    """A fresh :class:`Mark` for one attempt, set by :func:`pending` and :func:`sent` in the
    code the attempt runs."""

    __slots__ = ("mark", "token")

    def __enter__(self) -> Mark:
        self.mark = Mark()
        self.token = _mark.set(self.mark)
        return self.mark

    def __exit__(self, *exc: object) -> None:
        _mark.reset(self.token)


def pending() -> None:
    """From now on the running attempt's request has not left yet (it waits in a queue): if the
    deadline ends the attempt before :func:`sent`, it was never sent."""
    mark = _mark.get()
    if mark is not None:
        mark.queued = True


def sent(reused: bool = False) -> None:
    """The running attempt's request has left (or, for a user's fn, is about to be made);
    ``reused``: on a pooled connection that served an earlier request."""
    mark = _mark.get()
    if mark is not None:
        mark.queued = False
        mark.reused = reused


def reused() -> bool:
    """Whether the running attempt's request went on a pooled connection that served before."""
    mark = _mark.get()
    return mark is not None and mark.reused


def _capped(provider: Provider) -> bool:
    return provider.max_concurrency is not None or provider.vendor_max_concurrency is not None


def _caps(provider: Provider) -> tuple[tuple[str, int], ...]:
    # The model's gate first, then the vendor's: one order for every call, so no two calls
    # can each hold the gate the other waits for.
    caps = []
    if provider.max_concurrency is not None:
        caps.append((f"model:{provider.id}:{provider.max_concurrency}", provider.max_concurrency))
    if provider.vendor_max_concurrency is not None:
        limit = provider.vendor_max_concurrency
        caps.append((f"vendor:{provider.vendor}:{limit}", limit))
    return tuple(caps)


_async_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)
_sync_gates: dict[str, threading.Semaphore] = {}
_sync_lock = threading.Lock()


class _Free:
    """The hold of a provider without caps: nothing to wait for (``with`` gives True)."""

    __slots__ = ()

    def __enter__(self) -> bool:
        return True

    def __exit__(self, *exc: object) -> None:
        pass

    async def __aenter__(self) -> None:
        pass

    async def __aexit__(self, *exc: object) -> None:
        pass


_FREE = _Free()


def ahold(provider: Provider) -> _Free | AbstractAsyncContextManager[None]:
    """Hold a slot of each of ``provider``'s caps for the block, waiting in line for them."""
    return _aheld(provider) if _capped(provider) else _FREE


@asynccontextmanager
async def _aheld(provider: Provider) -> AsyncIterator[None]:
    import asyncio  # here, not at the top: sync callers never need it

    gates = _async_gates.setdefault(asyncio.get_running_loop(), {})
    held: list[asyncio.Semaphore] = []
    try:
        pending()
        for key, limit in _caps(provider):
            gate = gates.get(key) or gates.setdefault(key, asyncio.Semaphore(limit))
            await gate.acquire()
            held.append(gate)
        sent()
        yield
    finally:
        for gate in held:
            gate.release()


def hold(provider: Provider, timeout: float | None) -> _Free | AbstractContextManager[bool]:
    """Hold a slot of each of ``provider``'s caps for the block; ``with`` gives False (holding
    none) when ``timeout`` seconds passed first."""
    return _held(provider, timeout) if _capped(provider) else _FREE


@contextmanager
def _held(provider: Provider, timeout: float | None) -> Iterator[bool]:
    caps = _caps(provider)
    held: list[threading.Semaphore] = []
    end = None if timeout is None else time.monotonic() + timeout
    try:
        with _sync_lock:
            gates = [
                _sync_gates.get(key) or _sync_gates.setdefault(key, threading.Semaphore(limit))
                for key, limit in caps
            ]
        for gate in gates:
            if not gate.acquire(timeout=None if end is None else max(0.0, end - time.monotonic())):
                break
            held.append(gate)
        yield len(held) == len(caps)
    finally:
        for gate in held:
            gate.release()


class PerTurn:
    """At most ``limit`` callers of :meth:`ticket` pass in one turn of ``loop``, first come
    first served; the others await their ticket, which a later turn settles."""

    __slots__ = ("_limit", "_loop", "_passed", "_ticking", "_waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self._loop = loop
        self._limit = limit
        self._passed = 0  # callers let through in this turn
        self._ticking = False  # a _turn is scheduled for the next turn
        self._waiting: deque[asyncio.Future[None]] = deque()

    def ticket(self) -> asyncio.Future[None] | None:
        """None: pass now (this turn has room and nobody waits); else a place in line, to
        await. A plain call, not a coroutine: in a burst's first turn every caller comes here,
        and each object a waiting caller holds is one more the garbage collector walks."""
        if not self._waiting and self._passed < self._limit:
            self._passed += 1
            self._tick()
            return None
        future = self._loop.create_future()
        self._waiting.append(future)  # a cancelled waiter is skipped by _turn
        self._tick()
        return future

    def _tick(self) -> None:
        if not self._ticking:
            self._ticking = True
            self._loop.call_soon(self._turn)

    def _turn(self) -> None:
        # A new turn: wake the next ``limit`` waiters. They run in the turn after this one,
        # which the count is for; a caller arriving then with nobody waiting adds to it.
        self._ticking = False
        self._passed = 0
        waiting = self._waiting
        while waiting and self._passed < self._limit:
            future = waiting.popleft()
            if not future.done():
                future.set_result(None)
                self._passed += 1
        if self._passed:
            self._tick()


WINDOW_S = 60.0


class _Window:
    """One deployment's requests and tokens of the last ``WINDOW_S`` seconds."""

    __slots__ = ("requests", "tokens", "used")

    def __init__(self) -> None:
        self.requests: deque[float] = deque()
        self.tokens: deque[tuple[float, int]] = deque()
        self.used = 0  # the sum of ``tokens``

    def prune(self, now: float) -> None:
        start = now - WINDOW_S
        while self.requests and self.requests[0] <= start:
            self.requests.popleft()
        while self.tokens and self.tokens[0][0] <= start:
            self.used -= self.tokens.popleft()[1]


class Limits:
    """Requests and tokens per deployment over the last minute, in this process: the runtime
    state of ``rpm`` and ``tpm``, kept beside health (a reload carries it over). A shared
    store has its own (:meth:`resolver.redis_health.RedisHealthStore.shared_limits`)."""

    __slots__ = ("_lock", "_windows")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def admit(self, provider: Provider, health: HealthStore) -> tuple[Permit, str | None]:
        """Whether a call may go to ``provider`` now: health's permit (``acquire``, which takes
        the probe after a cooldown), and why it is at its limit (None: it is not). A request
        that may go is counted against ``rpm``; one at its limit takes no probe."""
        if provider.rpm is None and provider.tpm is None:
            return ("ok" if health.all_in_rotation else health.acquire(provider.id)), None
        reason = self.limited(provider, count=False)
        if reason is not None:
            return "out", reason
        permit = "ok" if health.all_in_rotation else health.acquire(provider.id)
        if permit != "out":
            self.limited(provider)
        return permit, None

    async def aadmit(self, provider: Provider, health: HealthStore) -> tuple[Permit, str | None]:
        """:meth:`admit` through the health store's async methods."""
        if provider.rpm is None and provider.tpm is None:
            if health.all_in_rotation:
                return "ok", None
            return await health.aacquire(provider.id), None
        reason = self.limited(provider, count=False)
        if reason is not None:
            return "out", reason
        permit = "ok" if health.all_in_rotation else await health.aacquire(provider.id)
        if permit != "out":
            self.limited(provider)
        return permit, None

    def limited(self, provider: Provider, *, count: bool = True) -> str | None:
        """Why ``provider`` is at its ``rpm`` or ``tpm`` limit now, or None: then (``count``)
        one request is counted against its ``rpm``."""
        rpm, tpm = provider.rpm, provider.tpm
        if rpm is None and tpm is None:
            return None
        now = time.monotonic()
        with self._lock:
            window = self._windows.get(provider.id) or self._windows.setdefault(
                provider.id, _Window()
            )
            window.prune(now)
            if rpm is not None and len(window.requests) >= rpm:
                return f"at its rpm limit ({rpm} requests a minute)"
            if tpm is not None and window.used >= tpm:
                return f"at its tpm limit ({window.used} of {tpm} tokens this minute)"
            if count:
                window.requests.append(now)
        return None

    def spend(self, provider: Provider, tokens: int) -> None:
        """Count ``tokens`` a response of ``provider`` reported against its ``tpm``."""
        if provider.tpm is None or tokens <= 0:
            return
        now = time.monotonic()
        with self._lock:
            window = self._windows.get(provider.id) or self._windows.setdefault(
                provider.id, _Window()
            )
            window.tokens.append((now, tokens))
            window.used += tokens
