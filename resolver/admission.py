"""Admission: a call waits its turn in our own FIFO queues before its request is sent.

Two kinds of queue: a provider's caps (``max_concurrency`` of the model, and of its vendor,
shared by all of the vendor's models), held by the executor around ``fn``; and the built-in
client's connection pool, held by :mod:`resolver.http` around each request. Both are here so
that time spent waiting is known to be ours: an attempt whose deadline passes while it waits
was never sent (class ``local``), and the provider's health is never charged for it. Keeping
the queue in front of the HTTP library also keeps the library's own queue short (httpcore's
pool bookkeeping is quadratic in its queue).

Queues are fair: ``asyncio.Semaphore`` and ``threading.Semaphore`` wake waiters in arrival
order. Async queues belong to one event loop, like every asyncio primitive.
"""

from __future__ import annotations

import contextvars
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING

from .catalog import Provider

if TYPE_CHECKING:
    import asyncio

__all__ = ["Mark", "ahold", "hold", "track", "waiting"]


class Mark:
    """Whether the attempt running now is waiting in one of our queues."""

    __slots__ = ("queued",)

    def __init__(self) -> None:
        self.queued = False


_mark: contextvars.ContextVar[Mark | None] = contextvars.ContextVar("resolver_mark", default=None)


@contextmanager
def track() -> Iterator[Mark]:
    """A fresh :class:`Mark` for one attempt, seen by :func:`waiting` in the code it runs."""
    mark = Mark()
    token = _mark.set(mark)
    try:
        yield mark
    finally:
        _mark.reset(token)


@contextmanager
def waiting() -> Iterator[None]:
    """Mark the running attempt as queued for the length of the block. A block left by an
    exception (the deadline cancelling the wait) leaves the mark set: it was never sent."""
    mark = _mark.get()
    if mark is None:
        yield
        return
    mark.queued = True
    yield
    mark.queued = False


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


@asynccontextmanager
async def ahold(provider: Provider) -> AsyncIterator[None]:
    """Hold a slot of each of ``provider``'s caps for the block, waiting in line for them."""
    caps = _caps(provider)
    if not caps:
        yield
        return
    import asyncio  # here, not at the top: sync callers never need it

    gates = _async_gates.setdefault(asyncio.get_running_loop(), {})
    held: list[asyncio.Semaphore] = []
    try:
        with waiting():
            for key, limit in caps:
                gate = gates.get(key) or gates.setdefault(key, asyncio.Semaphore(limit))
                await gate.acquire()
                held.append(gate)
        yield
    finally:
        for gate in held:
            gate.release()


@contextmanager
def hold(provider: Provider, timeout: float | None) -> Iterator[bool]:
    """Hold a slot of each of ``provider``'s caps for the block; yields False (holding none)
    when ``timeout`` seconds passed first."""
    caps = _caps(provider)
    if not caps:
        yield True
        return
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
