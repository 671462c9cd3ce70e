"""A bare pass-through proxy: the baseline of the gateway's CPU per completion (issue 24).

    python bench/bare_proxy.py UPSTREAM_BASE_URL --port PORT [--client aiohttp|httpx]

Built on the server and client libraries `fallback-resolver serve` is built on, with nothing of
its own: uvicorn with its httptools protocol and its default event loop (uvloop when installed,
as the gateway's), proxy headers and access log off as in ``serve``, and a raw ASGI app (no
Starlette, no fallback logic, no JSON parsed) that reads the body of ``POST
.../chat/completions``, posts it as it came to ``UPSTREAM_BASE_URL/chat/completions`` on one
pooled client of 256 connections (the gateway's pool size), and answers with the upstream's
status and body. ``GET /healthz`` answers 200 (the benchmark waits on it); anything else 404.

The client is aiohttp's, as the gateway's async path (``resolver.http.Client`` is one
``aiohttp.ClientSession``); ``--client httpx`` makes it an ``httpx.AsyncClient`` instead, to
compare the two libraries on the same server.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

POOL = 256
"""Upstream connections, as the gateway's pool (resolver.http.MAX_CONNECTIONS)."""
JSON = [(b"content-type", b"application/json")]


class Proxy:
    """The raw ASGI app: one upstream client, opened and closed by the lifespan."""

    def __init__(self, upstream: str, client: str) -> None:
        self.url = upstream.rstrip("/") + "/chat/completions"
        self.client = client
        self.session: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["method"] == "POST" and scope["path"].endswith("/chat/completions"):
            status, answer = await self.forward(await read_body(receive))
        elif scope["path"] == "/healthz":
            status, answer = 200, b'{"status": "ok"}'
        else:
            status, answer = 404, b"{}"
        length = [(b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": JSON + length})
        await send({"type": "http.response.body", "body": answer})

    async def forward(self, body: bytes) -> tuple[int, bytes]:
        headers = {"content-type": "application/json"}
        if self.client == "httpx":
            response = await self.session.post(self.url, content=body, headers=headers)
            return int(response.status_code), bytes(response.content)
        async with self.session.post(self.url, data=body, headers=headers) as answer:
            return int(answer.status), bytes(await answer.read())

    async def lifespan(self, receive: Any, send: Any) -> None:
        # The client is made here, on the server's running loop, which aiohttp's session needs.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = open_client(self.client)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await (self.session.aclose() if self.client == "httpx" else self.session.close())
                await send({"type": "lifespan.shutdown.complete"})
                return


def open_client(kind: str) -> Any:
    """A pooled upstream client of POOL connections: aiohttp's session, or httpx's."""
    if kind == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
        return httpx.AsyncClient(limits=limits, timeout=60)
    import aiohttp

    connector = aiohttp.TCPConnector(limit=POOL, limit_per_host=POOL)
    return aiohttp.ClientSession(connector=connector)


async def read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("upstream", help="the upstream's base URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client", choices=("aiohttp", "httpx"), default="aiohttp")
    args = parser.parse_args()
    uvicorn.run(
        Proxy(args.upstream, args.client),
        host="127.0.0.1",
        port=args.port,
        http="httptools",
        lifespan="on",
        access_log=False,
        proxy_headers=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
