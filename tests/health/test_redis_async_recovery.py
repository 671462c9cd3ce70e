"""An outage met by async calls ends for async calls too: once retry_s has passed and Redis
answers, an async lookup goes back to the shared health, without any sync call."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
from conftest import PRIMARY, OwnRedis

import resolver
from resolver.testing import mark_unhealthy


def _shared(url: str, namespace: str) -> resolver.Resolver:
    return resolver.load(
        overrides=[
            "policy.health.store=redis",
            f"policy.health.url={url}",
            f"policy.health.namespace={namespace}",
            "policy.health.retry_s=0.2",
        ]
    )


def test_async_lookups_return_to_redis_after_an_outage(
    own_redis: Callable[..., OwnRedis], namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """After an outage seen only by async lookups, the first async lookup past retry_s with
    Redis back logs that health is shared again and answers from Redis."""
    server = own_redis()
    r = _shared(server.url, namespace)
    server.stop()
    assert asyncio.run(r.health.ain_rotation(PRIMARY))
    assert not r.health.shared
    server.start()
    mark_unhealthy(_shared(server.url, namespace), PRIMARY)  # another process's view
    time.sleep(0.3)
    caplog.set_level(logging.WARNING, logger="resolver")
    caplog.clear()
    assert not asyncio.run(r.health.ain_rotation(PRIMARY))
    assert r.health.shared
    assert [rec.getMessage() for rec in caplog.records] == [
        f"health store {server.url} is back: health is shared again"
    ]
