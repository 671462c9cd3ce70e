"""What a connection may hold before it is a request: the gateway's guard at the HTTP layer.

uvicorn alone gives a connection forever to send its headers, takes as many connections as the
process has file descriptors (and then fails every legitimate one with them), and answers a
malformed request in plain text. :func:`guarded_protocol` is uvicorn's httptools protocol with:

- a header timeout: a connection that has not sent a whole request head within
  ``header_timeout_s`` of opening (or of its previous answer) is closed, with a 408 when it
  had started one;
- a body timeout: a request whose body has not all arrived ``body_timeout_s`` after its head
  is answered 408 and its connection closed. A timer here costs nothing for the usual body,
  which arrives with its head; the app's own timeout, which every request would pay for, is
  left to servers that are not ours;
- a cap on open connections (``max_connections``, or what the descriptor limit allows): at the
  cap, the oldest connection that holds no request in progress (idle, or still sending its
  head) is closed to make room, as nginx drops idle keep-alive connections; only when every
  connection has a request in progress is the newcomer answered 503;
- OpenAI's error shape for what uvicorn answers itself (a request that is not valid HTTP).

- a client that hangs up is told to the app at once (:data:`.app.ON_GONE`), which stops the
  upstream call of a request still waiting for its answer.

The idle keep-alive timeout is uvicorn's own (``timeout_keep_alive``); the nesting limit is the
app's (it needs the body).
"""

from __future__ import annotations

import asyncio
import json
import resource
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from . import wire
from .app import BODY_LATE, ON_GONE, Limits, body_late

RESERVED_DESCRIPTORS = 64
"""Descriptors kept back from client connections: the upstream pool's first connections, the
listening socket, logs, Redis, the event loop's own."""


def descriptor_limit() -> int:
    """The process's descriptor limit, raised to the hard limit first (as Go's runtime does):
    a gateway holds two descriptors per request in flight, the client's and the upstream's."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):  # not ours to raise: serve within what is there
            pass
    return soft


def connection_cap(limits: Limits, descriptors: int) -> int:
    """Open client connections allowed: ``limits.max_connections``, never more than leaves each
    one an upstream descriptor (a higher figure would fail requests at accept instead)."""
    fits = max(1, (descriptors - RESERVED_DESCRIPTORS) // 2)
    return fits if limits.max_connections is None else min(limits.max_connections, fits)


def raw_answer(status: int, body: dict[str, Any], *headers: tuple[str, str]) -> bytes:
    """A whole HTTP/1.1 answer with a JSON body that closes the connection, for the answers
    given before (or instead of) a request reaching the app."""
    payload = json.dumps(body).encode()
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "content-type: application/json",
        f"content-length: {len(payload)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def guarded_protocol(limits: Limits, cap: int) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the header timeout, the connection ``cap`` and
    OpenAI-shaped protocol errors (pass it as ``uvicorn.Config(http=...)``)."""
    # The connections of this server, oldest first: the order eviction takes them in.
    opened: dict[Guarded, None] = {}
    timeout_s = limits.header_timeout_s
    full = raw_answer(
        503,
        wire.error_body(
            f"the gateway is at its limit of {cap} open connections (--max-connections), each "
            "with a request in progress; retry shortly",
            "server_error",
            code="too_many_connections",
        ),
        ("retry-after", "1"),
    )
    late = raw_answer(
        408,
        wire.error_body(
            f"the request's head did not arrive within {timeout_s:g} s (--header-timeout-s)",
            "invalid_request_error",
            code="request_timeout",
        ),
    )
    slow_body = raw_answer(408, body_late(limits).body())
    body_s = limits.body_timeout_s
    malformed = raw_answer(
        400,
        wire.error_body(
            "the request is not valid HTTP/1.1 (its request line, a header, or its "
            "Content-Length or Transfer-Encoding); the connection is closed",
            "invalid_request_error",
            code="invalid_http",
        ),
    )

    class Guarded(HttpToolsProtocol):
        _timer: asyncio.TimerHandle | None = None
        _begun = False  # some of a request's head has arrived
        _body_timer: asyncio.TimerHandle | None = None
        _in_body = False  # a request's head has arrived, and not yet all of its body
        _live: list[Any] = []  # noqa: RUF012 (replaced per instance, never mutated)

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(opened) >= cap and not _evict_one():
                self._close_with(full)
                return
            opened[self] = None
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            opened.pop(self, None)
            self._disarm()
            self._end_body()
            super().connection_lost(exc)
            # A request still waiting for its answer stops its upstream call now.
            for cycle in self._live:
                if not cycle.response_complete and (leave := cycle.scope["state"].get(ON_GONE)):
                    leave()
            self._live = []

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._begun = True
            if self._timer is None:  # the next request on a kept-alive connection
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            self._begun = False
            super().on_headers_complete()
            self.cycle.scope["state"][ON_GONE] = None
            # The request in the app, and any pipelined behind it.
            self._live = [c for c in self._live if not c.response_complete] + [self.cycle]
            self._in_body = True

        def on_message_complete(self) -> None:
            self._end_body()
            super().on_message_complete()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # Still inside a body once these bytes are parsed: its time starts (a pipelined
            # request waits for the one before it, with reading paused, so it is not timed).
            if self._in_body and self._body_timer is None and not self.pipeline:
                self._body_timer = self.loop.call_later(body_s, self._body_too_slow)

        def send_400_response(self, msg: str) -> None:
            self._close_with(malformed)

        @property
        def waiting(self) -> bool:
            """No request of this connection is in the app: idle, or still sending a head."""
            return self.cycle is None or (self.cycle.response_complete and not self.pipeline)

        def _arm(self) -> None:
            self._timer = self.loop.call_later(timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _too_slow(self) -> None:
            self._timer = None
            if self._begun:
                self._close_with(late)
            elif self.waiting:  # sent nothing: closed as quietly as an idle keep-alive
                self.transport.close()

        def _end_body(self) -> None:
            self._in_body = False
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _body_too_slow(self) -> None:
            self._body_timer = None
            cycle = self.cycle
            if cycle.response_started:  # the app answered without the body: nothing to add
                self.transport.close()
                return
            # The app, waiting for the body, learns of the close and logs the 408 sent here.
            cycle.scope["state"][BODY_LATE] = True
            self._close_with(slow_body)

        def _close_with(self, answer: bytes) -> None:
            if not self.transport.is_closing():
                self.transport.write(answer)
                self.transport.close()

    def _evict_one() -> bool:
        for connection in opened:
            if connection.waiting:
                opened.pop(connection)
                connection.transport.close()
                return True
        return False

    return Guarded
