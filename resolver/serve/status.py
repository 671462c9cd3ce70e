"""What ``/status`` shows: a board of the gateway's own calls, fed by their events.

Every chat call the gateway makes passes its :class:`~resolver.execute.Event`s to a
:meth:`Board.listener`. The board keeps per-minute counts by model for the last
:data:`MINUTES` minutes and the last :data:`LAST_FALLBACKS` fallbacks: fixed sizes, and labels
that are catalog ids only (an event names the catalog's models, never what a client typed).
No message, no key and no vendor error text is kept: an attempt's reason is its error class and
status, a skip's the reason our own code gave. Listeners run on the event loop, so no lock.

Under ``serve --workers`` each worker publishes its board to a folder the supervisor made (a
JSON file per process, replaced at most once a second when it changed), and ``/status`` adds
up every file it finds there, so whichever worker answers shows the calls of them all.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..catalog import Budget
from ..execute import Event
from ..graph import edges_and_nodes
from ..resolve import Resolver
from ..snapshot import write_atomically

if TYPE_CHECKING:
    from .app import Gateway

MINUTES = 15
LAST_FALLBACKS = 50
PUBLISH_S = 1.0
"""How often a worker of ``serve --workers`` publishes its board when it changed."""
COUNTS = ("calls", "served", "fallbacks", "errors")
"""Per model and minute: calls requested for it, attempts it served, calls requested for it
that another model served, and its failed attempts."""
_CALLS, _SERVED, _FALLBACKS, _ERRORS = range(len(COUNTS))

# (model, error class or None, HTTP status or None, a skip's reason or None)
Reason = tuple[str, str | None, int | None, str | None]


@dataclass(frozen=True, slots=True)
class Fallback:
    at: float
    requested: str
    served: str
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class Reload:
    at: float
    ok: bool
    problems: str | None


class Board:
    """The gateway's recent calls, counted from their events. ``clock`` is wall time
    (``time.time``), injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.started = clock()
        self.minutes: deque[tuple[int, dict[str, list[int]]]] = deque(maxlen=MINUTES)
        self.fallbacks: deque[Fallback] = deque(maxlen=LAST_FALLBACKS)
        self.reload: Reload | None = None
        self.origin: dict[str, Any] = {}
        """Where the config is read from, as the command knows it (``Setup.origin``)."""
        self.shared: Path | None = None
        """Under ``serve --workers``: the folder every worker publishes its board to."""
        self.version = 0
        """Bumped by every count: whether the board changed since it was last published."""

    def listener(self, resolver: Resolver) -> Callable[[Event], None]:
        """The ``on_event`` of one call made on ``resolver``."""
        return _Call(self, resolver)

    def reloaded(self, ok: bool, problems: str | None = None) -> None:
        self.reload = Reload(self.clock(), ok, problems)

    def export(self) -> bytes:
        """The counts and the last fallbacks, as another worker's ``/status`` reads them."""
        fallbacks = [[f.at, f.requested, f.served, f.reasons] for f in self.fallbacks]
        return json.dumps({"minutes": list(self.minutes), "fallbacks": fallbacks}).encode()

    def counts(self, model_id: str) -> list[int]:
        """This minute's counters of ``model_id`` (a new minute starts a new bucket; the
        oldest falls off the deque)."""
        self.version += 1
        minute = int(self.clock() // 60)
        minutes = self.minutes
        if not minutes or minutes[-1][0] != minute:
            minutes.append((minute, {}))
        bucket = minutes[-1][1]
        found = bucket.get(model_id)
        if found is None:
            found = bucket[model_id] = [0, 0, 0, 0]
        return found


class _Call:
    """One call's listener: counts it once, and on a fallback keeps why the models before the
    one that served were passed."""

    __slots__ = ("board", "counted", "reasons", "resolver")

    def __init__(self, board: Board, resolver: Resolver) -> None:
        self.board = board
        self.resolver = resolver
        self.counted = False
        self.reasons: list[Reason] | None = None  # only a call that falls back needs one

    def __call__(self, event: Event) -> None:
        board = self.board
        if not self.counted:  # every call of an enabled model has at least one event
            self.counted = True
            board.counts(event.requested)[_CALLS] += 1
        kind = event.kind
        if kind == "attempt":
            if event.error_class is not None:
                board.counts(event.provider_id)[_ERRORS] += 1
                return
            board.counts(event.provider_id)[_SERVED] += 1
            served, requested = event.provider_id, event.requested
            # A member of the requested group serving is no fallback (as Outcome.fallback_used).
            if served != requested and self.resolver.group_of(requested, served) != requested:
                board.counts(requested)[_FALLBACKS] += 1
                reasons = tuple(self.reasons or ())
                board.fallbacks.append(Fallback(board.clock(), requested, served, reasons))
        elif kind == "fallback":
            reason: Reason = (event.provider_id, event.error_class, event.status, None)
            self._keep(reason)
        elif self._own(event):  # a skip of the requested model: why it was not called
            self._keep((event.provider_id, None, None, event.message))

    def _keep(self, reason: Reason) -> None:
        if self.reasons is None:
            self.reasons = []
        elif reason[1] is not None and self.reasons[-1][:2] == (reason[0], None):
            # A deployment at its limit is skipped, then left with a fallback of class limited.
            reason = (*reason[:3], self.reasons.pop()[3])
        self.reasons.append(reason)

    def _own(self, event: Event) -> bool:
        if event.provider_id == event.requested:
            return True
        group = self.resolver.groups.get(event.requested)
        return group is not None and any(m.id == event.provider_id for m in group.members)


# --- sharing between workers ---------------------------------------------------------------------


async def publish(board: Board, folder: Path, interval: float = PUBLISH_S) -> None:
    """Keep ``folder``/PID.json up to date with ``board`` (a task of the worker's lifespan)."""
    path = folder / f"{os.getpid()}.json"
    published = -1
    while True:
        version = board.version
        if version != published:
            try:
                await asyncio.to_thread(write_atomically, path, board.export())
                published = version
            except OSError:  # the folder is gone (the supervisor is ending): try again later
                pass
        await asyncio.sleep(interval)


def _others(folder: Path) -> list[dict[str, Any]]:
    """The boards the other workers published (a file that cannot be read is left out: its
    worker writes it again within a second)."""
    boards = []
    for path in folder.glob("*.json"):
        if path.stem == str(os.getpid()):
            continue
        try:
            boards.append(json.loads(path.read_bytes()))
        except (OSError, ValueError):
            continue
    return boards


@dataclass(frozen=True, slots=True)
class _Seen:
    """What ``/status`` counts: this process's board, and under --workers the others' too."""

    minutes: list[tuple[int, dict[str, list[int]]]]
    fallbacks: list[Fallback]
    processes: int


async def _seen(board: Board) -> _Seen:
    minutes = list(board.minutes)
    fallbacks = list(board.fallbacks)
    if board.shared is None:
        return _Seen(minutes, fallbacks, 1)
    others = await asyncio.to_thread(_others, board.shared)
    for other in others:
        minutes += [(minute, bucket) for minute, bucket in other["minutes"]]
        fallbacks += [
            Fallback(at, requested, served, tuple(tuple(r) for r in reasons))
            for at, requested, served, reasons in other["fallbacks"]
        ]
    fallbacks.sort(key=lambda f: f.at)
    return _Seen(minutes, fallbacks[-LAST_FALLBACKS:], 1 + len(others))


# --- /status.json --------------------------------------------------------------------------------


async def snapshot(gateway: Gateway) -> dict[str, Any]:
    """The status as JSON data (README, "Gateway": the shape of ``/status.json``)."""
    board, resolver = gateway.board, gateway.resolver
    now = board.clock()
    seen = await _seen(board)
    environ = os.environ if gateway.environ is None else gateway.environ
    nodes, edges = edges_and_nodes(resolver, environ)
    window = _window(seen.minutes, now)
    ids = {n.id for n in nodes}
    models = []
    for node in nodes:
        models.append(await _model(resolver, node.id, node.state, node.detail))
    for model_id in sorted(window["totals"].keys() - ids):  # called, in no edge of the graph
        if model_id in resolver.nodes:
            models.append(await _model(resolver, model_id, "ok", ""))
    policy = resolver.policy.health
    return {
        "now": now,
        "env": resolver.env,
        "origin": {"env": resolver.env, **board.origin},
        "started": board.started,
        "reload": None if board.reload is None else _reload(board.reload),
        "health": {"enabled": policy.enabled, "store": policy.store},
        "models": models,
        "edges": [
            {
                "source": e.source,
                "target": e.target,
                "order": e.order,
                "member": e.member,
                "downgrade": e.downgrade,
                "inert": e.inert,
            }
            for e in edges
        ],
        **window,
        "fallbacks": [_fallback(f) for f in reversed(seen.fallbacks)],
        # The gateway processes whose calls are counted here (under --workers, each of them),
        # and the one that answered.
        "processes": seen.processes,
        "pid": os.getpid(),
        # A shared ledger's usage is a round trip each: off the event loop.
        "budgets": await asyncio.to_thread(_budgets, resolver, gateway.client_budgets),
    }


def _budgets(resolver: Resolver, clients: Sequence[Budget]) -> list[dict[str, Any]]:
    return [
        {
            "id": budget_id,
            "scope": u.budget.scope,
            "target": u.budget.target,
            "window": u.budget.window,
            "amount": u.budget.amount,
            "spent": u.spent,
            "reserved": u.reserved,
            "left": u.left,
        }
        for budget_id, u in resolver.budget_usage(clients).items()
    ]


async def _model(resolver: Resolver, model_id: str, state: str, detail: str) -> dict[str, Any]:
    group = model_id in resolver.groups
    health = None
    if not group:  # a group has no health of its own: its members do
        s = await resolver.health.astate(model_id)
        health = {
            "status": s.status,
            "out_for_s": round(s.out_for_s, 1),
            "failures": s.failures,
            "last_error": s.last_error,  # an error class and a status, never a message
        }
    kind = "group" if group else "model"
    return {"id": model_id, "kind": kind, "state": state, "detail": detail, "health": health}


def _window(counted: Iterable[tuple[int, dict[str, list[int]]]], now: float) -> dict[str, Any]:
    """Every minute of the window, oldest first (an idle minute is empty), and the totals:
    each minute's buckets added up (one per process)."""
    current = int(now // 60)
    kept: dict[int, dict[str, list[int]]] = {}
    for minute, bucket in counted:
        _add(kept.setdefault(minute, {}), bucket)
    minutes = []
    totals: dict[str, list[int]] = {}
    for minute in range(current - MINUTES + 1, current + 1):
        bucket = kept.get(minute, {})
        _add(totals, bucket)
        by_model = {m: dict(zip(COUNTS, c, strict=True)) for m, c in sorted(bucket.items())}
        minutes.append({"start": minute * 60, "models": by_model})
    return {
        "minutes": minutes,
        "totals": {m: dict(zip(COUNTS, c, strict=True)) for m, c in sorted(totals.items())},
    }


def _add(into: dict[str, list[int]], bucket: dict[str, list[int]]) -> None:
    for model_id, counts in bucket.items():
        total = into.setdefault(model_id, [0, 0, 0, 0])
        for i, n in enumerate(counts):
            total[i] += n


def _reload(reload: Reload) -> dict[str, Any]:
    return {"at": reload.at, "ok": reload.ok, "problems": reload.problems}


def _fallback(f: Fallback) -> dict[str, Any]:
    return {
        "at": f.at,
        "requested": f.requested,
        "served": f.served,
        "reasons": [
            {"model": model, "error": error, "status": status, "skipped": skipped}
            for model, error, status, skipped in f.reasons
        ],
    }
