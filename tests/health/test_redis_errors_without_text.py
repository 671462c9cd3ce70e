"""A health store whose server answers with an error that carries no text still says what went
wrong in words: the error's class and "no detail", never an empty gap.

The server here is a loopback socket that speaks the Redis protocol and answers every command
with an empty error reply (``-`` and nothing else), as a broken proxy in front of Redis may."""

from __future__ import annotations

import logging
import socketserver
import threading
from collections.abc import Iterator

import pytest
from conftest import PRIMARY

import resolver
from resolver.redis_health import HealthStoreUnavailable


def _commands(buffer: bytearray) -> int:
    """How many whole RESP commands (arrays of bulk strings) start ``buffer``; consumes them."""
    count = 0
    while True:
        pos = 0
        try:
            end = buffer.index(b"\r\n", pos)
            items = int(buffer[1:end])
            pos = end + 2
            for _ in range(items):
                end = buffer.index(b"\r\n", pos)
                size = int(buffer[pos + 1 : end])
                pos = end + 2 + size + 2
                if pos > len(buffer):
                    return count
        except ValueError:  # no complete line yet
            return count
        del buffer[:pos]
        count += 1


class _EmptyErrors(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        buffer = bytearray()
        while data := self.request.recv(65536):
            buffer += data
            self.request.sendall(b"-\r\n" * _commands(buffer))


@pytest.fixture
def url() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _EmptyErrors)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"redis://127.0.0.1:{server.server_address[1]}/0"
    finally:
        server.shutdown()
        server.server_close()


def _store_on(url: str) -> resolver.Resolver:
    return resolver.load(
        overrides=[
            "policy.health.store=redis",
            f"policy.health.url={url}",
            "policy.health.namespace=wordless",
            "policy.health.timeout_s=2",
        ]
    )


def test_check_says_no_detail_for_an_error_without_text(url) -> None:
    """check() against a server answering with an empty error names the store, the error's
    class and says there was no detail."""
    r = _store_on(url)
    with pytest.raises(HealthStoreUnavailable) as info:
        r.health.check()
    assert str(info.value) == f"health store {url} is unreachable: ResponseError: no detail"


def test_the_outage_log_says_no_detail_for_an_error_without_text(url, caplog) -> None:
    """A lookup that meets an empty error keeps health in this process and logs the outage with
    the error's class and "no detail"."""
    r = _store_on(url)
    caplog.set_level(logging.WARNING, logger="resolver")
    assert r.health.in_rotation(PRIMARY)
    [message] = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]
    assert message == (
        f"health store {url} unreachable (ResponseError: no detail): keeping health in this "
        "process, trying Redis again every 5 s"
    )
