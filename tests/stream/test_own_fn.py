"""stream_with_fallback/astream_with_fallback with a user's own streaming fn: the first-token
clock, stalls, unclassified errors, and time_left inside fn."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from conftest import BACKUP, PRIMARY

from resolver import (
    Provider,
    Resolver,
    astream_with_fallback,
    stream_with_fallback,
    time_left,
)
from resolver.testing import ChatServer, make_resolver


@pytest.fixture(scope="module")
def _resolver() -> Resolver:
    return make_resolver(
        env="prod", overrides=[f"++models={{{PRIMARY}: {{first_token_timeout_s: 0.25}}}}"]
    )


@pytest.fixture
def resolver(_resolver: Resolver) -> Resolver:
    return _resolver.with_health()


def role() -> dict[str, Any]:
    return {"choices": [{"delta": {"role": "assistant", "content": ""}}]}


def reasoning(text: str) -> dict[str, Any]:
    return {"choices": [{"delta": {"reasoning_content": text}}]}


def text(content: str) -> dict[str, Any]:
    return {"choices": [{"delta": {"content": content}}]}


def run(mode: str, resolver: Resolver, plan: dict[str, list[Any]], **kwargs: Any) -> Any:
    """Stream PRIMARY with an fn that plays ``plan[provider id]``: chunks, and floats to sleep.
    Returns the stream after reading it to the end."""

    def fn(provider: Provider, partial: str) -> Iterator[Any]:
        for step in plan[provider.id]:
            if isinstance(step, float):
                time.sleep(step)
            else:
                yield step

    async def afn(provider: Provider, partial: str) -> AsyncIterator[Any]:
        for step in plan[provider.id]:
            if isinstance(step, float):
                await asyncio.sleep(step)
            else:
                yield step

    environ = ChatServer.environ()
    if mode == "sync":
        with stream_with_fallback(PRIMARY, fn, resolver=resolver, environ=environ, **kwargs) as s:
            for _ in s:
                pass
        return s

    async def consume() -> Any:
        stream = astream_with_fallback(PRIMARY, afn, resolver=resolver, environ=environ, **kwargs)
        async with stream:
            async for _ in stream:
                pass
        return stream

    return asyncio.run(consume())


def test_reasoning_tokens_stop_the_first_token_clock(mode, resolver):
    """A model that streams reasoning before its answer is not a stall: reasoning counts as
    the first token, even when the answer itself comes after first_token_timeout_s."""
    plan = {PRIMARY: [role(), reasoning("Let me think."), *[0.1, reasoning(".")] * 4, text("Yes")]}

    stream = run(mode, resolver, plan)

    assert stream.outcome.served_by == PRIMARY
    assert stream.outcome.value.content == "Yes"


def test_chunks_without_a_token_do_not_hold_off_the_stall(mode, resolver):
    """Chunks that carry no token (role-only keep-alives) do not reset the first-token clock:
    past first_token_timeout_s the primary is a stall and the backup serves."""
    plan = {
        PRIMARY: [role(), *[0.1, role()] * 5, text("late")],
        BACKUP: ["Backup ", "says yes."],
    }

    stream = run(mode, resolver, plan)

    assert stream.outcome.served_by == BACKUP
    assert stream.outcome.value.content == "Backup says yes."
    first = stream.outcome.attempts[0]
    assert (first.provider_id, first.error_class) == (PRIMARY, "timeout")
    assert "first_token_timeout_s=0.25" in first.message


def test_a_silent_async_fn_is_interrupted_at_first_token_timeout(resolver):
    """An async fn that never yields is interrupted after first_token_timeout_s, however long
    it would have waited, and the backup serves."""
    plan = {PRIMARY: [30.0, text("never")], BACKUP: ["Backup says yes."]}

    started = time.monotonic()
    stream = run("async", resolver, plan)

    assert time.monotonic() - started < 5.0
    assert stream.outcome.served_by == BACKUP


def test_an_unclassified_error_in_fn_is_reraised_unchanged(mode, resolver):
    """A bug in fn (an exception no rule classifies) is re-raised as it is, and no backup is
    tried: a bug is never hidden behind a fallback."""
    called: list[str] = []

    def broken(provider: Provider, partial: str) -> Iterator[str]:
        called.append(provider.id)
        raise KeyError("typo in my code")

    async def abroken(provider: Provider, partial: str) -> AsyncIterator[str]:
        called.append(provider.id)
        raise KeyError("typo in my code")
        yield ""  # an async generator

    environ = ChatServer.environ()

    async def consume() -> None:
        async for _ in astream_with_fallback(PRIMARY, abroken, resolver=resolver, environ=environ):
            pass

    def sync() -> None:
        list(stream_with_fallback(PRIMARY, broken, resolver=resolver, environ=environ))

    with pytest.raises(KeyError, match="typo"):
        sync() if mode == "sync" else asyncio.run(consume())
    assert called == [PRIMARY]


def test_time_left_inside_fn_counts_down_the_stream_deadline(mode, resolver):
    """time_left() inside a streaming fn tells how much of the call's deadline remains, so fn
    can bound its own reads."""
    seen: list[float | None] = []

    def fn(provider: Provider, partial: str) -> Iterator[str]:
        seen.append(time_left())
        yield "Yes"
        seen.append(time_left())

    async def afn(provider: Provider, partial: str) -> AsyncIterator[str]:
        seen.append(time_left())
        yield "Yes"
        seen.append(time_left())

    environ = ChatServer.environ()
    if mode == "sync":
        list(stream_with_fallback(PRIMARY, fn, resolver=resolver, environ=environ, deadline_s=30))
    else:

        async def consume() -> None:
            stream = astream_with_fallback(
                PRIMARY, afn, resolver=resolver, environ=environ, deadline_s=30
            )
            async for _ in stream:
                pass

        asyncio.run(consume())

    assert len(seen) == 2
    assert all(left is not None and 0 < left <= 30 for left in seen)


def test_content_arriving_after_the_stall_limit_is_not_passed_on(mode, resolver):
    """Content that arrives only after first_token_timeout_s is part of a failed attempt: the
    backup starts from nothing and the answer is the backup's alone."""
    plan = {PRIMARY: [role(), 0.5, text("late")], BACKUP: ["Backup says yes."]}

    stream = run(mode, resolver, plan)

    assert stream.outcome.served_by == BACKUP
    assert stream.outcome.value.content == "Backup says yes."
    assert stream.content == "Backup says yes."


def test_fail_calls_makes_streams_fall_back_too(mode, resolver):
    """resolver.testing.fail_calls fails a stream's attempts on the chosen providers without
    calling fn, so a user's streaming fallback path can be tested without a server."""
    from resolver.testing import fail_calls

    plan = {PRIMARY: ["never called"], BACKUP: ["Backup says yes."]}
    with fail_calls(PRIMARY, error_class="rate_limit"):
        stream = run(mode, resolver, plan)

    assert stream.outcome.served_by == BACKUP
    first = stream.outcome.attempts[0]
    assert (first.provider_id, first.error_class) == (PRIMARY, "rate_limit")
    assert "fail_calls" in first.message
