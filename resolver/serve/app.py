"""The gateway's ASGI app: OpenAI's chat completions over the resolver's chains.

Each request takes the :class:`Gateway`'s current resolver when it starts and keeps it to the
end, so a reload (which swaps that one reference) never changes a request in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import callers, jsonio, tracing
from ..callers import CallerScope
from ..catalog import Budget
from ..errors import ResolverError
from ..execute import Event
from ..http import Client, achat
from ..resolve import Resolver
from ..sse import ChatChunk
from ..stream import AsyncFallbackStream, achat_stream
from . import wire
from .clients import Caller, identify
from .metrics import Metrics, route_of
from .status import Board
from .status_page import routes as status_routes

T = TypeVar("T")
log = logging.getLogger("resolver.gateway")
access_log = logging.getLogger("resolver.gateway.access")

# Keywords of achat/achat_stream that are not request-body parameters: a body naming one is
# refused, so nothing a client sends reaches the resolver, the environment or the pool.
_RESERVED = frozenset(
    name
    for fn in (achat, achat_stream)
    for name, p in inspect.signature(fn).parameters.items()
    if p.kind is inspect.Parameter.KEYWORD_ONLY
)
_OFF = ("off", "false", "0", "no")
_ON = ("on", "true", "1", "yes")


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request, and one connection, may carry and take (each a flag of ``serve``)."""

    max_body_bytes: int = 4 * 1024 * 1024
    max_messages: int = 1000
    max_depth: int = 128
    """JSON nesting deeper than this is refused: a chat body needs a handful of levels, a tool's
    schema a few dozen, and much deeper bodies would exhaust the recursion of the JSON encoder
    that forwards them."""
    header_timeout_s: float = 10.0
    """From a connection's opening (or its last answer) to a request's whole head."""
    body_timeout_s: float = 60.0
    """From a request's head to the end of its body."""
    keep_alive_s: float = 5.0
    """How long an idle kept-alive connection stays open (uvicorn's default)."""
    max_connections: int | None = None
    """Open client connections; None: as many as the descriptor limit leaves room for."""


