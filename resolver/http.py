"""A built-in OpenAI-compatible chat client, carried through the fallback chain.

:func:`chat` / :func:`achat` post to ``{base_url}/chat/completions`` of the requested model's
provider, with the provider's model string and ``Authorization: Bearer`` from its key variable
(read at call time; an unset variable is an ``auth`` failure, never a crash), and fall back
like :func:`resolver.call_with_fallback`. Extra keywords (``temperature``, ``response_format``,
``max_tokens``...) go into the request body unchanged.

Connections are pooled: one :class:`Client` per process by default, holding one
``httpx.Client`` for :func:`chat` and one ``aiohttp.ClientSession`` per event loop for
:func:`achat`, created on first use. Close it with :func:`close` / :func:`aclose` (it is closed
at interpreter exit otherwise), or own a :class:`Client` yourself as a context manager.

The async path is on aiohttp because, measured on a burst of 1,000 calls on a cold pool,
httpx's async pool blocked the event loop for seconds in its bookkeeping (issue 11; the figures
are in bench/README.md). Requests beyond ``max_connections`` wait in our own FIFO queue
(:mod:`resolver.admission`), never in the HTTP library's: a request's ``timeout_s`` starts when
it is sent, and a call whose deadline passes while it waits was never sent (class ``local``).
A burst is spread over the loop's turns (STARTS_PER_TURN, SENDS_PER_TURN), so that no turn
blocks the loop with the work of thousands of calls at once.

This module imports httpx (and aiohttp when an async chat is made); ``import resolver`` does
not, until ``resolver.chat`` or ``resolver.achat`` is first imported or looked up.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import threading
import urllib.request
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from . import admission, jsonio
from .budgets import sizing
from .catalog import ErrorClass, Provider
from .classify import Classify, classify_status, parse_retry_after
from .default import or_default
from .errors import ProviderError, UnsupportedParameter, mask_secrets
from .execute import (
    _MIN_ATTEMPT_S,
    Listener,
    Outcome,
    acall_with_fallback,
    call_with_fallback,
    time_left,
)
from .resolve import Resolver

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ChatResult", "Client", "achat", "aclose", "chat", "close", "default_client"]

MAX_CONNECTIONS = 256
"""Connections a :class:`Client` keeps open at once, per pool (the sync one, each loop's)."""
KEEPALIVE_S = 15.0
"""How long an idle connection is kept for the next request."""


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A parsed chat completion."""

    content: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    model: str | None
    """The model string the vendor reports having used."""
    provider_id: str
    status: int
    raw: dict[str, Any] = field(repr=False, compare=False)
    """The whole response body, as JSON."""


# Requests that begin in one turn of the event loop, at most: each is built and written, and
# a cold pool's connects it (a system call, about 1 ms on a loaded 2-core machine; a cold burst
# starting all 256 connections in one turn blocked the loop for a quarter of a second, in
# aiohttp used directly too). Completions that free many slots in one turn wake as many
# waiters, whose requests are then spread over the following turns.
SENDS_PER_TURN = 64
# Calls of achat that start in one turn, at most. A call's first step (its plan, deadline and
# bookkeeping, up to the queue for a connection) costs tens of microseconds: 5,000 calls
# started at once blocked the loop for 180 ms in their first turn. Paced, the first turn of
# a burst only puts the calls in line. Few per turn is faster too: calls started a few at a
# time are answered while the rest wait, so fewer are in flight at once and the garbage
# collector, which walks them all, rarely runs a full collection. Measured on a quiet 2-core
# machine (bench/README.md), 1,000 calls against aiohttp directly: 64 per turn 1.51x the wall
# time and a 54 ms longest block (a 26 ms collection in it), 16 1.12x and 11 ms, 8 1.08x and
# 8 ms, 4 1.07x and 7 ms; 5,000 calls 1.55x, 1.27x, 1.14x and 1.17x.
STARTS_PER_TURN = 8


class _Pool:
    """One event loop's session, the queue in front of it, and the proxies it goes through."""

    __slots__ = (
        "_by_origin",
        "_fresh",
        "closer",
        "limit",
        "proxies",
        "sends",
        "session",
        "slots",
        "starts",
    )

    def __init__(self, limit: int, keepalive_s: float) -> None:
        import aiohttp  # here, not at the top: sync chats never need it

        connector = _connector_type()(
            limit=limit, limit_per_host=limit, keepalive_timeout=keepalive_s
        )
        # No timeout of aiohttp's own: its default (300 s in all, 30 s to connect) would cut a
        # provider whose timeout_s is longer. asyncio.timeout bounds each request instead (a
        # stream passes its own), to timeout_s or what is left of the call's deadline.
        self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout())
        self._fresh: aiohttp.ClientSession | None = None  # new connections only, for resends
        self.limit = limit
        self.slots = asyncio.Semaphore(limit)
        loop = asyncio.get_running_loop()
        self.starts = admission.PerTurn(loop, STARTS_PER_TURN)
        self.sends = admission.PerTurn(loop, SENDS_PER_TURN)
        self.closer = _close_at_loop_shutdown(self)
        # Read from the environment once, when the pool is made, as httpx does for chat().
        # aiohttp's own trust_env is not used: it reads ~/.netrc in a thread on every request.
        self.proxies = urllib.request.getproxies()
        self._by_origin: dict[tuple[str, str], str | None] = {}

    async def admit(self) -> None:
        """Wait for a slot, then for a loop turn with room for one more request to begin
        (SENDS_PER_TURN), both in FIFO order."""
        await self.slots.acquire()
        try:
            if (turn := self.sends.ticket()) is not None:
                await turn
        except BaseException:
            self.slots.release()
            raise

    def leave(self) -> None:
        self.slots.release()

    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> aiohttp.ClientResponse:
        """Send a request and read the answer's head. aiohttp reuses an idle pooled connection
        without checking it: when the server had hung up on it, the request fails before any
        byte of an answer, never having reached the server's handling. Such a request is sent
        again, once, on a new connection. ``timeout`` bounds aiohttp's socket operations."""
        import aiohttp

        options: dict[str, Any] = {"headers": headers, "data": body, "proxy": self.proxy_for(url)}
        if timeout is not None:
            options["timeout"] = timeout
        try:
            return await self.session.post(url, **options)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            # A disconnect mid-head carries the part read; a reset cannot say, and is taken
            # as the server's hanging up on the idle connection.
            if not admission.reused() or not isinstance(getattr(exc, "message", ""), str):
                raise
        return await self.fresh().post(url, **options)

    def fresh(self) -> aiohttp.ClientSession:
        """A session that opens a new connection for every request (made on first use)."""
        if self._fresh is None:
            import aiohttp

            connector = _connector_type()(force_close=True, limit=self.limit)
            self._fresh = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout()
            )
        return self._fresh

    async def close(self) -> None:
        await self.session.close()
        if self._fresh is not None:
            await self._fresh.close()

    def proxy_for(self, url: str) -> str | None:
        """The proxy for ``url`` as the environment names it (``HTTPS_PROXY``, ``NO_PROXY``...)."""
        if not self.proxies:
            return None
        parts = urlsplit(url)
        origin = (parts.scheme, parts.hostname or "")
        if origin not in self._by_origin:
            bypass = urllib.request.proxy_bypass(origin[1])
            found = self.proxies.get(origin[0]) or self.proxies.get("all")
            self._by_origin[origin] = None if bypass else found
        return self._by_origin[origin]


