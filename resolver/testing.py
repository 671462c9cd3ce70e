"""Helpers for users' own test suites.

- :func:`make_resolver` builds a resolver from the shipped or your own configuration with
  overrides. It is never cached and never becomes the process-wide default.
- :func:`use_resolver` makes a resolver the process-wide default for a block, so code that
  calls ``resolver.get_fallback_provider(...)`` at module level sees your configuration.
- :func:`mark_unhealthy` takes a model out of rotation and :func:`fail_calls` makes calls to
  chosen providers fail with a chosen error class, both without a server: test mode for your
  own fallback paths.
- :class:`ChatServer` is a real chat-completions server (on 127.0.0.1 unless told otherwise)
  with faults switchable per model; :meth:`ChatServer.overrides` points vendors' ``base_url``
  at it. ``python -m resolver.testing`` runs one as a process (:mod:`resolver.fake_vendor`).
- ``resolver.pytest_plugin`` wraps them as fixtures; enable it with
  ``pytest_plugins = ["resolver.pytest_plugin"]``.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import re
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, get_args

from . import default
from .catalog import ERROR_CLASSES, ErrorClass
from .load import load
from .resolve import Resolver

__all__ = [
    "FAULTS",
    "ChatServer",
    "Fault",
    "ReceivedRequest",
    "fail_calls",
    "make_resolver",
    "mark_unhealthy",
    "use_resolver",
]


#: A fresh resolver, exactly as :func:`resolver.load` composes it (same keywords). It is never
#: cached and never becomes the process-wide default unless passed to :func:`use_resolver`.
make_resolver = load


def mark_unhealthy(
    resolver: Resolver, model_id: str, *, error_class: ErrorClass = "server", detail: str = ""
) -> None:
    """Take ``model_id`` out of rotation in ``resolver``'s health store, as that many failures
    in a row would; ``resolver.health.reset(model_id)`` puts it back."""
    health = resolver.health
    if not health.policy.enabled:
        raise ValueError("health tracking is off in this resolver (policy.health.enabled)")
    if error_class not in health.policy.counts:
        raise ValueError(f"{error_class!r} failures do not count against health")
    for _ in range(health.policy.failure_threshold):
        health.record_failure(model_id, error_class, detail)


@contextmanager
def fail_calls(*model_ids: str, error_class: ErrorClass = "server") -> Iterator[None]:
    """Within the block, every call that the executor (``call_with_fallback``, ``chat``, the
    streaming calls and their async twins) makes to these providers fails with
    ``error_class``, without calling your ``fn`` or the network, so your own fallback paths
    can be tested without a server."""
    from . import execute

    if error_class not in ERROR_CLASSES:
        raise ValueError(f"unknown error class {error_class!r}; one of {', '.join(ERROR_CLASSES)}")
    saved = dict(execute._forced)
    execute._forced.update(dict.fromkeys(model_ids, error_class))
    try:
        yield
    finally:
        execute._forced.clear()
        execute._forced.update(saved)


@contextmanager
def use_resolver(resolver: Resolver) -> Iterator[Resolver]:
    """Within the block, the module-level lookups (and ``MODEL_FALLBACKS``/``ALL_PROVIDERS``)
    answer from ``resolver``, whatever ``RESOLVER_ENV`` says. Blocks nest."""
    default._pinned.append(resolver)
    try:
        yield resolver
    finally:
        default._pinned.remove(resolver)


# --- a chat-completions server on loopback -----------------------------------------------------

FaultKind = Literal[
    "rate_limit",
    "server",
    "unavailable",
    "slow",
    "drop",
    "malformed",
    "empty",
    "context_window",
    "auth",
    "bad_request",
    "content_policy",
    "not_found",
    "stall",
    "echo_key",
    "unasked_stream",
    # Streaming faults: they strike a ``stream: true`` request after ``after`` content chunks.
    "sse_error",
    "sse_empty",
    "sse_no_done",
    "sse_stall",
    "sse_cut",
    "sse_malformed",
]
FAULTS: tuple[FaultKind, ...] = get_args(FaultKind)
STREAM_FAULTS: tuple[FaultKind, ...] = tuple(f for f in FAULTS if f.startswith("sse_"))


@dataclass(frozen=True, slots=True)
class Fault:
    """How the server answers a model: ``times`` failures (None: every request) of ``kind``,
    or a share ``rate`` of requests (0..1, drawn from a seeded generator)."""

    kind: FaultKind
    times: int | None = None
    rate: float = 1.0
    retry_after: float = 1.0
    """Seconds sent in Retry-After with ``rate_limit``."""
    delay_s: float = 5.0
    """How long ``slow`` waits before answering, ``stall`` before it hangs up, and ``sse_stall``
    before it goes on."""
    after: int = 0
    """Streaming faults: how many content chunks are sent before the fault strikes."""


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """What the server saw of one request. The Authorization value itself is never kept."""

    model: str | None
    path: str
    has_auth: bool
    body: dict[str, Any]
    fault: FaultKind | None
    disconnected: bool = False
    """True when the client went away while a ``slow`` or ``stall`` answer or a stream was
    pending (it cancelled, or stopped reading)."""


class ChatServer:
    """A real OpenAI-compatible server on ``host`` and ``port`` (default: 127.0.0.1, a free
    port), for tests.

    It answers ``POST .../chat/completions`` with a completion whose content is ``reply(model)``
    (default ``"ok from <model string>"``), as Server-Sent Events when the request says
    ``stream: true`` (a role chunk, content chunks, a chunk with the finish reason, a usage chunk
    when ``stream_options.include_usage``, then ``data: [DONE]``), unless a fault is set for the
    request's model string::

        with ChatServer() as server:
            r = make_resolver(overrides=server.overrides())
            server.set_fault(r.providers["deepseek-r1-0528-syn"].model, "server")
            outcome = resolver.chat("deepseek-r1-0528-syn", [{"role": "user", "content": "hi"}],
                                    resolver=r, environ=server.environ())

    Faults: ``rate_limit`` (429 + Retry-After), ``server`` (500), ``unavailable`` (503),
    ``slow`` (answers after ``delay_s``), ``stall`` (reads the request, sends nothing, and hangs
    up after ``delay_s`` or when the client gives up), ``drop`` (closes the connection without
    answering), ``malformed`` (200 with broken JSON), ``empty`` (200 with no choices),
    ``context_window`` (400, context length exceeded), ``auth`` (401), ``bad_request`` (400),
    ``content_policy`` (400, flagged), ``not_found`` (404, model_not_found), ``echo_key`` (401
    quoting the request's whole bearer key back, as some vendors do), ``unasked_stream`` (answers
    with an event stream though the request did not ask for one). Error bodies have OpenAI's
    shape, ``{"error": {"message", "type", "param", "code"}}``, with what OpenAI sends for each.
    :meth:`set_accept_delay` slows the accepting of new connections, for every model.
    Every request is recorded in :attr:`requests`.

    A request with ``"stream": true`` is answered as an OpenAI server-sent event stream (one
    chunk per word of the reply, usage when ``stream_options.include_usage`` asks, then
    ``[DONE]``); the faults above answer it with their status before any chunk. Streaming
    faults strike after ``after`` content chunks: ``sse_error`` (an error object inside the
    200 stream), ``sse_empty`` (nothing but ``[DONE]``), ``sse_no_done`` (the stream ends
    without ``[DONE]``), ``sse_stall`` (waits ``delay_s``, then goes on), ``sse_cut`` (the
    connection is cut), ``sse_malformed`` (an event whose data is not JSON).
    """

    def __init__(self, *, seed: int = 0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        """The address :meth:`start` binds (an IPv6 one too); ``port`` 0 picks a free port."""
        self._bind_port = port
        self._faults: dict[str, Fault] = {}
        self._counts: dict[str, int] = {}
        self._replies: dict[str, str] = {}
        self._accept_delay = 0.0
        self._accept_times: int | None = None
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self.requests: list[ReceivedRequest] = []

    # lifecycle

    def start(self) -> ChatServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        server_class = _Server6 if ":" in self.host else _Server
        httpd = server_class((self.host, self._bind_port), _Handler)
        httpd.chat = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running; call start() or use it in a with block")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ending in ``/v1``; a wildcard address (``0.0.0.0``,
        ``::``) is reached through loopback."""
        host = _REACHED_AS.get(self.host, self.host)
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/v1"

    def overrides(self, vendors: Sequence[str] = ("synthetic", "together")) -> list[str]:
        """Overrides that point each vendor's ``base_url`` at this server."""
        return [f"providers.{vendor}.base_url={self.base_url}" for vendor in vendors]

    @staticmethod
    def environ(*names: str) -> dict[str, str]:
        """A fake environment with a dummy key in each variable (default: the shipped vendors')."""
        return {name: f"test-key-{i}" for i, name in enumerate(names or _SHIPPED_KEYS)}

    # faults

    def set_fault(self, model: str, kind: FaultKind | None, **options: Any) -> None:
        """Make requests for the model string ``model`` fail with ``kind`` (None: clear it).
        ``options`` are :class:`Fault`'s (``times``, ``rate``, ``retry_after``, ``delay_s``,
        ``after``)."""
        with self._lock:
            if kind is None:
                self._faults.pop(model, None)
            else:
                if kind not in FAULTS:
                    raise ValueError(f"unknown fault {kind!r}; use one of {', '.join(FAULTS)}")
                self._faults[model] = Fault(kind, **options)
            self._counts.pop(model, None)

    def set_accept_delay(self, seconds: float, *, times: int | None = None) -> None:
        """Accept each new connection only after ``seconds`` (0: at once), for the next
        ``times`` connections (None: until cleared), as an overloaded server's backlog does.
        The client's connect succeeds (the kernel completes it) and then nothing comes back;
        connections already open are not affected."""
        if seconds < 0:
            raise ValueError(f"accept delay must be 0 or more seconds, not {seconds!r}")
        with self._lock:
            self._accept_delay = seconds
            self._accept_times = times

    def clear(self) -> None:
        """No faults, no accept delay, no custom replies, no recorded requests."""
        with self._lock:
            self._faults.clear()
            self._replies.clear()
            self._counts.clear()
            self.requests.clear()
            self._accept_delay = 0.0
            self._accept_times = None

    def _next_accept_delay(self) -> float:
        with self._lock:
            if not self._accept_delay or self._accept_times == 0:
                return 0.0
            if self._accept_times is not None:
                self._accept_times -= 1
            return self._accept_delay

    def reply(self, model: str, content: str) -> None:
        """Answer ``model`` with ``content`` (when no fault applies)."""
        with self._lock:
            self._replies[model] = content

    def take_requests(self) -> list[ReceivedRequest]:
        """The requests recorded so far, removed from :attr:`requests` (a server that runs for
        long keeps none it has handed out)."""
        with self._lock:
            taken, self.requests[:] = list(self.requests), []
            return taken

    def requests_for(self, model: str) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.requests if r.model == model]

    def _pick(self, model: str | None) -> tuple[Fault | None, str]:
        with self._lock:
            reply = self._replies.get(model or "", f"ok from {model}")
            fault = self._faults.get(model or "")
            if fault is None:
                return None, reply
            seen = self._counts.get(model or "", 0)
            self._counts[model or ""] = seen + 1
            if fault.times is not None and seen >= fault.times:
                return None, reply
            if fault.rate < 1.0 and self._random.random() >= fault.rate:
                return None, reply
            return fault, reply

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _disconnected(self, request: ReceivedRequest) -> None:
        with self._lock:
            for i, seen in enumerate(self.requests):
                if seen is request:
                    self.requests[i] = replace(request, disconnected=True)


