"""The floor under the bare proxy: a pass-through on asyncio protocols, no HTTP library.

    python bench/raw_proxy.py UPSTREAM_BASE_URL --port PORT

What CPU per completion is left when uvicorn and aiohttp are taken away (issue 24): uvloop's
event loop and httptools' parsers (the C parts under uvicorn), with a few lines of HTTP/1.1 of
its own on each side. It reads ``POST .../chat/completions``, posts the body as it came to
``UPSTREAM_BASE_URL/chat/completions`` on a pooled keep-alive connection, and answers with the
upstream's status and body; ``GET /healthz`` answers 200, anything else 404.

A measuring stick, not a server: plain HTTP, bodies with a Content-Length only (what the
benchmark's clients and bench/fast_server.py send), no timeouts, no limits, no error handling
beyond closing the connection.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import httptools
import uvloop

HEALTHY = b'{"status": "ok"}'


class Upstream(asyncio.Protocol):
    """One keep-alive connection to the upstream, one request at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = httptools.HttpResponseParser(self)
        self.transport: Any = None
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        answer, self.answer = self.answer, None
        self.pool.idle.append(self)
        if answer is not None:
            answer.set_result((self.parser.get_status_code(), body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.pool.idle:
            self.pool.idle.remove(self)
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError("the upstream closed the connection"))

    def post(self, body: bytes) -> asyncio.Future[tuple[int, bytes]]:
        self.answer = asyncio.get_running_loop().create_future()
        length = str(len(body)).encode()
        self.transport.write(self.pool.head + length + b"\r\n\r\n" + body)
        return self.answer


class Pool:
    """Idle upstream connections, the last used first; a new one when none is idle."""

    def __init__(self, upstream: str) -> None:
        url = urlsplit(upstream.rstrip("/") + "/chat/completions")
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.head = (
            f"POST {url.path} HTTP/1.1\r\nhost: {url.netloc}\r\n"
            "content-type: application/json\r\ncontent-length: "
        ).encode()
        self.idle: deque[Upstream] = deque()

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.idle:
            connection = self.idle.pop()
        else:
            loop = asyncio.get_running_loop()
            _, connection = await loop.create_connection(
                lambda: Upstream(self), self.host, self.port
            )
        return await connection.post(body)


class Client(asyncio.Protocol):
    """One client connection: requests parsed by httptools, answered in order."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        if self.url.endswith(b"/chat/completions") and self.parser.get_method() == b"POST":
            asyncio.get_running_loop().create_task(self.forward(body))
        elif self.url == b"/healthz":
            self.send(200, HEALTHY)
        else:
            self.send(404, b"{}")

    async def forward(self, body: bytes) -> None:
        try:
            status, answer = await self.pool.post(body)
        except OSError:
            self.transport.close()
            return
        self.send(status, answer)

    def send(self, status: int, body: bytes) -> None:
        self.transport.write(
            b"HTTP/1.1 %d -\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (status, len(body), body)
        )


async def serve(upstream: str, port: int) -> None:
    pool = Pool(upstream)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Client(pool), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("upstream", help="the upstream's base URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.upstream, args.port))


if __name__ == "__main__":
    main()
