"""Closing a chat client hangs up its pooled connections, as the server on the other end sees.

The server here is a plain keep-alive HTTP server of the test's own that counts the connections
its clients have open, so nothing private of the client is looked at.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import MESSAGES, PRIMARY

import resolver
from resolver import Resolver
from resolver.http import Client
from resolver.testing import make_resolver


class _Completions(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a connection stays open until a side closes it
    server: _CountingServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.changed(+1)

    def finish(self) -> None:  # the client hung up (or the server is stopping)
        super().finish()
        self.server.changed(-1)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {"choices": [{"message": {"role": "assistant", "content": "ok"}}], "model": "m"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _CountingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Completions)
        self.open = 0
        self._cond = threading.Condition()

    def changed(self, delta: int) -> None:
        with self._cond:
            self.open += delta
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[int], bool], seconds: float = 5.0) -> int:
        with self._cond:
            self._cond.wait_for(lambda: predicate(self.open), timeout=seconds)
            return self.open


@pytest.fixture
def counting() -> Iterator[_CountingServer]:
    httpd = _CountingServer()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def pointed(counting: _CountingServer) -> Resolver:
    url = f"http://127.0.0.1:{counting.server_address[1]}/v1"
    return make_resolver(
        overrides=[f"providers.{v}.base_url={url}" for v in ("synthetic", "together")]
    )


KEYS = {"SYNTHETIC_API_KEY": "k1", "TOGETHER_API_KEY": "k2"}


def test_closing_a_client_closes_its_connections(counting, pointed):
    """A client's connection stays open between chats (pooled) and is closed by close()."""
    client = Client()
    assert (
        resolver.chat(PRIMARY, MESSAGES, environ=KEYS, client=client, resolver=pointed).served_by
        == PRIMARY
    )
    assert (
        resolver.chat(PRIMARY, MESSAGES, environ=KEYS, client=client, resolver=pointed).served_by
        == PRIMARY
    )
    time.sleep(0.2)  # a connection the client dropped would be seen closed by now
    assert counting.open == 1  # one pooled connection served both chats

    client.close()

    assert counting.wait_for(lambda n: n == 0) == 0


def test_leaving_a_client_block_closes_its_connections(counting, pointed):
    """`with Client() as client:` closes the pooled connections when the block ends."""
    with Client() as client:
        resolver.chat(PRIMARY, MESSAGES, environ=KEYS, client=client, resolver=pointed)
        assert counting.wait_for(lambda n: n == 1) == 1
    assert counting.wait_for(lambda n: n == 0) == 0


def test_aclose_closes_the_async_connections_of_a_running_loop(counting, pointed):
    """`await client.aclose()` hangs up the async pool while its loop is still running."""
    client = Client()
    seen: list[int] = []

    async def main() -> None:
        await resolver.achat(PRIMARY, MESSAGES, environ=KEYS, client=client, resolver=pointed)
        await asyncio.sleep(0.2)
        seen.append(counting.open)
        await client.aclose()
        for _ in range(100):  # the server thread notices the hang-up shortly after
            if counting.open == 0:
                break
            await asyncio.sleep(0.05)
        seen.append(counting.open)

    asyncio.run(main())

    assert seen == [1, 0]