class Gateway:
    """The state a gateway serves from: the resolver (swapped whole on reload), client keys,
    limits, the vendor keys' environment and the upstream connection pool."""

    def __init__(
        self,
        load: Callable[[], Resolver],
        *,
        keys: Sequence[bytes] = (),
        callers: Callable[[Resolver], Sequence[Caller]] | None = None,
        limits: Limits = Limits(),
        environ: Mapping[str, str] | None = None,
        client: Client | None = None,
    ) -> None:
        self._load = load
        self.resolver = load()
        self.problems: str | None = None
        """Why the last reload was refused (None: the config serving is the newest)."""
        # Who may call, and what each may reach: ``keys`` may call anything; ``callers`` reads
        # scoped entries (the keys file), again on each reload, checked against the config.
        self._callers = callers
        self.callers: tuple[Caller, ...] = tuple(
            callers(self.resolver)
            if callers is not None
            else (Caller(f"key[{i}]", key) for i, key in enumerate(keys))
        )
        self.limits = limits
        self.environ = environ
        self.client = client or Client()
        self.metrics = Metrics(self)
        self.board = Board()
        """What ``/status`` shows: this gateway's recent calls, fallbacks and reloads."""
        self._reload_lock: asyncio.Lock | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._cutting = False
        self.cut = 0
        """Requests answered 503 (or streams ended with an error event) by :meth:`cut_in_flight`."""

    def cut_in_flight(self) -> int:
        """End every request still in flight now (the grace period is over): each is answered
        503, or a stream already started gets an error event and ends. Returns how many."""
        self._cutting = True
        for task in self._in_flight:
            task.cancel()
        return len(self._in_flight)

    async def reload(self) -> bool:
        """Compose (or read the snapshot) again off the request path and swap it in whole.
        A config that does not load is refused: the last good one keeps serving, and
        :attr:`problems` (shown on ``/readyz``) says why. Health and call counts carry over."""
        if self._reload_lock is None:
            self._reload_lock = asyncio.Lock()
        async with self._reload_lock:
            try:
                fresh = await asyncio.to_thread(self._load)
                callers = self.callers
                if self._callers is not None:  # the keys file, checked against the new config
                    callers = tuple(await asyncio.to_thread(self._callers, fresh))
            except ResolverError as e:  # ConfigError, SnapshotError: every problem named
                self.problems = str(e)
                self.board.reloaded(False, self.problems)
                log.error(json.dumps({"event": "reload_refused", "problems": self.problems}))
                return False
            current = self.resolver
            if fresh.policy.health == current.policy.health:
                fresh = fresh.with_health(current.health)
            self.resolver = fresh.counting_on(current)
            self.callers = callers
            self.problems = None
            self.board.reloaded(True)
            log.info(json.dumps({"event": "reloaded", "env": fresh.env}))
            return True

    @property
    def client_budgets(self) -> tuple[Budget, ...]:
        """The budgets of the clients' own entries (ids ``client:NAME``), counted on the
        serving config's ledger beside its own."""
        return tuple(b for c in self.callers if c.scope is not None for b in c.scope.budgets)

    @property
    def keys(self) -> tuple[bytes, ...]:
        """Every client key (none: the gateway asks for no key)."""
        return tuple(c.key for c in self.callers)

    def app(self, *, lifespan: Any = None) -> ASGIApp:
        """The ASGI app serving this gateway."""
        routes = [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/readyz", self._readyz, methods=["GET"]),
            Route("/metrics", self._metrics, methods=["GET"]),
            *status_routes(self),
        ]
        # Starlette's own answers (an unknown route, a method a route does not take) in
        # OpenAI's error shape, like every other answer.
        handlers = {404: _http_error, 405: _http_error}
        app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
        return _Observed(app, self)

    # --- endpoints ------------------------------------------------------------------------------

    async def _chat(self, request: Request) -> _Answer | StreamingResponse:
        resolver = self.resolver  # this request's config to the end, whatever a reload does
        scope = request.scope
        seen: dict[str, Any] = scope["state"]
        try:
            heads = _heads(scope)
            caller = self._caller(heads.get(b"authorization"))
            body = await _read_json(scope, request.receive, heads, self.limits)
            model, messages, stream, params = _parse_chat(body, self.limits)
            if model in resolver.nodes:
                seen["requested"] = model
            within = None if caller is None else caller.scope
            if caller is not None:
                seen["client"] = caller.name
            if within is not None:
                _may_call(within, model, resolver)
            fallback, deadline_s = _per_request(heads, resolver)
            seen["stream"] = stream
            seen["fallback"] = fallback
            # The call's settings come from the gateway and the narrowing headers only: the
            # body's parameters cannot name them (_RESERVED).
            call: dict[str, Any] = {
                "resolver": resolver,
                "environ": self.environ,
                "deadline_s": deadline_s,
                "client": self.client,
                "fallback": fallback,
                "on_event": self.board.listener(resolver),
                **params,
            }
            token = callers.caller.set(within)  # a fallback never leaves the caller's scope
            try:
                if stream:
                    return await _stream(model, messages, call, seen, request)
                outcome = await _unless_gone(achat(model, messages, **call), scope, request.receive)
            finally:
                callers.caller.reset(token)
        except Exception as exc:
            return _refused(exc, seen)
        served = outcome.served_by
        seen.update(
            served=served, attempts=len(outcome.attempts), fallback_used=outcome.fallback_used
        )
        data = {**outcome.value.raw, "model": served}
        headers = _attribution(model, served, len(outcome.attempts))
        if outcome.group is not None:
            headers[wire.GROUP] = outcome.group
        if outcome.skipped:
            headers[wire.SKIPPED] = wire.skipped_header(outcome.skipped)
        return _Answer(200, jsonio.dumps(data), headers)

    async def _models(self, request: Request) -> Response | _Answer:
        try:
            caller = self._caller(request.headers.get("authorization"))
        except wire.ClientError as exc:
            return _refused(exc, request.scope["state"])
        within = None if caller is None else caller.scope
        resolver = self.resolver
        # Groups are models a client may call too (owned by "group"); a scoped key sees its own.
        data = [
            {"id": p.id, "object": "model", "created": 0, "owned_by": p.vendor}
            for p in sorted(resolver.nodes.values(), key=lambda p: p.id)
            if p.enabled and (within is None or _reaches(within, p.id, resolver))
        ]
        return JSONResponse({"object": "list", "data": data})

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _readyz(self, request: Request) -> Response:
        resolver = self.resolver
        reasons = []
        if self.problems is not None:
            reasons.append(
                f"the last reload was refused, the previous config serves: {self.problems}"
            )
        check = getattr(resolver.health, "check", None)  # a shared store: is it reachable?
        if check is not None:
            try:
                await asyncio.to_thread(check)
            except ResolverError as e:
                reasons.append(str(e))
        status = "degraded" if reasons else "ready"
        return JSONResponse({"status": status, "env": resolver.env, "reasons": reasons})

    async def _metrics(self, request: Request) -> Response:
        text, content_type = self.metrics.render()
        return Response(text, 200, media_type=content_type)

    def _caller(self, authorization: str | None) -> Caller | None:
        """The caller ``Authorization`` names (None when the gateway asks for no key); raises
        the 401 for a missing or wrong key."""
        if not self.callers:
            return None
        caller = identify(authorization, self.callers)
        if caller is None:
            raise wire.ClientError(
                401,
                "Incorrect or missing API key: send the gateway's client key as "
                "'Authorization: Bearer <key>'",
                code="invalid_api_key",
            )
        return caller


