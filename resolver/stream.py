"""Streaming through the chain, with a contract (issue 12).

:func:`chat_stream` / :func:`achat_stream` stream a chat completion from the requested model;
:func:`stream_with_fallback` / :func:`astream_with_fallback` do the same for your own streaming
``fn(provider, partial)``. The contract:

1. Before the first content (text, a tool call or a refusal) nothing reaches the caller, and
   every failure falls back like a non-streaming one: an error status, an error inside a 200
   stream, a stream that ends (or lacks ``[DONE]``) before content, malformed events, and no
   token within the provider's ``first_token_timeout_s``.
2. After content, a break ends the iteration with :class:`~resolver.errors.StreamInterrupted`
   (partial content, provider, every attempt), never with a normal end. With the source's
   ``edge_policy.<id>.mid_stream: continue`` the next backup is asked to continue the partial
   answer instead (``StreamResult.continued_from`` says so). ``fallback=False`` tries no backup,
   before or after content.
3. ``stream.provider`` is the provider serving, set when the first content chunk is released;
   ``stream.outcome`` is the full :class:`~resolver.execute.Outcome` once the stream has ended.
4. Health: a failure before content, and a break after it, count against the provider; a caller
   that stops reading (closing the stream, leaving its ``with`` block, cancelling the task)
   closes the upstream connection at once and counts nothing.
5. The deadline (``deadline_s`` or ``policy.deadline_s``) bounds the whole stream.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from .budgets import Size, sized
from .catalog import Provider
from .classify import Classify, Failure
from .default import or_default
from .errors import Attempt, ProviderError, Skip, StreamInterrupted
from .execute import (
    Listener,
    Outcome,
    _alone,
    _deadline,
    _environ,
    _loop_time,
    _raise_forced,
    _Run,
    time_left,
)
from .http import (
    _QUEUED,
    Client,
    _parse,
    _request,
    _timeout,
    _transport_error,
    default_client,
)
from .resolve import Plan, Resolver
from .sse import ChatChunk, SSEDecoder, read_chunk

__all__ = [
    "AsyncFallbackStream",
    "ChatChunk",
    "FallbackStream",
    "StreamResult",
    "achat_stream",
    "astream_with_fallback",
    "chat_stream",
    "stream_with_fallback",
]

T = TypeVar("T")
StreamFn = Callable[[Provider, str], Iterable[T]]
AStreamFn = Callable[[Provider, str], "AsyncIterable[T] | Awaitable[AsyncIterable[T]]"]


@dataclass(frozen=True, slots=True)
class StreamResult:
    """What a stream delivered, as its :class:`~resolver.execute.Outcome` value."""

    content: str
    """All the text the caller received, continuations included."""
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    """Usage from the serving stream's final chunk (None when it reported none)."""
    model: str | None
    provider_id: str
    chunks: int
    """Chunks passed to the caller."""
    status: int | None = None
    continued_from: tuple[str, ...] = ()
    """Providers whose stream broke after content and was continued by the next
    (``mid_stream: continue``); empty for a stream served in one piece."""
    first_token_s: float | None = None
    """Seconds from the serving attempt's start to its first token (what a ``latency`` group
    ranks streams by)."""


# --- the contract, shared by the sync and async loops -----------------------------------------


class _Progress(Generic[T]):
    """One streamed call: what the caller has received, across attempts and continuations."""

    def __init__(self, fallback: bool, status: int | None, *, bounded: bool = False) -> None:
        self.run: _Run | None = None
        self.fallback = fallback
        self.status = status
        self.bounded = bounded
        """Whether fn bounds each read by first_token_timeout_s itself (the built-in client)."""
        self.parts: list[str] = []
        self.sent = False
        self.chunks = 0
        self.provider: Provider | None = None
        self.outcome: Outcome[StreamResult] | None = None
        self.continued_from: list[str] = []
        self.broke: Attempt | None = None
        """The failed attempt of the last stream that broke after content."""
        self.size: Size | None = None
        """The request's size, for budgets (the built-in client's streams)."""

    def plan(self) -> Plan | None:
        """No backups at all with ``fallback=False``; else the resolver's plan."""
        return _alone(self.fallback)

    def start(self, run: _Run) -> _Run:
        if not self.fallback:
            run.stop = "fallback=False: no backup is tried"
        self.run = run
        return run

    def interrupted(self) -> StreamInterrupted:
        run, broke = self.run, self.broke
        assert run is not None
        assert broke is not None
        assert broke.error_class is not None
        run.resolver._stats.record(run.requested, "failed")
        return StreamInterrupted(
            run.requested,
            broke.provider_id,
            broke.error_class,
            "".join(self.parts),
            run.attempts,
            reason=broke.message,
        )

    def ended(self) -> Exception:
        """The error that ends a call no provider can carry on."""
        assert self.run is not None
        return self.interrupted() if self.sent else self.run.exhausted()


