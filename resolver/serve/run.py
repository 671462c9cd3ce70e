"""Serving a :class:`Gateway` with uvicorn: reload on SIGHUP and on file changes, graceful stop.

SIGTERM (or Ctrl+C) stops accepting connections and lets requests and streams in flight finish
for up to ``grace_s`` seconds (uvicorn's graceful shutdown), then closes. SIGHUP, and with
``watch`` a change to a watched file, reloads the configuration off the request path
(:meth:`Gateway.reload`). With several workers, each process composes, watches and reloads on
its own (uvicorn's supervisor answers SIGHUP by replacing the workers instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..resolve import Resolver
from .app import Gateway, Limits
from .auth import keys_from

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


@dataclass(frozen=True, slots=True)
class Setup:
    """What a gateway serves, in a form that crosses into worker processes (as JSON)."""

    snapshot: str | None = None
    env: str | None = None
    overrides: tuple[str, ...] = ()
    config_dirs: tuple[str, ...] = ()
    config_path: str | None = None
    limits: Limits = field(default_factory=Limits)
    watch: bool = False

    def load(self) -> Resolver:
        """The configuration, composed or read from the snapshot (raises what does not load)."""
        if self.snapshot is not None:
            from ..snapshot import load_snapshot

            return load_snapshot(self.snapshot)
        from ..load import load

        return load(self.env, self.overrides, self.config_dirs, self.config_path)

    def watched(self) -> list[Path]:
        """What --watch polls: the snapshot file, or every config tree composed from."""
        if not self.watch:
            return []
        if self.snapshot is not None:
            return [Path(self.snapshot)]
        from ..compose import shipped_config_dir

        root = Path(self.config_path) if self.config_path else shipped_config_dir()
        return [*map(Path, self.config_dirs), root]

    def gateway(self) -> Gateway:
        """A gateway on this setup, with the client keys of this process's environment."""
        return Gateway(self.load, keys=keys_from(os.environ), limits=self.limits)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Setup:
        data = json.loads(text)
        data["limits"] = Limits(**data["limits"])
        for name in ("overrides", "config_dirs"):
            data[name] = tuple(data[name])
        return cls(**data)


_WORKER_SETUP = "RESOLVER_GATEWAY_WORKER_SETUP"
"""How the command hands its :class:`Setup` to uvicorn's worker processes."""


def worker_app() -> Any:
    """The app of one worker process (uvicorn's factory with ``--workers``)."""
    configure_logging()
    setup = Setup.from_json(os.environ[_WORKER_SETUP])
    gateway = setup.gateway()
    return gateway.app(lifespan=lifespan(gateway, setup.watched()))


def serve(
    gateway: Gateway,
    setup: Setup,
    *,
    host: str,
    port: int,
    grace_s: float,
    workers: int = 1,
) -> None:
    """Serve until SIGTERM or Ctrl+C: ``gateway`` itself, or with ``workers`` > 1 that many
    processes each serving its own gateway on ``setup``."""
    import uvicorn

    configure_logging()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": False,  # ours is one JSON line per request, with attribution
        "timeout_graceful_shutdown": max(1, round(grace_s)),
        "lifespan": "on",
    }
    if workers > 1:
        os.environ[_WORKER_SETUP] = setup.to_json()
        target = "resolver.serve.run:worker_app"
        uvicorn.run(target, factory=True, workers=workers, **options)
        return
    app = gateway.app(lifespan=lifespan(gateway, setup.watched()))
    uvicorn.Server(uvicorn.Config(app, **options)).run()
