"""A call whose provider is still answering when the deadline passes says the deadline was
reached, as a timeout of that provider, without calling it queued."""

from __future__ import annotations

import asyncio

import pytest
from conftest import PRIMARY

from resolver import FallbackExhausted, Provider, Resolver, acall_with_fallback


def test_a_deadline_reached_while_answering_is_a_timeout(roomy: Resolver, keys) -> None:
    """An async call whose provider takes longer than its 0.2 s deadline ends with one timeout
    attempt and says 'deadline of 0.2s reached', not 'while queued'."""

    async def slow(provider: Provider) -> None:
        await asyncio.sleep(5)

    with pytest.raises(FallbackExhausted) as caught:
        asyncio.run(
            acall_with_fallback(PRIMARY, slow, resolver=roomy, environ=keys, deadline_s=0.2)
        )

    (attempt,) = caught.value.attempts
    assert (attempt.provider_id, attempt.error_class, attempt.sent) == (PRIMARY, "timeout", True)
    assert f"{PRIMARY}: no provider served (deadline of 0.2s reached):" in str(caught.value)