class _Leg(Generic[T]):
    """One attempt on one provider: holds its chunks until the first content."""

    __slots__ = (
        "began",
        "finish_reason",
        "first_token_s",
        "held",
        "model",
        "next_by",
        "progress",
        "provider",
        "released",
        "run",
        "token",
        "usage",
    )

    def __init__(self, progress: _Progress[T], provider: Provider) -> None:
        assert progress.run is not None
        self.progress = progress
        self.run = progress.run
        self.provider = provider
        self.began = time.monotonic()
        self.next_by = self.began + provider.first_token_timeout_s
        self.token = False  # a token (content or reasoning) has arrived
        self.first_token_s: float | None = None
        self.held: list[T] = []
        self.released = False
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.usage: ChatChunk | None = None

    def limit(self) -> float:
        """When the next chunk must have arrived (monotonic)."""
        deadline = self.run.deadline
        return self.next_by if deadline is None else min(deadline, self.next_by)

    def take(self, item: T) -> list[T] | None:
        """The items to pass on after ``item`` arrived (None: hold them)."""
        chunk = item if isinstance(item, ChatChunk) else read_chunk(item, self.provider.id)
        now = time.monotonic()
        self.check(now)  # first: a chunk that comes too late belongs to a failed attempt
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason
        if chunk.model is not None:
            self.model = chunk.model
        if chunk.prompt_tokens is not None or chunk.completion_tokens is not None:
            self.usage = chunk
        progress = self.progress
        if chunk.content:
            progress.parts.append(chunk.content)
        # Before the first token only a token stops the clock; after it, any chunk does.
        if self.token or chunk.has_content or chunk.reasoning:
            if not self.token:
                self.first_token_s = now - self.began
            self.token = True
            self.next_by = now + self.provider.first_token_timeout_s
        if self.released:
            progress.chunks += 1
            return [item]
        self.held.append(item)
        if not chunk.has_content:
            if chunk.finish_reason == "content_filter":
                raise ProviderError(
                    "content_policy",
                    "the vendor's content filter withheld the answer",
                    200,
                    provider_id=self.provider.id,
                )
            return None
        self.released = progress.sent = True
        progress.provider = self.provider
        held, self.held = self.held, []
        progress.chunks += len(held)
        return held

    def check(self, now: float) -> None:
        if now > self.next_by:
            raise self.stalled()
        deadline = self.run.deadline
        if deadline is not None and now > deadline:
            raise ProviderError(
                "timeout", f"deadline of {self.run.budget:g}s reached", provider_id=self.provider.id
            )

    def stalled(self) -> ProviderError:
        deadline = self.run.deadline
        if deadline is not None and deadline < self.next_by:
            message = f"deadline of {self.run.budget:g}s reached"
        else:
            seconds = self.provider.first_token_timeout_s
            what = "the next chunk" if self.token else "a token"
            message = f"no {what} within first_token_timeout_s={seconds:g}s"
        return ProviderError("timeout", message, provider_id=self.provider.id)

    def finish(self) -> StreamResult:
        """The attempt's stream ended normally: the result, or the failure of a stream that
        ended before any content."""
        if not self.released:
            raise ProviderError(
                "bad_response",
                "the stream ended before any content",
                self.progress.status,
                provider_id=self.provider.id,
            )
        progress = self.progress
        usage = self.usage
        return StreamResult(
            "".join(progress.parts),
            self.finish_reason,
            usage.prompt_tokens if usage else None,
            usage.completion_tokens if usage else None,
            usage.total_tokens if usage else None,
            self.model,
            self.provider.id,
            progress.chunks,
            progress.status,
            tuple(progress.continued_from),
            self.first_token_s,
        )

    def failed(self, exc: Exception) -> Failure | None:
        """Record the failure; None when the deadline ended the call (raises what cannot be
        classified, unchanged)."""
        hit = self.run.deadline_passed()
        seconds = time.monotonic() - self.began
        failure = self.run.failed(self.provider, exc, seconds, deadline_hit=hit)
        if self.released:
            self.progress.broke = self.run.attempts[-1]
        return failure

    def after(self, exc: Exception, failure: Failure) -> float | None:
        """What follows a failure health has been told of: a wait before the next attempt, or
        None; raises when the stream must end here."""
        progress = self.progress
        if not progress.sent:
            return self.run.after_failure(self.provider, exc, failure)
        if self.released:  # broke mid-answer: the source's edge policy decides (with
            # fallback=False the plan holds no backup, so nothing can continue it)
            edge = self.run.resolver.edge_policy.get(self.provider.id)
            if edge is None or edge.mid_stream != "continue":
                raise progress.interrupted() from exc
            progress.continued_from.append(self.provider.id)
        try:
            return self.run.after_failure(self.provider, exc, failure)
        except Exception as error:
            if error is exc:
                raise progress.interrupted() from exc
            raise

    def served(self, result: StreamResult) -> None:
        run = self.run
        run.succeeded(self.provider, result, time.monotonic() - self.began, result.status)
        self.progress.outcome = run.outcome(self.provider, result)