class Client:
    """Pooled HTTP clients for chat calls. One is shared by :func:`chat` and :func:`achat`;
    make your own to choose the number of connections or to close it with the code that owns
    it. Calls beyond ``max_connections`` wait their turn in a FIFO queue."""

    def __init__(
        self, *, max_connections: int = MAX_CONNECTIONS, keepalive_s: float = KEEPALIVE_S
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self._sync: httpx.Client | None = None
        self._sync_slots = threading.BoundedSemaphore(max_connections)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def sync(self) -> httpx.Client:
        client = self._sync
        if client is None:
            with self._lock:
                client = self._sync
                if client is None:
                    n = self.max_connections
                    limits = httpx.Limits(
                        max_connections=n,
                        max_keepalive_connections=n,
                        keepalive_expiry=self.keepalive_s,
                    )
                    client = self._sync = httpx.Client(limits=limits)
        return client

    async def async_client(self) -> aiohttp.ClientSession:
        """The aiohttp session of the running event loop (a session cannot cross loops).

        It is closed when the loop shuts down through ``asyncio.run`` (or anything else that
        calls ``loop.shutdown_asyncgens()``), so short-lived loops leave no sockets open.
        """
        return (await self._pool()).session

    async def _pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        pool = self._async.get(loop)
        if pool is None:
            pool = self._async[loop] = _Pool(self.max_connections, self.keepalive_s)
            await pool.closer.__anext__()  # the loop tracks its generators weakly
        return pool

    def close(self) -> None:
        """Close the sync pool; async pools are dropped with their loops (or :meth:`aclose`)."""
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the sync pool and the running loop's async pool."""
        self.close()
        pool = self._async.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.close()

    # one attempt on one provider

    def call(
        self,
        provider: Provider,
        messages: Sequence[Any],
        params: Mapping[str, Any],
        environ: Mapping[str, str] | None,
    ) -> ChatResult:
        url, headers, body = _request(provider, messages, params, environ)
        left = time_left()
        if not self._sync_slots.acquire(timeout=None if left is None else max(0.0, left)):
            raise ProviderError("local", _QUEUED, provider_id=provider.id)
        try:
            seconds = _timeout(provider)  # the request's own time starts once it has a slot
            client = self.sync
            response = client.post(url, headers=headers, content=body, timeout=seconds)
        except httpx.HTTPError as exc:
            failure = _transport_error(provider, exc)
        else:
            return _parse(
                provider,
                response.status_code,
                response.headers,
                response.content,
                headers,
                asked_stream=_asks_stream(params),
            )
        finally:
            self._sync_slots.release()
        raise failure  # unchained, out of the handler: httpx's error keeps the request's key

    async def acall(
        self,
        provider: Provider,
        messages: Sequence[Any],
        params: Mapping[str, Any],
        environ: Mapping[str, str] | None,
    ) -> ChatResult:
        import aiohttp

        pool = await self._pool()
        # Not sent until it holds a connection (_connector_type): a deadline that ends the wait
        # for a slot, or the connecting, ends a call that never left.
        admission.pending()
        await pool.admit()
        # The request is built once it has a slot: in a burst, the work of the calls that wait
        # is spread over the loop's turns as slots free up, instead of all in the first one.
        seconds = _timeout(provider)
        try:
            url, headers, body = _request(provider, messages, params, environ)
            async with asyncio.timeout(seconds):
                async with await pool.post(url, headers, body) as response:
                    status, got, content = response.status, response.headers, await response.read()
        except TimeoutError as exc:  # aiohttp's socket timeouts are TimeoutErrors too
            raise ProviderError(
                "timeout", f"no response within {seconds:g}s", provider_id=provider.id
            ) from exc
        except aiohttp.ClientError as exc:
            failure = _transport_error(provider, exc)
        else:
            return _parse(
                provider, status, got, content, headers, asked_stream=_asks_stream(params)
            )
        finally:
            pool.leave()
        raise failure  # unchained, out of the handler: aiohttp's errors keep the request's headers


_QUEUED = "never sent: waited for a free connection until the deadline passed"
# What a call that waited past its deadline to start is given to make its attempt (which ends
# as never sent): more than the executor's least time for an attempt.
_LAST_CHANCE_S = 2 * _MIN_ATTEMPT_S


@functools.cache
def _connector_type() -> type[aiohttp.TCPConnector]:
    import aiohttp

    class Connector(aiohttp.TCPConnector):
        """Marks the running attempt as sent once it holds a connection (aiohttp writes the
        request on it right away), so that a deadline that ends a call while it is still
        connecting ends a call that never left; and whether that connection served before.
        A tracing hook would say the same at the cost of several awaited signals on every
        request."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._served: weakref.WeakSet[Any] = weakref.WeakSet()

        async def connect(self, *args: Any, **kwargs: Any) -> Any:
            connection = await super().connect(*args, **kwargs)
            protocol = connection.protocol
            reused = protocol in self._served
            if not reused:
                self._served.add(protocol)
            admission.sent(reused)
            return connection

    return Connector


async def _close_at_loop_shutdown(pool: _Pool) -> AsyncGenerator[None, None]:
    # Suspended at its yield until the loop's shutdown_asyncgens() closes it.
    try:
        yield
    finally:
        await pool.close()


_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The process-wide :class:`Client` used when none is passed."""
    global _default
    client = _default
    if client is None:
        with _default_lock:
            client = _default
            if client is None:
                client = _default = Client()
                atexit.register(client.close)
    return client


def close() -> None:
    """Close the default client's pooled connections (a later chat opens new ones)."""
    if _default is not None:
        _default.close()


async def aclose() -> None:
    """Close the default client's pools, the running loop's async pool included."""
    if _default is not None:
        await _default.aclose()


def chat(
    model_id: str,
    messages: Sequence[Any],
    *,
    resolver: Resolver | None = None,
    environ: Mapping[str, str] | None = None,
    deadline_s: float | None = None,
    on_event: Listener | None = None,
    classify: Classify | None = None,
    client: Client | None = None,
    fallback: bool = True,
    **params: Any,
) -> Outcome[ChatResult]:
    """Ask ``model_id`` for a chat completion, falling back through its backups.

    ``messages`` is the OpenAI ``messages`` list; ``params`` go into the request body as they
    are. The other keywords are :func:`resolver.call_with_fallback`'s (``resolver`` defaults
    to the process-wide default resolver; ``fallback=False`` tries ``model_id`` alone), and
    ``client`` picks the connection pool. Returns an
    :class:`~resolver.execute.Outcome` whose ``value`` is a :class:`ChatResult`.
    """
    _refuse_unsupported(params)
    pool = client or default_client()
    resolver = or_default(resolver)
    with sizing(resolver.budgets, messages, params):
        return call_with_fallback(
            model_id,
            lambda provider: pool.call(provider, messages, params, environ),
            resolver=resolver,
            environ=environ,
            deadline_s=deadline_s,
            on_event=on_event,
            classify=classify,
            fallback=fallback,
        )


async def achat(
    model_id: str,
    messages: Sequence[Any],
    *,
    resolver: Resolver | None = None,
    environ: Mapping[str, str] | None = None,
    deadline_s: float | None = None,
    on_event: Listener | None = None,
    classify: Classify | None = None,
    client: Client | None = None,
    fallback: bool = True,
    **params: Any,
) -> Outcome[ChatResult]:
    """:func:`chat` for asyncio. Cancelling it cancels the request in flight."""
    _refuse_unsupported(params)
    resolver = or_default(resolver)
    pool = client or default_client()
    loop = asyncio.get_running_loop()
    # A burst's first turn runs every call up to here: no coroutine more than needed, and
    # nothing more held while the call waits for its turn than the ticket.
    turn = (pool._async.get(loop) or await pool._pool()).starts.ticket()
    late = None
    if turn is not None:
        began = loop.time()
        await turn
        deadline_s, late = _late(resolver, deadline_s, loop.time() - began)
    with sizing(resolver.budgets, messages, params):
        return await acall_with_fallback(
            model_id,
            _sender(pool, messages, params, environ, late),
            resolver=resolver,
            environ=environ,
            deadline_s=deadline_s,
            on_event=on_event,
            classify=classify,
            fallback=fallback,
        )


def _late(
    resolver: Resolver, deadline_s: float | None, waited: float
) -> tuple[float | None, str | None]:
    """For a call that waited ``waited`` seconds for its turn to start (STARTS_PER_TURN):
    its ``deadline_s`` less that wait, so that the deadline still counts from the call;
    and, when the wait used it up, why the call is never sent."""
    budget = deadline_s if deadline_s is not None else resolver.policy.deadline_s
    if budget is None:
        return None, None
    if budget - waited > _LAST_CHANCE_S:
        return budget - waited, None
    # Too late for a request. The call still makes its one attempt, which ends at once as
    # never sent (class local): the same account as a call queued for a connection.
    late = f"never sent: waited {waited:.3f}s for its turn to start, past the {budget:g}s deadline"
    return _LAST_CHANCE_S, late


def _sender(
    pool: Client,
    messages: Sequence[Any],
    params: Mapping[str, Any],
    environ: Mapping[str, str] | None,
    late: str | None,
) -> Callable[[Provider], Awaitable[ChatResult]]:
    # Made once the call may start, outside achat: the cells of a closure are made when the
    # function that defines it is entered, and a call waiting for its turn would hold them.
    async def send(provider: Provider) -> ChatResult:
        if late is not None:
            raise ProviderError("local", late, provider_id=provider.id)
        return await pool.acall(provider, messages, params, environ)

    return send


def _refuse_unsupported(params: Mapping[str, Any]) -> None:
    # A vendor answers stream=True with an event stream that this client cannot read: refused
    # here, before any request, rather than charged to every provider as a bad response.
    if params.get("stream"):
        raise UnsupportedParameter(
            "stream=True",
            "chat() and achat() read one JSON answer; nothing was sent (stream with "
            "resolver.chat_stream / achat_stream, which hold the streaming contract)",
        )


# --- wire format -------------------------------------------------------------------------------


def _request(
    provider: Provider,
    messages: Sequence[Any],
    params: Mapping[str, Any],
    environ: Mapping[str, str] | None,
) -> tuple[str, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    key_env = provider.api_key_env
    if key_env is not None:
        key = (os.environ if environ is None else environ).get(key_env)
        if not key:
            message = f"key variable {key_env} is not set"
            raise ProviderError("auth", message, provider_id=provider.id)
        headers["Authorization"] = f"Bearer {key}"
    if provider.max_tokens is not None and not params.keys() & _MAX_TOKENS:
        params = {"max_tokens": provider.max_tokens, **params}
    body = jsonio.dumps_request({**params, "model": provider.model, "messages": list(messages)})
    url = provider.base_url.rstrip("/") + "/chat/completions"
    return url, headers, body


_MAX_TOKENS = {"max_tokens", "max_completion_tokens"}


def _timeout(provider: Provider) -> float:
    """The provider's ``timeout_s``, cut to what is left of the call's deadline."""
    seconds = provider.timeout_s
    left = time_left()
    return seconds if left is None else max(0.001, min(seconds, left))


def _transport_error(provider: Provider, exc: Exception) -> ProviderError:
    timed_out = isinstance(exc, httpx.TimeoutException | TimeoutError)
    kind: ErrorClass = "timeout" if timed_out else "connection"
    detail = str(exc) or type(exc).__name__
    return ProviderError(kind, f"{type(exc).__name__}: {detail}", provider_id=provider.id)


def _asks_stream(params: Mapping[str, Any]) -> bool:
    """Whether a request's parameters ask for an event stream (``stream``, ``stream_options``
    or a vendor's own ``stream_*``)."""
    return any(name.startswith("stream") and params[name] for name in params)


def _parse(
    provider: Provider,
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    sent: Mapping[str, str],
    *,
    asked_stream: bool = True,
) -> ChatResult:
    try:
        return _parse_body(provider, status, headers, content, asked_stream)
    except ProviderError as exc:
        error = exc
    # Never let a key value out in a message, even if a vendor echoes the request back. Raised
    # out of the handler, so that the unmasked original is not kept as __context__.
    key = sent.get("Authorization", "").removeprefix("Bearer ")
    masked = mask_secrets(error.message, [key])
    if masked != error.message:
        error = ProviderError(
            error.error_class, masked, error.status, error.retry_after, provider_id=provider.id
        )
    raise error


def _parse_body(
    provider: Provider, status: int, headers: Mapping[str, str], content: bytes, asked: bool
) -> ChatResult:
    try:
        data: Any = jsonio.loads(content) if content else None
    except ValueError:
        data = None
    if status >= 400:
        message = _error_message(data, content)
        raise ProviderError(
            classify_status(status, message),
            message,
            status,
            parse_retry_after(headers.get("retry-after")),
            provider_id=provider.id,
        )
    if headers.get("content-type", "").startswith("text/event-stream"):
        if asked:
            # An event stream answers a request that asked for one: the request's doing, so
            # bad_request, which neither falls back nor counts against health.
            raise ProviderError(
                "bad_request",
                "the vendor answered with an event stream, which this client does not read: a "
                "parameter of the request asked for streaming",
                status,
                provider_id=provider.id,
            )
        # Nothing asked for one: the vendor is at fault, like any answer of the wrong shape.
        raise ProviderError(
            "bad_response",
            "the vendor answered with an event stream that nothing in the request asked for",
            status,
            provider_id=provider.id,
        )
    if not isinstance(data, dict):
        raise ProviderError(
            "bad_response",
            f"response is not a JSON object: {_snippet(content)}",
            status,
            provider_id=provider.id,
        )
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProviderError(
            "bad_response", "response has no choices", status, provider_id=provider.id
        )
    choice = choices[0]
    reply = choice.get("message")
    text = reply.get("content") if isinstance(reply, dict) else None
    finish = choice.get("finish_reason")
    if finish == "content_filter" and not text:
        raise ProviderError(
            "content_policy",
            "the vendor's content filter withheld the answer",
            status,
            provider_id=provider.id,
        )
    usage = data.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    return ChatResult(
        content=text if isinstance(text, str) else None,
        finish_reason=finish if isinstance(finish, str) else None,
        prompt_tokens=_int(usage.get("prompt_tokens")),
        completion_tokens=_int(usage.get("completion_tokens")),
        total_tokens=_int(usage.get("total_tokens")),
        model=data.get("model") if isinstance(data.get("model"), str) else None,
        provider_id=provider.id,
        status=status,
        raw=data,
    )


def _error_message(data: Any, content: bytes) -> str:
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            parts = [str(error[k]) for k in ("message", "code") if error.get(k)]
            if parts:
                return _clip(" / ".join(parts))
        if isinstance(error, str):
            return _clip(error)
        if isinstance(data.get("message"), str):
            return _clip(data["message"])
    return _snippet(content)


def _snippet(content: bytes) -> str:
    text = content[:200].decode("utf-8", "replace").strip()
    return repr(text) if text else "empty body"


def _clip(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
