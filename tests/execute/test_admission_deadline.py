"""The deadline of an achat call counts the time it waits in our own admission, before its turn
to start and for a connection; a call that waits past it was never sent and costs the provider
nothing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from conftest import MESSAGES, PRIMARY

from resolver import FallbackExhausted, Outcome, achat
from resolver.http import STARTS_PER_TURN, Client

LATE = 20


def _only_attempt(result: Any) -> tuple[str, str | None, bool]:
    assert isinstance(result, FallbackExhausted), repr(result)
    (attempt,) = result.attempts
    return attempt.provider_id, attempt.error_class, attempt.sent


def test_call_kept_waiting_to_start_past_its_deadline_is_never_sent(roomy, chat_server, keys):
    """In a burst larger than one loop turn's starts, calls whose turn comes after their 0.2 s
    deadline (the loop was held up 0.3 s) end at once as class local, not sent, with no backup
    tried and nothing charged to the primary's health."""
    r = roomy.with_health()

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        # Runs in the turn after the calls' first steps: the turn that lets the next calls in.
        loop.call_soon(lambda: loop.call_soon(time.sleep, 0.3))
        async with Client() as pool:
            calls = [
                achat(PRIMARY, MESSAGES, resolver=r, environ=keys, client=pool, deadline_s=0.2)
                for _ in range(STARTS_PER_TURN + LATE)
            ]
            return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())

    assert [_only_attempt(x) for x in results[STARTS_PER_TURN:]] == [
        (PRIMARY, "local", False)
    ] * LATE
    assert all("for its turn to start" in str(x) for x in results[STARTS_PER_TURN:])
    assert r.health.state(PRIMARY).failures == 0
    assert len(chat_server.requests) <= STARTS_PER_TURN


def test_call_waiting_for_a_connection_past_its_deadline_is_never_sent(roomy, chat_server, keys):
    """With a pool of one connection held by a slow answer, a second call whose deadline passes
    while it waits for the connection ends as class local, not sent, and is not charged."""
    r = roomy.with_health()
    chat_server.set_fault(r.providers[PRIMARY].model, "slow", delay_s=1.0)

    async def main() -> tuple[Any, Any]:
        async with Client(max_connections=1) as pool:
            first = asyncio.ensure_future(
                achat(PRIMARY, MESSAGES, resolver=r, environ=keys, client=pool, deadline_s=5)
            )
            await asyncio.sleep(0.1)  # the first call holds the connection
            try:
                second: Any = await achat(
                    PRIMARY, MESSAGES, resolver=r, environ=keys, client=pool, deadline_s=0.3
                )
            except FallbackExhausted as exc:
                second = exc
            return await first, second

    first, second = asyncio.run(main())

    assert isinstance(first, Outcome)
    assert first.served_by == PRIMARY
    assert _only_attempt(second) == (PRIMARY, "local", False)
    assert r.health.state(PRIMARY).failures == 0
    assert len(chat_server.requests) == 1