_SHIPPED_KEYS = ("SYNTHETIC_API_KEY", "TOGETHER_API_KEY")
_REACHED_AS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 512
    chat: ChatServer

    def get_request(self) -> tuple[socket.socket, Any]:
        # Called by the serving loop once a connection waits in the backlog: holding it here
        # holds every later connection too, as a server too busy to accept does.
        delay = self.chat._next_accept_delay()
        if delay:
            self.chat._stopping.wait(delay)
        return super().get_request()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (a cancelled call, a cut stream) is what these tests make
        # happen: not worth a traceback on stderr. Anything else is a bug of the server's.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients' connection pools are exercised
    # One buffered write per response and no Nagle delay: otherwise headers and body leave in
    # two packets and delayed ACKs add ~40 ms to every answer.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        chat = self.server.chat
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        model = body.get("model") if isinstance(body.get("model"), str) else None
        auth = self.headers.get("Authorization") or ""
        has_auth = auth.startswith("Bearer ")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            chat._record(ReceivedRequest(model, self.path, has_auth, body, None))
            self._error(404, f"Invalid URL (POST {self.path})", "invalid_request_error")
            return
        fault, reply = chat._pick(model)
        kind = fault.kind if fault else None
        if body.get("stream") is True and (fault is None or fault.kind in STREAM_FAULTS):
            request = ReceivedRequest(model, self.path, has_auth, body, kind)
            chat._record(request)
            if not _SSE(self, chat).answer(model, reply, body, fault):
                chat._disconnected(request)
            return
        if fault is not None and fault.kind in ("slow", "stall"):
            gone = self._wait(fault.delay_s, chat)
            chat._record(ReceivedRequest(model, self.path, has_auth, body, kind, gone))
            if gone or fault.kind == "stall":
                self.close_connection = True
                return
            fault = None
        else:
            chat._record(ReceivedRequest(model, self.path, has_auth, body, kind))
        if fault is None and body.get("stream") is True:  # a slow stream, once its wait is over
            _SSE(self, chat).answer(model, reply, body, None)
        elif fault is None:
            self._json(200, _completion(model, reply, body))
        elif fault.kind == "unasked_stream":
            _SSE(self, chat).answer(model, reply, body, None)
        elif fault.kind == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        elif fault.kind == "malformed":
            self._send(200, b'{"id": "x", "choices": [{"message": ', "application/json")
        elif fault.kind == "empty":
            self._json(200, {**_completion(model, reply, body), "choices": []})
        elif fault.kind == "echo_key":
            key = auth.removeprefix("Bearer ")
            message = f"Incorrect API key provided: {key}. Check the key and try again."
            self._error(401, message, "invalid_request_error", code="invalid_api_key")
        else:
            status, message, error_type, param, code = _ERRORS[fault.kind]
            headers = {}
            if fault.kind == "rate_limit":
                headers["Retry-After"] = f"{fault.retry_after:g}"
            message = message.format(model=model, retry_after=f"{fault.retry_after:g}")
            self._error(status, message, error_type, param=param, code=code, headers=headers)

    def _error(
        self,
        status: int,
        message: str,
        error_type: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        error = {"message": message, "type": error_type, "param": param, "code": code}
        self._json(status, {"error": error}, headers)

    def _wait(self, seconds: float, chat: ChatServer) -> bool:
        """Sleep up to ``seconds``; True as soon as the client disconnects."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not chat._stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.01)
            if readable:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except OSError:
                    return True
        return chat._stopping.is_set()

    def _json(self, status: int, data: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _send(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client went away
            self.close_connection = True


# status, message, type, param, code: as OpenAI's API words them (its error reference and
# answers seen from it), so that clients parse them as they would a vendor's.
_ERRORS: dict[str, tuple[int, str, str, str | None, str | None]] = {
    "rate_limit": (
        429,
        "Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, "
        "Requested 1. Please try again in {retry_after}s.",
        "requests",
        None,
        "rate_limit_exceeded",
    ),
    "server": (
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
        None,
    ),
    "unavailable": (
        503,
        "The engine is currently overloaded, please try again later.",
        "server_error",
        None,
        None,
    ),
    "context_window": (
        400,
        "This model's maximum context length is 8192 tokens. However, your messages resulted "
        "in 9000 tokens. Please reduce the length of the messages.",
        "invalid_request_error",
        "messages",
        "context_length_exceeded",
    ),
    "auth": (
        401,
        "Incorrect API key provided: sk-test***0000. You can find your API key in your "
        "account settings.",
        "invalid_request_error",
        None,
        "invalid_api_key",
    ),
    "bad_request": (
        400,
        "Invalid type for 'temperature': expected a decimal, but got a string instead.",
        "invalid_request_error",
        "temperature",
        "invalid_type",
    ),
    "content_policy": (
        400,
        "The response was filtered due to the prompt triggering the content management "
        "policy. Please modify your prompt and retry.",
        "invalid_request_error",
        "prompt",
        "content_filter",
    ),
    "not_found": (
        404,
        "The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        None,
        "model_not_found",
    ),
}


def _usage(body: Mapping[str, Any], reply: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", ""))) // 4 + 1 for m in body.get("messages") or [])
    completion = len(reply) // 4 + 1
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(model: str | None, reply: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(body, reply),
    }


# --- streaming answers ---------------------------------------------------------------------------


class _SSE:
    """One streamed answer: OpenAI chat.completion.chunk events over chunked transfer encoding
    (so the connection stays pooled), each flushed as it is written."""

    def __init__(self, handler: _Handler, chat: ChatServer) -> None:
        self.handler = handler
        self.chat = chat

    def answer(
        self, model: str | None, reply: str, body: Mapping[str, Any], fault: Fault | None
    ) -> bool:
        """Stream the answer, or the fault; False when the client went away first."""
        handler = self.handler
        options = body.get("stream_options")
        usage = isinstance(options, dict) and options.get("include_usage") is True
        completion = _completion(model, reply, body)
        base = {k: completion[k] for k in ("id", "created", "model")}
        base["object"] = "chat.completion.chunk"
        if usage:
            base["usage"] = None

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        pieces = re.findall(r"\s*\S+", reply) or [reply]
        events = [
            chunk({"role": "assistant", "content": ""}),
            *(chunk({"content": piece}) for piece in pieces),
            chunk({}, "stop"),
        ]
        if usage:
            events.append({**base, "choices": [], "usage": completion["usage"]})
        # The fault strikes before the (after + 1)th content chunk, or after the last event.
        strike = -1 if fault is None else 1 + fault.after
        if strike > len(pieces):
            strike = len(events)
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("Cache-Control", "no-cache")
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            if fault is not None and fault.kind == "sse_empty":
                return self._done()
            for i, event in enumerate(events):
                if i == strike and not self._fault(fault):
                    return True
                self._event(event)
            if strike == len(events) and not self._fault(fault):
                return True
            return self._done()
        except OSError:  # the client went away: what is still buffered can never be sent
            handler.close_connection = True
            handler.wfile = io.BytesIO()  # so finish() has nothing to flush into a dead socket
            return False

    def _fault(self, fault: Fault | None) -> bool:
        """Strike ``fault``; True when the stream goes on afterwards."""
        if fault is None:
            return True
        if fault.kind == "sse_stall":
            if self.handler._wait(fault.delay_s, self.chat):
                raise ConnectionAbortedError
            return True
        if fault.kind == "sse_error":
            error = {"message": "the model crashed mid-answer", "type": "server_error"}
            self._event({"error": {**error, "code": "server_error"}})
            self._end()
        elif fault.kind == "sse_malformed":
            self._write(b'data: {"id": "chatcmpl-loopback", "choices": [{"delta": \n\n')
            self._done()
        elif fault.kind == "sse_no_done":
            self._end()
        else:  # sse_cut
            self.handler.close_connection = True
            with contextlib.suppress(OSError):
                self.handler.connection.shutdown(socket.SHUT_RDWR)
        return False

    def _event(self, data: Mapping[str, Any]) -> None:
        self._write(b"data: " + json.dumps(data).encode() + b"\n\n")

    def _done(self) -> bool:
        self._write(b"data: [DONE]\n\n")
        return self._end()

    def _end(self) -> bool:
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()
        return True

    def _write(self, payload: bytes) -> None:
        wfile = self.handler.wfile
        wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        wfile.flush()


if __name__ == "__main__":  # `python -m resolver.testing`: the command lives in its own module
    from resolver.fake_vendor import main

    raise SystemExit(main())
