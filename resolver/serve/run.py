"""Serving a :class:`Gateway` with uvicorn: reload on SIGHUP and on file changes, graceful stop.

SIGTERM (or Ctrl+C) stops accepting connections and lets requests and streams in flight finish
for up to ``grace_s`` seconds (uvicorn's graceful shutdown); what is still in flight then is
answered 503 (a stream started: an error event), the log says how many, and the process exits
with :data:`GRACE_CUT` instead of 0. SIGHUP, and with
``watch`` a change to a watched file, reloads the configuration off the request path
(:meth:`Gateway.reload`). With several workers, this process supervises them (:class:`Workers`):
each worker is a uvicorn server on the one listening socket, and reloads in-process exactly as a
single gateway does, on the SIGHUP the supervisor forwards or on its own ``watch``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from .. import jsonio, tracing
from ..errors import ResolverError
from ..resolve import Resolver
from . import wire
from .app import Gateway, Limits
from .clients import callers_from
from .connections import connection_cap, descriptor_limit, guarded_protocol
from .status import publish
from .workers import Workers

log = logging.getLogger("resolver.gateway")

WATCH_INTERVAL_S = 1.0
GRACE_CUT = 3
"""The exit status of ``serve`` when the grace period ended with requests still in flight (0
after a graceful stop that cut none)."""
BACKSTOP_S = 5.0
"""After the grace period, how long uvicorn waits for the cut requests before it cancels them
itself (they answer at once; this is for one that would not)."""

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
            if _early_hup.is_set():  # asked while the gateway was starting: its config may be old
                _early_hup.clear()
                spawn(gateway.reload())
        if watch:
            spawn(_watch(gateway, watch, interval))
        if gateway.board.shared is not None:  # a worker: its counts go to the others' /status
            spawn(publish(gateway.board, gateway.board.shared))
        try:
            yield
        finally:
            if on_hup:
                loop.remove_signal_handler(signal.SIGHUP)
            for task in tasks:
                task.cancel()
            # Spend settled by the last answers is still on its way to a shared ledger.
            settled = getattr(gateway.resolver.ledger, "settled", None)
            if settled is not None:
                await settled()
            await gateway.client.aclose()

    return span


class JSONLines(logging.Formatter):
    """Every line on the gateway's stderr is one JSON object with a ``ts``: the gateway's own
    (already JSON, given a ``ts`` when they lack one) and uvicorn's (its text under
    ``message``, a traceback under ``error``), so that one parser reads them all."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.name.startswith("resolver.") and not record.exc_info and message[:2] == '{"':
            if message.startswith('{"ts"'):
                return message
            return f'{{"ts":"{wire.timestamp(record.created)}",{message[1:]}'
        line = {
            "ts": wire.timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return jsonio.dumps(line).decode()


def configure_logging() -> None:
    """The gateway's lines (access log, reloads) and uvicorn's, as JSON on stderr, one per
    line (uvicorn is given no logging config of its own: ``log_config=None``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONLines())
    # The shared store's outages ("counted in this process until Redis is back") are the
    # operator's to see; a call's own fallbacks are in its access line already.
    for name, level in (
        ("resolver.gateway", logging.INFO),
        ("uvicorn", logging.INFO),
        ("resolver.store", logging.WARNING),
    ):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
    # A line per request: the process is the gateway's own, so the record's fields no line
    # shows (the caller's frame, thread, process) are not gathered (the logging HOWTO's
    # "Optimization"), a tenth of a request's CPU in a profile.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


_EXPORT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracing_wanted(environ: Mapping[str, str]) -> bool:
    """Whether the OpenTelemetry variables ask for spans to be exported over OTLP/HTTP."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() in ("none", ""):
        return False
    return any(environ.get(name) for name in _EXPORT_VARIABLES)


def configure_tracing() -> None:
    """Export the gateway's spans over OTLP/HTTP when the OpenTelemetry variables ask for it
    (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``..._TRACES_ENDPOINT``; the exporter reads the rest,
    headers and timeouts, itself). Without them nothing of OpenTelemetry is imported."""
    if not tracing_wanted(os.environ):
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win over this name.
    provider = TracerProvider(resource=Resource.create({"service.name": "fallback-resolver"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    tracing.instrument(tracer_provider=provider)  # spans still queued are sent at exit


@dataclass(frozen=True, slots=True)
class Setup:
    """What a gateway serves, in a form that crosses into worker processes (pickled)."""

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
        """A gateway on this setup, with the clients of this process's environment."""
        gateway = Gateway(
            self.load, callers=lambda r: callers_from(os.environ, r), limits=self.limits
        )
        gateway.board.origin = self.origin()
        return gateway

    def origin(self) -> dict[str, Any]:
        """Where the config comes from, for ``/status``: an override by its key only (its
        value, a URL say, is the operator's business, not the page's)."""
        if self.snapshot is not None:
            return {"snapshot": self.snapshot}
        return {
            "config_dirs": list(self.config_dirs),
            "config_path": self.config_path,
            "overrides": [o.partition("=")[0] for o in self.overrides],
            "watch": self.watch,
        }


def settle_heap() -> None:
    """Before serving: the objects loading left (modules, the composed config, the resolver)
    are moved out of the garbage collector's sight, and its young collections made rarer. A
    request's objects live as long as its upstream takes to answer, so with the interpreter's
    default thresholds the collector walked the requests in flight hundreds of times a second:
    a tenth of the gateway's CPU at 1,000 requests/s (bench/README.md, "Gateway")."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


_early_hup = threading.Event()
"""A SIGHUP that came while this process was starting (before the lifespan listens for it)."""


def catch_early_hup() -> None:
    """Keep a SIGHUP sent while starting, for the lifespan to act on, instead of dying of it
    (the default action)."""
    signal.signal(signal.SIGHUP, lambda signum, frame: _early_hup.set())


class GatewayServer(uvicorn.Server):
    """uvicorn's server, whose graceful shutdown ends after ``grace_s`` with the gateway cutting
    what is still in flight (:meth:`Gateway.cut_in_flight`), instead of uvicorn's cancelling it
    into plain-text 500s."""

    def __init__(self, config: uvicorn.Config, gateway: Gateway, grace_s: float) -> None:
        super().__init__(config)
        self.gateway = gateway
        self.grace_s = grace_s

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        timer = asyncio.get_running_loop().call_later(self.grace_s, self.gateway.cut_in_flight)
        try:
            await super().shutdown(sockets)
        finally:
            timer.cancel()

    def exit_status(self) -> int:
        """0, or :data:`GRACE_CUT` (and a log line saying how many) when requests were cut."""
        if not self.gateway.cut:
            return 0
        cut = {"event": "grace_cut", "requests": self.gateway.cut, "grace_s": self.grace_s}
        log.error(json.dumps(cut))
        return GRACE_CUT


def server_for(
    gateway: Gateway, app: Any, options: dict[str, Any], *, grace_s: float
) -> GatewayServer:
    """A server for ``app`` with the gateway's connection limits: the header timeout, the
    connection cap (within this process's descriptor limit), the idle keep-alive timeout."""
    limits = gateway.limits
    cap = connection_cap(limits, descriptor_limit())
    if limits.max_connections is not None and cap < limits.max_connections:
        lowered = {"event": "max_connections_lowered", "asked": limits.max_connections, "to": cap}
        log.warning(json.dumps({**lowered, "why": "the descriptor limit (ulimit -n) is lower"}))
    # uvicorn annotates its timeouts as whole seconds, and takes fractions as they are.
    timeouts: dict[str, Any] = {
        "timeout_keep_alive": limits.keep_alive_s,
        "timeout_graceful_shutdown": grace_s + BACKSTOP_S,
    }
    config = uvicorn.Config(app, **options, **timeouts, http=guarded_protocol(limits, cap))
    return GatewayServer(config, gateway, grace_s)


def serve(
    gateway: Gateway,
    setup: Setup,
    *,
    host: str,
    port: int,
    grace_s: float,
    workers: int = 1,
) -> int:
    """Serve until SIGTERM or Ctrl+C: ``gateway`` itself, or with ``workers`` > 1 that many
    processes each serving its own gateway on ``setup``. Returns the exit status: 0, or
    :data:`GRACE_CUT`."""
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": False,  # ours is one JSON line per request, with attribution
        "lifespan": "on",
        "proxy_headers": False,  # nothing reads the client's address
        "log_config": None,  # its lines go out through configure_logging's JSON
    }
    configure_tracing()
    if workers > 1:
        # Where the workers publish their status boards, so that each /status counts them all.
        with tempfile.TemporaryDirectory(prefix="fallback-resolver-status-") as boards:
            target = functools.partial(worker, setup, options, grace_s, Path(boards))
            return Workers(target, options, workers, grace_s=grace_s).run()
    app = gateway.app(lifespan=lifespan(gateway, setup.watched()))
    server = server_for(gateway, app, options, grace_s=grace_s)
    settle_heap()
    keep_exit_status(server)
    server.run()
    return server.exit_status()


def keep_exit_status(server: uvicorn.Server) -> None:
    """uvicorn ends by raising again the signal it stopped on, so that the process dies of it
    (exit -15) even after a graceful stop. It raises it through the handlers it found, so these
    only ask ``server`` to stop: a no-op then, as it has stopped, and the process exits with
    the status the stop earned. A signal that comes before uvicorn takes them over (while it
    starts) stops it the same way, once started, instead of being lost."""

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)


def worker(
    setup: Setup,
    options: dict[str, Any],
    grace_s: float,
    boards: Path,
    sock: socket.socket,
    parent: int,
) -> None:
    """One worker process of ``serve --workers``: a gateway on ``setup``, served by uvicorn on
    the supervisor's listening ``sock``, publishing its status board in ``boards``; exits
    with the status a single gateway would."""
    # Its own process group, so Ctrl+C reaches the supervisor alone, which stops each worker
    # with one SIGTERM (a second would cut the drain short); and it ends when the supervisor
    # is gone.
    os.setpgid(0, 0)
    catch_early_hup()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # blocked by the supervisor
    configure_logging()
    configure_tracing()  # its exporter's thread is this process's own
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    try:
        gateway = setup.gateway()
    except ResolverError as e:  # the config changed since the supervisor loaded it
        log.error(json.dumps({"event": "worker_refused", "pid": os.getpid(), "problems": str(e)}))
        sys.exit(2)
    gateway.board.shared = boards
    app = gateway.app(lifespan=lifespan(gateway, setup.watched()))
    server = server_for(gateway, app, options, grace_s=grace_s)
    settle_heap()
    keep_exit_status(server)
    server.run(sockets=[sock])
    sys.exit(server.exit_status())


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)
