"""``serve --workers N``: N worker processes on one listening socket, supervised by this one.

uvicorn's own supervisor answers SIGHUP by replacing its workers, so a config that does not load
would stop them starting instead of being refused. Here each worker serves on its own (see
``run.worker``) and reloads in-process, exactly as a single gateway does; the supervisor
forwards SIGHUP to each, forwards SIGTERM for the graceful drain, and restarts a worker that
dies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.context import SpawnProcess
from types import FrameType
from typing import Any

log = logging.getLogger("resolver.gateway")

_SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited loop or threads
QUICK_DEATH_S = 10.0
"""A worker that dies sooner than this after starting is restarted after a delay, twice as long
each time in a row (RESTART_DELAY_S up to MAX_RESTART_DELAY_S), so that a worker that cannot
start (its config no longer loads) neither spins nor waits long once the config is fixed."""
RESTART_DELAY_S = 2.0
MAX_RESTART_DELAY_S = 30.0


def _event(**fields: Any) -> None:
    log.info(json.dumps(fields))


Worker = Callable[[socket.socket, int], None]
"""A worker process's body, given the listening socket and the supervisor's pid: a module-level
function (it crosses into the process by name), with its arguments bound by functools.partial."""


class Workers:
    """Supervises ``count`` processes running ``target`` until SIGTERM or SIGINT. ``options``
    are uvicorn's (host and port for the socket); ``grace_s`` bounds the drain."""

    def __init__(
        self, target: Worker, options: dict[str, Any], count: int, *, grace_s: float
    ) -> None:
        import uvicorn

        self.target = target
        self.grace_s = grace_s
        # Bound once here, so every worker (a restarted one too) accepts on the same socket.
        self.sock = uvicorn.Config(app="", **options).bind_socket()  # no app: the socket only
        self.procs: list[SpawnProcess | None] = [None] * count
        self.started = [0.0] * count
        self.due = [0.0] * count  # when an empty slot may start its worker
        self.quick_deaths = [0] * count  # in a row
        self.stopping = threading.Event()

    def run(self) -> int:
        """Supervise until stopped; the exit status: 0, or the first non-zero status a worker
        stopped with (GRACE_CUT when its grace period cut requests; a worker that outlived it
        is killed and counts as cut too)."""
        signal.signal(signal.SIGHUP, self._forward)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        while not self.stopping.is_set():
            now = time.monotonic()
            for slot, proc in enumerate(self.procs):
                if proc is None and now >= self.due[slot]:
                    self._start(slot)
            alive = [p.sentinel for p in self.procs if p is not None]
            wait(alive, timeout=0.5)
            if not self.stopping.is_set():
                self._reap()
        return self._drain()

    def _start(self, slot: int) -> None:
        proc = _SPAWN.Process(
            target=self.target,
            args=(self.sock, os.getpid()),
            name=f"gateway-worker-{slot}",
        )
        # SIGHUP stays blocked in the child (the mask is inherited) until it can take one, so a
        # reload asked for while it starts is kept rather than killing it.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        try:
            proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
        self.procs[slot] = proc
        self.started[slot] = time.monotonic()
        _event(event="worker_started", worker=slot, pid=proc.pid)

    def _reap(self) -> None:
        """Note each worker that died, and when its slot may start a new one."""
        for slot, proc in enumerate(self.procs):
            if proc is None or proc.is_alive():
                continue
            proc.join()
            lived = time.monotonic() - self.started[slot]
            self.quick_deaths[slot] = self.quick_deaths[slot] + 1 if lived < QUICK_DEATH_S else 0
            n = self.quick_deaths[slot]
            delay = min(RESTART_DELAY_S * 2 ** (n - 1), MAX_RESTART_DELAY_S) if n else 0.0
            _event(
                event="worker_died",
                worker=slot,
                pid=proc.pid,
                exitcode=proc.exitcode,
                restart_in_s=delay,
            )
            self.procs[slot] = None
            self.due[slot] = time.monotonic() + delay

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        for proc in self.procs:
            if proc is not None and proc.pid is not None:
                # One that died a moment ago is restarted, and loads the config afresh.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signum)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        # Each worker gets one SIGTERM, the graceful drain; a second signal would force it.
        if not self.stopping.is_set():
            self.stopping.set()
            self._forward(signal.SIGTERM, frame)

    def _drain(self) -> int:
        """Wait for the workers' graceful shutdown; kill what outlives the grace period."""
        from .run import BACKSTOP_S, GRACE_CUT

        give_up = time.monotonic() + self.grace_s + BACKSTOP_S + 5
        statuses = []
        for slot, proc in enumerate(self.procs):
            if proc is None:
                continue
            proc.join(max(0.0, give_up - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
                _event(event="worker_killed", worker=slot, pid=proc.pid, grace_s=self.grace_s)
                statuses.append(GRACE_CUT)
            else:
                statuses.append(proc.exitcode or 0)
        self.sock.close()
        return next((status for status in statuses if status), 0)