def _close(iterator: object) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


async def _aclose(iterator: object) -> None:
    close = getattr(iterator, "aclose", None) or getattr(iterator, "close", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result


# --- the loops ---------------------------------------------------------------------------------


def _drive(
    progress: _Progress[T],
    model_id: str,
    fn: StreamFn[T],
    resolver: Resolver | None,
    environ: Mapping[str, str] | None,
    deadline_s: float | None,
    on_event: Listener | None,
    classify: Classify | None,
) -> Generator[T, None, None]:
    run = _Run(
        model_id,
        or_default(resolver),
        environ,
        deadline_s,
        on_event,
        classify,
        progress.plan(),
        stream=True,
    )
    progress.start(run)
    run.size = progress.size
    health = run.resolver.health
    error: BaseException | None = None
    try:
        while (picked := run.next_provider()) is not None:
            leg = _Leg(progress, picked[0])
            provider = leg.provider
            upstream: Iterator[T] | None = None
            try:
                _raise_forced(provider)
                token = _deadline.set(run.deadline)  # time_left() inside fn
                try:
                    upstream = iter(fn(provider, "".join(progress.parts)))
                finally:
                    _deadline.reset(token)
                if progress.bounded:  # the built-in client never asks time_left() between chunks
                    for item in upstream:
                        if (out := leg.take(item)) is not None:
                            yield from out
                else:
                    while True:
                        token = _deadline.set(run.deadline)  # time_left() inside fn
                        try:
                            item = next(upstream)
                        except StopIteration:
                            break
                        finally:
                            _deadline.reset(token)
                        if (out := leg.take(item)) is not None:
                            yield from out
                result = leg.finish()
            except Exception as exc:
                failure = leg.failed(exc)
                if failure is not None:
                    state = health.record_failure(provider.id, failure.error_class, failure.detail)
                    run.health_told(provider.id, state)
                    wait = leg.after(exc, failure)
                    if wait:
                        time.sleep(wait)
                continue
            finally:
                _close(upstream)  # at once, also when the caller stopped reading
            health.record_success(provider.id)
            leg.served(result)
            return
        raise progress.ended() from run.last_exc
    except BaseException as exc:  # GeneratorExit too: the caller closed the stream
        error = exc
        raise
    finally:
        run.end(error)  # a stream closed or cancelled mid-attempt is no longer in flight


async def _adrive(
    progress: _Progress[T],
    model_id: str,
    fn: AStreamFn[T],
    resolver: Resolver | None,
    environ: Mapping[str, str] | None,
    deadline_s: float | None,
    on_event: Listener | None,
    classify: Classify | None,
) -> AsyncGenerator[T, None]:
    import asyncio

    resolver = or_default(resolver)
    plan = progress.plan()
    if plan is None:
        plan = await resolver._aplan(model_id, _environ(environ))
    run = _Run(model_id, resolver, environ, deadline_s, on_event, classify, plan, stream=True)
    progress.start(run)
    run.size = progress.size
    health = resolver.health
    error: BaseException | None = None
    try:
        while (picked := await run.anext_provider()) is not None:
            leg = _Leg(progress, picked[0])
            provider = leg.provider
            upstream: AsyncIterator[T] | None = None
            try:
                _raise_forced(provider)
                token = _deadline.set(run.deadline)  # time_left() inside fn
                try:
                    opened = fn(provider, "".join(progress.parts))
                    if inspect.isawaitable(opened):
                        opened = await opened
                finally:
                    _deadline.reset(token)
                upstream = aiter(opened)
                if progress.bounded and run.deadline is None:
                    # The built-in client's reads are bounded by first_token_timeout_s already:
                    # without a deadline it needs no timer per chunk, and a plain loop costs least.
                    async for item in upstream:
                        if (out := leg.take(item)) is not None:
                            for released in out:
                                yield released
                else:
                    # Each chunk must come before the stall limit and the deadline: a silent
                    # upstream is interrupted, whatever fn does.
                    while True:
                        scope = asyncio.timeout_at(_loop_time(leg.limit()))
                        token = _deadline.set(run.deadline)
                        try:
                            async with scope:
                                item = await anext(upstream)
                        except StopAsyncIteration:
                            break
                        except TimeoutError:
                            if scope.expired():
                                raise leg.stalled() from None
                            raise
                        finally:
                            _deadline.reset(token)
                        if (out := leg.take(item)) is not None:
                            for released in out:
                                yield released
                result = leg.finish()
            except Exception as exc:
                failure = leg.failed(exc)
                if failure is not None:
                    state = await health.arecord_failure(
                        provider.id, failure.error_class, failure.detail
                    )
                    run.health_told(provider.id, state)
                    wait = leg.after(exc, failure)
                    if wait:
                        await asyncio.sleep(wait)
                continue
            finally:
                await _aclose(upstream)  # at once, also when the caller stopped or was cancelled
            await health.arecord_success(provider.id)
            leg.served(result)
            return
        raise progress.ended() from run.last_exc
    except BaseException as exc:  # GeneratorExit too: the caller closed the stream
        error = exc
        raise
    finally:
        run.end(error)  # a stream closed or cancelled mid-attempt is no longer in flight


# --- the public iterators ----------------------------------------------------------------------


class _Watched(Generic[T]):
    """What both stream kinds tell of the call under way."""

    _progress: _Progress[T]

    @property
    def provider(self) -> Provider | None:
        """Who serves: set when the first content chunk is released, None before."""
        return self._progress.provider

    @property
    def outcome(self) -> Outcome[StreamResult] | None:
        """The full outcome (usage, cost, attempts) once the stream has ended, None before."""
        return self._progress.outcome

    @property
    def content(self) -> str:
        """The text received so far."""
        return "".join(self._progress.parts)

    @property
    def skipped(self) -> tuple[Skip, ...]:
        """The deployments passed over so far without a call, each with why (known before the
        first chunk for those ahead of the one serving: a gateway sends them as headers)."""
        run = self._progress.run
        return () if run is None else tuple(run.skipped)


class FallbackStream(_Watched[T]):
    """The chunks of a stream carried through the chain. Use it in a ``with`` block (or call
    :meth:`close`) so a stream you stop reading is closed upstream at once."""

    def __init__(self, progress: _Progress[T], chunks: Generator[T, None, None]) -> None:
        self._progress = progress
        self._chunks = chunks

    def __iter__(self) -> Iterator[T]:
        return self._chunks

    def __next__(self) -> T:
        return next(self._chunks)

    def close(self) -> None:
        """Stop: the upstream connection is closed and nothing counts against its health."""
        self._chunks.close()

    def __enter__(self) -> FallbackStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncFallbackStream(_Watched[T]):
    """:class:`FallbackStream` for ``async for``; use it in an ``async with`` block (or call
    :meth:`aclose`). Cancelling the task reading it closes the upstream at once."""

    def __init__(self, progress: _Progress[T], chunks: AsyncGenerator[T, None]) -> None:
        self._progress = progress
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[T]:
        return self._chunks

    async def __anext__(self) -> T:
        return await anext(self._chunks)

    async def aclose(self) -> None:
        """Stop: the upstream connection is closed and nothing counts against its health."""
        await self._chunks.aclose()

    async def __aenter__(self) -> AsyncFallbackStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def stream_with_fallback(
    model_id: str,
    fn: StreamFn[T],
    *,
    resolver: Resolver | None = None,
    environ: Mapping[str, str] | None = None,
    deadline_s: float | None = None,
    on_event: Listener | None = None,
    classify: Classify | None = None,
    fallback: bool = True,
) -> FallbackStream[T]:
    """Stream ``fn(provider, partial)`` from ``model_id``, falling back until the first content.

    ``fn`` returns an iterable of chunks: the ``openai`` SDK's stream, dicts of the same shape,
    :class:`ChatChunk` or plain strings of text. ``partial`` is ``""``, or the text the caller
    already has when a ``mid_stream: continue`` edge hands a broken stream to a backup: ask
    that backup to continue it. The other keywords are :func:`resolver.call_with_fallback`'s;
    ``fallback=False`` tries ``model_id`` alone. Nothing is sent before the first ``next()``.
    A sync ``fn`` cannot be interrupted: bound its reads (:func:`resolver.time_left`), as
    :func:`chat_stream` does with ``first_token_timeout_s``.
    """
    progress: _Progress[T] = _Progress(fallback, None)
    chunks = _drive(progress, model_id, fn, resolver, environ, deadline_s, on_event, classify)
    return FallbackStream(progress, chunks)


def astream_with_fallback(
    model_id: str,
    fn: AStreamFn[T],
    *,
    resolver: Resolver | None = None,
    environ: Mapping[str, str] | None = None,
    deadline_s: float | None = None,
    on_event: Listener | None = None,
    classify: Classify | None = None,
    fallback: bool = True,
) -> AsyncFallbackStream[T]:
    """:func:`stream_with_fallback` for an ``fn`` returning an async iterable (or a coroutine
    that returns one, like ``AsyncOpenAI().chat.completions.create(stream=True)``). The wait
    for the first token and the deadline interrupt a stalled ``fn``."""
    progress: _Progress[T] = _Progress(fallback, None)
    chunks = _adrive(progress, model_id, fn, resolver, environ, deadline_s, on_event, classify)
    return AsyncFallbackStream(progress, chunks)


def chat_stream(
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
) -> FallbackStream[ChatChunk]:
    """Stream a chat completion from ``model_id`` through its chain, as :class:`ChatChunk`.

    The keywords are :func:`resolver.chat`'s, plus ``fallback``. Usage is asked for
    (``stream_options.include_usage``) unless you pass ``stream_options`` yourself.
    """
    pool = client or default_client()

    def open_stream(provider: Provider, partial: str) -> Iterator[ChatChunk]:
        return _sse(pool, provider, _chat_request(provider, messages, params, environ, partial))

    progress: _Progress[ChatChunk] = _Progress(fallback, 200, bounded=True)
    progress.size = _size(resolver, messages, params)
    chunks = _drive(
        progress, model_id, open_stream, resolver, environ, deadline_s, on_event, classify
    )
    return FallbackStream(progress, chunks)


def achat_stream(
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
) -> AsyncFallbackStream[ChatChunk]:
    """:func:`chat_stream` for ``async for``."""
    pool = client or default_client()

    async def open_stream(provider: Provider, partial: str) -> AsyncIterator[ChatChunk]:
        return _asse(pool, provider, _chat_request(provider, messages, params, environ, partial))

    progress: _Progress[ChatChunk] = _Progress(fallback, 200, bounded=True)
    progress.size = _size(resolver, messages, params)
    chunks = _adrive(
        progress, model_id, open_stream, resolver, environ, deadline_s, on_event, classify
    )
    return AsyncFallbackStream(progress, chunks)


def _size(
    resolver: Resolver | None, messages: Sequence[Any], params: Mapping[str, Any]
) -> Size | None:
    """The request's size, for budgets to estimate from (None: no budget to estimate for)."""
    return sized(messages, params) if or_default(resolver).budgets else None


# --- the built-in client's streams ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    """One stream's request, with its time bounds taken when the attempt starts (where the
    call's deadline is known): the generator that sends it runs later, outside that context."""

    url: str
    headers: dict[str, str]
    body: bytes
    left: float | None
    """What was left of the deadline (None: no deadline)."""
    connect: float
    """Connecting and sending take at most timeout_s."""
    read: float
    """Each read waits at most first_token_timeout_s (a silent upstream is a stall); timeout_s
    does not bound the whole answer, which a stream may rightly exceed."""


def _chat_request(
    provider: Provider,
    messages: Sequence[Any],
    params: Mapping[str, Any],
    environ: Mapping[str, str] | None,
    partial: str,
) -> _Request:
    if partial:  # continuing a broken answer: it is the assistant's, to be carried on
        messages = [*messages, {"role": "assistant", "content": partial}]
    body = {"stream_options": {"include_usage": True}, **params, "stream": True}
    url, headers, content = _request(provider, messages, body, environ)
    headers["Accept"] = "text/event-stream"
    left = time_left()
    read = provider.first_token_timeout_s
    if left is not None:
        read = max(0.001, min(read, left))
    return _Request(url, headers, content, left, _timeout(provider), read)


def _stall(provider: Provider, seconds: float) -> ProviderError:
    return ProviderError(
        "timeout",
        f"nothing read for {seconds:g}s (first_token_timeout_s={provider.first_token_timeout_s:g})",
        provider_id=provider.id,
    )


def _secret(headers: Mapping[str, str]) -> str:
    return headers.get("Authorization", "").removeprefix("Bearer ")


def _sse(pool: Client, provider: Provider, request: _Request) -> Iterator[ChatChunk]:
    decoder: SSEDecoder | None = None
    failure: ProviderError | None = None
    left, read, headers = request.left, request.read, request.headers
    # A stream holds one of the client's connections for as long as it is read, like chat().
    if not pool._sync_slots.acquire(timeout=None if left is None else max(0.0, left)):
        raise ProviderError("local", _QUEUED, provider_id=provider.id)
    timeout = httpx.Timeout(request.connect, read=read)
    try:
        with pool.sync.stream(
            "POST", request.url, headers=headers, content=request.body, timeout=timeout
        ) as response:
            if response.status_code >= 400:
                response.read()
                _parse(provider, response.status_code, response.headers, response.content, headers)
            decoder = SSEDecoder(provider.id, _secret(headers))
            # After [DONE], read on to the end of the body so the connection is pooled.
            for piece in response.iter_bytes():
                yield from decoder.feed(piece)
            decoder.end()
    except httpx.HTTPError as exc:
        if decoder is None or not decoder.done:  # past [DONE] the answer is complete
            timed_out = isinstance(exc, httpx.ReadTimeout)
            failure = _stall(provider, read) if timed_out else _transport_error(provider, exc)
    finally:
        pool._sync_slots.release()
    if failure is not None:
        # Raised outside the handler: httpx's error holds the request, Authorization header
        # included, and must not ride along as __context__.
        raise failure


async def _asse(pool: Client, provider: Provider, request: _Request) -> AsyncIterator[ChatChunk]:
    import aiohttp

    from . import admission

    slots = await pool._pool()
    await slots.admit()
    decoder: SSEDecoder | None = None
    failure: ProviderError | None = None
    read, headers = request.read, request.headers
    timeout = aiohttp.ClientTimeout(sock_connect=request.connect, sock_read=read)
    try:
        # Through the pool's post, as achat: a stream started on a pooled connection the
        # server had hung up on is sent again on a fresh one. The mark, this task's own, is
        # where the connector tells post whether the connection had served before.
        with admission.track():
            response = await slots.post(request.url, headers, request.body, timeout)
        async with response:
            if response.status >= 400:
                content = await response.read()
                _parse(provider, response.status, response.headers, content, headers)
            decoder = SSEDecoder(provider.id, _secret(headers))
            # After [DONE], read on to the end of the body so the connection is pooled.
            async for piece in response.content.iter_any():
                for chunk in decoder.feed(piece):
                    yield chunk
            decoder.end()
    except (aiohttp.ClientError, TimeoutError) as exc:
        if decoder is None or not decoder.done:  # past [DONE] the answer is complete
            timed_out = isinstance(exc, TimeoutError)
            failure = _stall(provider, read) if timed_out else _transport_error(provider, exc)
    finally:
        slots.leave()
    if failure is not None:
        # Raised outside the handler: aiohttp's errors hold the request's headers, key
        # included, and must not ride along as __context__.
        raise failure
