"""The deadline bounds the whole fallback call, whatever the user's fn does with its time."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import PRIMARY

from resolver import FallbackExhausted, Provider, acall_with_fallback, call_with_fallback

KEYS = {"SYNTHETIC_API_KEY": "k1", "TOGETHER_API_KEY": "k2"}


def test_async_deadline_cancels_a_fn_that_ignores_it(shipped):
    """An async fn that sleeps past deadline_s without reading time_left() is cancelled at the
    deadline, no backup is started, and the provider's health is not charged for our budget."""
    started: list[str] = []

    async def dawdle(provider: Provider) -> str:
        started.append(provider.id)
        await asyncio.sleep(3)
        return provider.id

    began = time.monotonic()
    with pytest.raises(FallbackExhausted) as caught:
        asyncio.run(
            acall_with_fallback(PRIMARY, dawdle, environ=KEYS, deadline_s=0.3, resolver=shipped)
        )
    took = time.monotonic() - began

    assert took < 2.0, f"the 0.3 s deadline returned after {took:.2f} s"
    assert started == [PRIMARY]
    assert "deadline" in caught.value.reason
    assert shipped.health.state(PRIMARY).failures == 0


def test_sync_deadline_starts_no_backup_after_a_fn_that_ignores_it(shipped):
    """A sync fn cannot be interrupted, but once it overran the deadline and failed, no backup
    is started and the provider's health is not charged for the overrun."""
    started: list[str] = []

    def dawdle(provider: Provider) -> str:
        started.append(provider.id)
        time.sleep(0.4)
        raise ConnectionError("gave up late")

    with pytest.raises(FallbackExhausted) as caught:
        call_with_fallback(PRIMARY, dawdle, environ=KEYS, deadline_s=0.2, resolver=shipped)

    assert started == [PRIMARY]
    assert "deadline" in caught.value.reason
    assert shipped.health.state(PRIMARY).failures == 0
