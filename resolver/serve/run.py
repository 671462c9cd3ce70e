"""Serving a :class:`Gateway` with uvicorn: reload on SIGHUP and on file changes, graceful stop.

SIGTERM (or Ctrl+C) stops accepting connections and lets requests and streams in flight finish
for up to ``grace_s`` seconds (uvicorn's graceful shutdown), then closes. SIGHUP, and with
``watch`` a change to a watched file, reloads the configuration off the request path
(:meth:`Gateway.reload`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from .app import Gateway

WATCH_INTERVAL_S = 1.0

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(paths: Sequence[Path]) -> Fingerprint:
    """Every file under ``paths`` with its modification time and size: changes when one is
    written, added or removed."""
    found = []
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            with contextlib.suppress(OSError):  # removed while we looked: the next pass sees it
                st = path.stat()
                found.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(found)


async def _watch(gateway: Gateway, paths: Sequence[Path], interval: float) -> None:
    seen = await asyncio.to_thread(fingerprint, paths)
    while True:
        await asyncio.sleep(interval)
        now = await asyncio.to_thread(fingerprint, paths)
        if now != seen:
            seen = now
            await gateway.reload()


def lifespan(
    gateway: Gateway, watch: Sequence[Path] = (), interval: float = WATCH_INTERVAL_S
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """The app's lifespan: SIGHUP reloads (when serving from the main thread), ``watch`` is
    polled for changes, and the upstream pool is closed at the end."""

    @contextlib.asynccontextmanager
    async def span(app: Any) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[Any]] = set()

        def spawn(coroutine: Any) -> None:
            task = loop.create_task(coroutine)
            tasks.add(task)  # a reference, so the task is not collected while it runs
            task.add_done_callback(tasks.discard)

        on_hup = threading.current_thread() is threading.main_thread()
        if on_hup:
            loop.add_signal_handler(signal.SIGHUP, lambda: spawn(gateway.reload()))
        if watch:
            spawn(_watch(gateway, watch, interval))
        try:
            yield
        finally:
            if on_hup:
                loop.remove_signal_handler(signal.SIGHUP)
            for task in tasks:
                task.cancel()
            await gateway.client.aclose()

    return span


def configure_logging() -> None:
    """The gateway's JSON lines (access log, reloads) on stderr, one per line, as they are."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    gateway_log = logging.getLogger("resolver.gateway")
    gateway_log.addHandler(handler)
    gateway_log.setLevel(logging.INFO)
    gateway_log.propagate = False


def serve(
    gateway: Gateway,
    *,
    host: str,
    port: int,
    grace_s: float,
    watch: Sequence[Path] = (),
) -> None:
    """Serve ``gateway`` until SIGTERM or Ctrl+C."""
    import uvicorn

    configure_logging()
    app = gateway.app(lifespan=lifespan(gateway, watch))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,  # ours is one JSON line per request, with attribution
        timeout_graceful_shutdown=max(1, round(grace_s)),
        lifespan="on",
    )
    uvicorn.Server(config).run()