def _reaches(within: CallerScope, model_id: str, resolver: Resolver) -> bool:
    """Whether a caller of scope ``within`` may call ``model_id`` (one of its deployments)."""
    return any(within.allows(p.id) for p in resolver.members(model_id))


def _may_call(within: CallerScope, model_id: str, resolver: Resolver) -> None:
    if model_id in resolver.nodes and not _reaches(within, model_id, resolver):
        raise wire.ClientError(
            403,
            f"the key of client {within.name!r} may not call {model_id!r}: it is not among "
            "the client's models (the keys file)",
            param="model",
            code="model_not_allowed",
        )


# --- requests ------------------------------------------------------------------------------------


_WANTED = frozenset((b"authorization", b"content-length", b"x-fallback", b"x-fallback-deadline-s"))


def _heads(scope: Scope) -> dict[bytes, str]:
    """The request headers the chat route reads, in one pass (the first of a repeated one, as
    Starlette's ``headers.get`` gives)."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _WANTED and name not in found:
            found[name] = value.decode("latin-1")
    return found


def body_late(limits: Limits) -> wire.ClientError:
    """The answer to a body that did not arrive within ``limits.body_timeout_s``."""
    return wire.ClientError(
        408,
        f"the request's body did not arrive within {limits.body_timeout_s:g} s (--body-timeout-s)",
        code="request_timeout",
    )


async def _read_json(
    scope: Scope, receive: Receive, heads: Mapping[bytes, str], limits: Limits
) -> Any:
    declared = heads.get(b"content-length", "")
    if declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise _too_large(limits.max_body_bytes)
    state = scope["state"]
    if ON_GONE in state:  # the gateway's own protocol times the body (see .connections)
        body = await _body(receive, state, limits)
    else:
        try:
            async with asyncio.timeout(limits.body_timeout_s):
                body = await _body(receive, state, limits)
        except TimeoutError:
            raise body_late(limits) from None
    try:
        value = jsonio.loads(body)
    except ValueError as e:
        raise wire.ClientError(
            400, f"the body is not valid JSON: {e}", code="invalid_json"
        ) from None
    except RecursionError:
        value = _DEEP
    # Counting brackets is quick, and bounds the depth: most bodies need no walk.
    if value is _DEEP or (
        body.count(b"[") + body.count(b"{") > limits.max_depth
        and _deeper_than(value, limits.max_depth)
    ):
        raise wire.ClientError(
            400,
            f"the body is nested more than {limits.max_depth} levels deep (--max-depth); "
            "send a flatter body",
            code="invalid_json",
        )
    return value


_DEEP = object()


async def _body(receive: Receive, state: dict[str, Any], limits: Limits) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):  # the usual small body: one message, no copy
        if message["type"] == "http.disconnect":
            raise _gone_while_sending(state, limits)
        return body
    parts = bytearray(body)
    while message.get("more_body"):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _gone_while_sending(state, limits)
        parts += message.get("body", b"")
        if len(parts) > limits.max_body_bytes:
            raise _too_large(limits.max_body_bytes)
    return bytes(parts)


BODY_LATE = "resolver.body_late"
"""A key of a request's scope state: set by the gateway's protocol when it closed a connection
whose body was late (it has sent the 408 itself)."""


def _gone_while_sending(state: dict[str, Any], limits: Limits) -> Exception:
    # Hung up while sending: the client's doing, unless our protocol closed it for being late.
    return body_late(limits) if state.get(BODY_LATE) else wire.ClientGone()


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON ``value`` nests containers more than ``limit`` deep (iterative: the walk
    itself must not recurse)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


ON_GONE = "resolver.on_gone"
"""A key of a request's scope state. The gateway's own protocol (:mod:`.connections`) puts it
there on every request, and calls what the app leaves under it when the client hangs up; under
another server, the app watches for the disconnect itself."""


async def _unless_gone(call: Awaitable[T], scope: Scope, receive: Receive) -> T:
    """``call``'s result, unless the client hangs up first: then the call (and the upstream
    request it has in flight) is cancelled at once and :class:`wire.ClientGone` raised."""
    state = scope["state"]
    task = state.get(_TASK) or asyncio.current_task()
    assert task is not None
    gone = False

    def leave() -> None:
        nonlocal gone
        gone = True
        task.cancel()

    told = ON_GONE in state  # the protocol tells: no task of our own to watch
    watcher = None
    if told:
        state[ON_GONE] = leave
    else:

        async def watch() -> None:
            # The body has been read: the next message of this request is the disconnect.
            while (await receive())["type"] != "http.disconnect":
                pass
            leave()

        watcher = asyncio.get_running_loop().create_task(watch())
    try:
        return await call
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
        raise wire.ClientGone from None
    finally:
        if watcher is not None:
            watcher.cancel()
        elif told:
            state[ON_GONE] = None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    body = wire.error_body(
        f"{request.method} {request.url.path}: {exc.detail}",
        "invalid_request_error",
        code="not_found" if exc.status_code == 404 else "method_not_allowed",
    )
    return JSONResponse(body, exc.status_code, exc.headers)


def _too_large(limit: int) -> wire.ClientError:
    return wire.ClientError(
        413, f"the body is larger than the gateway's limit of {limit} bytes (--max-body-bytes)"
    )


def _parse_chat(body: Any, limits: Limits) -> tuple[str, list[Any], bool, dict[str, Any]]:
    if not isinstance(body, dict):
        raise wire.ClientError(400, "the body must be a JSON object")
    params = dict(body)
    model = params.pop("model", None)
    if not isinstance(model, str) or not model:
        raise wire.ClientError(400, "'model' must name a model id of the catalog", param="model")
    messages = params.pop("messages", None)
    if not isinstance(messages, list) or not messages:
        raise wire.ClientError(400, "'messages' must be a non-empty list", param="messages")
    if not all(isinstance(m, dict) for m in messages):
        raise wire.ClientError(400, "each of 'messages' must be an object", param="messages")
    if len(messages) > limits.max_messages:
        raise wire.ClientError(
            400,
            f"{len(messages)} messages, more than the gateway's limit of {limits.max_messages} "
            "(--max-messages)",
            param="messages",
        )
    stream = params.pop("stream", False)
    if not isinstance(stream, bool):
        raise wire.ClientError(400, "'stream' must be true or false", param="stream")
    for name in sorted(_RESERVED & params.keys()):
        message = f"{name!r} is not a chat completion parameter"
        raise wire.ClientError(400, message, param=name, code="unknown_parameter")
    return model, messages, stream, params


def _per_request(heads: Mapping[bytes, str], resolver: Resolver) -> tuple[bool, float | None]:
    """``x-fallback: off`` and ``x-fallback-deadline-s``: a client may narrow a call, never
    widen it (no backup added, no deadline made longer than the policy's)."""
    switch = heads.get(b"x-fallback", "on").strip().lower()
    if switch not in _OFF + _ON:
        raise wire.ClientError(400, f"x-fallback: {switch!r}; use 'off' or 'on'")
    deadline = resolver.policy.deadline_s
    given = heads.get(b"x-fallback-deadline-s")
    if given is not None:
        try:
            seconds = float(given)
        except ValueError:
            seconds = math.nan
        if not (seconds > 0 and math.isfinite(seconds)):
            raise wire.ClientError(
                400, f"x-fallback-deadline-s: {given!r} is not a positive number of seconds"
            )
        deadline = seconds if deadline is None else min(deadline, seconds)
    return switch in _ON, deadline


# --- answers -------------------------------------------------------------------------------------


def _attribution(requested: str, served: str, attempts: int) -> dict[str, str]:
    return {wire.REQUESTED: requested, wire.SERVED_BY: served, wire.ATTEMPTS: str(attempts)}


def _answer_for(exc: Exception) -> tuple[int, dict[str, Any]]:
    """The status and OpenAI error body for ``exc``; a failure that is none of ours to name
    (a bug) is logged and answered with a 500 that says nothing of its cause."""
    mapped = wire.failure(exc)
    if mapped is None:
        log.error("internal error while answering a request", exc_info=exc)
        message = "the gateway failed to answer (an internal error, logged on its side)"
        return 500, wire.error_body(message, "server_error", code="internal_error")
    return mapped


def _refused(exc: Exception, seen: dict[str, Any]) -> _Answer:
    status, body = _answer_for(exc)
    attempts = getattr(exc, "attempts", ())
    seen["attempts"] = len(attempts)
    headers = {}
    if "requested" in seen:
        headers = {wire.REQUESTED: seen["requested"], wire.ATTEMPTS: str(len(attempts))}
    if status in (408, 413):  # the rest of the body may still be coming: not worth reading
        headers["connection"] = "close"
    return _Answer(status, jsonio.dumps(body), headers)


class _Answer:
    """A whole JSON answer, sent as two ASGI messages: what Starlette's Response does for one,
    without its header handling on the hot path."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((name.encode(), value.encode("latin-1")) for name, value in headers.items()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


async def _stream(
    model: str, messages: list[Any], call: dict[str, Any], seen: dict[str, Any], request: Request
) -> StreamingResponse:
    board = call.pop("on_event")  # the status board's listener, fed beside our own count

    def count(event: Event) -> None:
        if event.kind == "attempt":
            seen["attempts"] = seen.get("attempts", 0) + 1
        board(event)

    chunks = achat_stream(model, messages, on_event=count, **call)
    try:
        # Before the first content every failure falls back inside the stream: until it comes,
        # nothing is sent, so a stream that never starts is an ordinary error answer.
        first = await _unless_gone(anext(chunks), request.scope, request.receive)
    except BaseException:
        await chunks.aclose()
        raise
    served = first.provider_id
    seen["served"] = served
    # The attempt serving now is counted when its stream ends.
    headers = _attribution(model, served, seen.get("attempts", 0) + 1)
    group = call["resolver"].group_of(model, served)
    if group is not None:
        headers[wire.GROUP] = group
    if chunks.skipped:
        headers[wire.SKIPPED] = wire.skipped_header(chunks.skipped)
    return StreamingResponse(
        _events(chunks, first, seen), media_type="text/event-stream", headers=headers
    )


async def _events(
    chunks: AsyncFallbackStream[ChatChunk], first: ChatChunk, seen: dict[str, Any]
) -> AsyncIterator[bytes]:
    """The stream as SSE, each chunk's ``model`` naming the model that served it. A break
    after content ends it with an error event and no ``[DONE]``: never as a complete answer."""
    try:
        yield _event(first)
        async for chunk in chunks:
            yield _event(chunk)
        yield b"data: [DONE]\n\n"
        if (outcome := chunks.outcome) is not None:
            seen["fallback_used"] = outcome.fallback_used
    except Exception as exc:
        seen["broken"] = True
        yield b"data: " + jsonio.dumps(_answer_for(exc)[1]) + b"\n\n"
    finally:
        with contextlib.suppress(Exception):
            await chunks.aclose()


def _event(chunk: ChatChunk) -> bytes:
    raw = chunk.raw
    data = {**raw, "model": chunk.provider_id} if isinstance(raw, dict) else raw
    return b"data: " + jsonio.dumps(data) + b"\n\n"


# --- per request: the access log line and the latency histogram ----------------------------------


class _Observed:
    """Wraps the app: one JSON access log line and one latency observation per request, taken
    when the answer (a stream's last byte included) has been sent. Never a header or a body."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.monotonic()
        seen: dict[str, Any] = scope.setdefault("state", {})
        status = 0  # no answer started yet
        task = asyncio.current_task()
        assert task is not None
        gateway = self.gateway
        trace = None
        if tracing.tracer is not None and scope["path"].startswith("/v1/"):  # not probes
            route = route_of(scope["path"])
            trace = tracing.RequestTrace(scope["method"], route, scope["headers"])

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if trace is not None:  # the client's trace goes on from this request's span
                    headers = [*message.get("headers", ()), (b"traceparent", trace.traceparent())]
                    message = {**message, "headers": headers}
            await send(message)

        seen[_TASK] = task
        gateway._in_flight.add(task)
        try:
            if scope["path"] == "/v1/chat/completions" and scope["method"] == "POST":
                # The hot path skips Starlette's middleware and routing (about a tenth of a
                # request's CPU): _chat answers every failure itself, as the middleware would.
                response = await gateway._chat(Request(scope, receive))
                await response(scope, receive, observe)
            else:
                await self.app(scope, receive, observe)
        except asyncio.CancelledError:
            if not gateway._cutting:
                raise
            task.uncancel()
            gateway.cut += 1
            seen["cut"] = True
            status = await _cut_short(status, observe)
        finally:
            gateway._in_flight.discard(task)
            status = status or 500  # ended with no answer: uvicorn answers 500
            seconds = time.monotonic() - began
            path = scope["path"]
            self.gateway.metrics.observe(path, seen, status, seconds)
            if trace is not None:
                trace.end(status)
            if path.startswith("/v1/"):
                line = {
                    "ts": wire.timestamp(),
                    "trace_id": trace.trace_id()
                    if trace is not None
                    else tracing.incoming_trace_id(scope["headers"]),
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "requested": seen.get("requested"),
                    "served": seen.get("served"),
                    "attempts": seen.get("attempts"),
                    "stream": seen.get("stream", False),
                    "fallback_allowed": seen.get("fallback", True),
                    "fallback_used": seen.get("fallback_used"),
                    "client": seen.get("client"),
                    "broken": seen.get("broken", False) or seen.get("cut", False),
                    "latency_ms": round(seconds * 1000, 2),
                }
                access_log.info(jsonio.dumps(line).decode())


_TASK = "resolver.task"
"""A key of a request's scope state: the request's task (asyncio.current_task is not free)."""

_SHUTTING_DOWN = wire.error_body(
    "the gateway is shutting down and its grace period (--grace-s) ended before this answer; "
    "retry it",
    "server_error",
    code="shutting_down",
)


async def _cut_short(status: int, send: Send) -> int:
    """Answer a request the grace period cut: 503 when nothing was sent yet, else (a stream)
    an error event that ends it, never a ``[DONE]``. Returns the status logged."""
    if status:
        event = b"data: " + json.dumps(_SHUTTING_DOWN).encode() + b"\n\n"
        await send({"type": "http.response.body", "body": event, "more_body": False})
        return status
    response = JSONResponse(_SHUTTING_DOWN, 503, {"connection": "close", "retry-after": "1"})
    await response({"type": "http"}, _no_receive, send)
    return 503


async def _no_receive() -> Message:
    raise AssertionError("a cut request reads nothing")
