"""A gateway served by uvicorn on 127.0.0.1 in a thread, for the gateway tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import openai
import uvicorn

from resolver import Resolver
from resolver.serve import Gateway
from resolver.serve.run import lifespan, server_for


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
