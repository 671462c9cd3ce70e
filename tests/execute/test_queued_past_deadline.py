"""A call that waits for its model's max_concurrency slot until its deadline passes says, in
its attempt and in the error raised, that it was never sent and why."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import PRIMARY

from resolver import FallbackExhausted, Provider, acall_with_fallback, call_with_fallback
from resolver.testing import ChatServer, make_resolver

NEVER_SENT = "never sent: waited in our own queue until the deadline of 0.2s passed"


def capped(chat_server: ChatServer) -> Any:
    return make_resolver(
        env="prod",
        overrides=[*chat_server.overrides(), f"++models={{{PRIMARY}: {{max_concurrency: 1}}}}"],
    )


def check(caught: pytest.ExceptionInfo[FallbackExhausted]) -> None:
    (attempt,) = caught.value.attempts
    assert (attempt.provider_id, attempt.error_class, attempt.sent) == (PRIMARY, "local", False)
    assert attempt.message == NEVER_SENT
    assert "deadline of 0.2s reached while queued" in str(caught.value)


def test_a_sync_call_queued_past_its_deadline_says_it_was_never_sent(chat_server, keys) -> None:
    """A sync call_with_fallback queued behind a call that holds the only slot ends, at its
    0.2 s deadline, with a 'local' attempt saying it was never sent."""
    r = capped(chat_server)
    holding, release = threading.Event(), threading.Event()

    def hold(provider: Provider) -> str:
        holding.set()
        release.wait(10)
        return provider.id

    with ThreadPoolExecutor(1) as threads:
        first = threads.submit(call_with_fallback, PRIMARY, hold, resolver=r, environ=keys)
        assert holding.wait(10)
        with pytest.raises(FallbackExhausted) as caught:
            call_with_fallback(PRIMARY, hold, resolver=r, environ=keys, deadline_s=0.2)
        release.set()
        first.result()
    check(caught)


def test_an_async_call_queued_past_its_deadline_says_it_was_never_sent(chat_server, keys) -> None:
    """An acall_with_fallback queued behind a call that holds the only slot ends, at its 0.2 s
    deadline, with a 'local' attempt saying it was never sent."""
    r = capped(chat_server)

    async def main() -> pytest.ExceptionInfo[FallbackExhausted]:
        holding, release = asyncio.Event(), asyncio.Event()

        async def hold(provider: Provider) -> str:
            holding.set()
            await release.wait()
            return provider.id

        first = asyncio.create_task(acall_with_fallback(PRIMARY, hold, resolver=r, environ=keys))
        await holding.wait()
        with pytest.raises(FallbackExhausted) as caught:
            await acall_with_fallback(PRIMARY, hold, resolver=r, environ=keys, deadline_s=0.2)
        release.set()
        await first
        return caught

    check(asyncio.run(main()))
