"""Async health calls made in one event loop share one connection to Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis
from conftest import PRIMARY, OwnRedis

import resolver


def test_async_calls_in_one_loop_reuse_one_connection(
    own_redis: Callable[..., OwnRedis], namespace: str
) -> None:
    """Twenty async lookups and failures in one event loop leave Redis with one connection of
    the resolver's, not one per call."""
    server = own_redis()
    r = resolver.load(
        overrides=[
            "policy.health.store=redis",
            f"policy.health.url={server.url}",
            f"policy.health.namespace={namespace}",
        ]
    )
    watcher = redis.Redis.from_url(server.url)

    async def calls() -> int:
        for _ in range(10):
            await r.health.ain_rotation(PRIMARY)
            await r.health.arecord_failure(PRIMARY, "server", "503")
        return len(watcher.client_list()) - 1  # less the watcher's own

    assert asyncio.run(calls()) == 1
