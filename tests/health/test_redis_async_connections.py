"""Async health calls made in one event loop share one connection to Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis
from conftest import PRIMARY, OwnRedis

import resolver

_SCRIPT_COMMANDS = {"evalsha", "eval", "script|load"}


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
            # A busy machine must not turn a slow answer into an outage (health kept in-process,
            # no connection at all): this test is about reuse, not timeouts.
            "policy.health.timeout_s=10",
        ]
    )
    watcher = redis.Redis.from_url(server.url)

    async def calls() -> int:
        for _ in range(10):
            await r.health.ain_rotation(PRIMARY)
            await r.health.arecord_failure(PRIMARY, "server", "503")
        await asyncio.sleep(0.05)  # a connection being closed is not one kept open
        # Only connections that ran the resolver's scripts: not the watcher's own, nor one left
        # over from the fixture's start-up probe.
        return sum(c["cmd"] in _SCRIPT_COMMANDS for c in watcher.client_list())

    assert asyncio.run(calls()) == 1
