"""A gateway served by uvicorn on 127.0.0.1 in a thread, an SDK client of it, traffic that
never pauses, and the snapshots that the reload tests swap in."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import uvicorn
from conftest import MESSAGES, PRIMARY

from resolver import Resolver
from resolver.serve import Gateway
from resolver.serve.run import lifespan, server_for
from resolver.snapshot import write
from resolver.testing import ChatServer, make_resolver


@contextmanager
def serving(gateway: Gateway, *, grace_s: float = 5.0, **options: Any) -> Iterator[str]:
    """Serve ``gateway`` on a free loopback port; yields its OpenAI base URL (``.../v1``).
    ``options`` go to :func:`resolver.serve.run.lifespan` (``watch``, ``interval``)."""
    app = gateway.app(lifespan=lifespan(gateway, **options))
    # The server `serve` runs: the connection guard, timeouts and grace cut included.
    uvicorn_options = {"host": "127.0.0.1", "port": 0, "access_log": False, "log_level": "warning"}
    server = server_for(gateway, app, uvicorn_options, grace_s=grace_s)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    give_up = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > give_up:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def plain_uvicorn(gateway: Gateway) -> Iterator[str]:
    """``gateway.app()`` under uvicorn as an application would mount it: none of serve's
    connection guard, so the app watches for disconnects itself."""
    config = uvicorn.Config(gateway.app(), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def gateway_for(resolver: Resolver, environ: Mapping[str, str], **options: Any) -> Gateway:
    """A gateway serving ``resolver`` with the vendor keys of ``environ``."""
    return Gateway(lambda: resolver, environ=environ, **options)


def sdk(base_url: str, api_key: str = "no-key-needed", **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, **options)


STREAMED = "kimi-k2-thinking-syn"
"""A model whose answers the process tests stream."""


TOGGLED = "minimax-m2-syn"
"""A model the new config disables: /v1/models shows which config serves."""


class Traffic:
    """Completions sent without pause from a few threads until stopped; every answer kept."""

    def __init__(self, base_url: str, threads: int = 4) -> None:
        self.client = sdk(base_url)
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.pool = ThreadPoolExecutor(threads)
        self.workers = [self.pool.submit(self._send) for _ in range(threads)]

    def _send(self) -> None:
        while not self.stop.is_set():
            raw = self.client.chat.completions.with_raw_response.create(
                model=PRIMARY, messages=MESSAGES
            )
            self.statuses.append(raw.status_code)

    def finish(self) -> list[int]:
        self.stop.set()
        for worker in self.workers:
            worker.result()  # re-raises a request that failed
        self.pool.shutdown()
        return self.statuses


def listed(base_url: str) -> set[str]:
    return {m.id for m in sdk(base_url).models.list()}


def snapshot_of(server: ChatServer, path: Path, *extra: str) -> None:
    write(make_resolver(env="prod", overrides=[*server.overrides(), *extra]), path)
