"""The shared store while Redis is up and while it is down: async writes reach Redis, and an
outage keeps health in the process with the same details."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from conftest import PRIMARY, OwnRedis

import resolver


def shared(url: str, namespace: str) -> resolver.Resolver:
    return resolver.load(
        overrides=[
            "policy.health.store=redis",
            f"policy.health.url={url}",
            f"policy.health.namespace={namespace}",
            "policy.health.retry_s=60",
        ]
    )


def test_async_failures_reach_the_other_workers(redis_url: str, namespace: str) -> None:
    """Failures recorded through the async methods are in Redis: another worker's resolver
    sees the model out of rotation, and the async state names the model."""
    one, other = shared(redis_url, namespace), shared(redis_url, namespace)

    async def fail_three_times() -> None:
        for _ in range(3):
            await one.health.arecord_failure(PRIMARY, "server", "503")

    asyncio.run(fail_three_times())

    assert not other.health.in_rotation(PRIMARY)
    state = asyncio.run(one.health.astate(PRIMARY))
    assert (state.provider_id, state.failures, state.last_error) == (PRIMARY, 3, "server 503")
    assert "on Redis" in repr(one.health)


def test_a_failure_without_detail_is_kept_as_its_class_alone(
    redis_url: str, namespace: str
) -> None:
    """record_failure and arecord_failure without a detail keep the error class alone."""
    r = shared(redis_url, namespace)
    asyncio.run(r.health.arecord_failure(PRIMARY, "timeout"))
    assert r.health.state(PRIMARY).last_error == "timeout"
    r.health.record_failure(PRIMARY, "connection")
    assert r.health.state(PRIMARY).last_error == "connection"


def test_during_an_outage_async_health_is_kept_in_the_process(
    own_redis: Callable[..., OwnRedis], namespace: str
) -> None:
    """With Redis down, failures and successes (sync and async) go to this process's health
    with their details, a reset does not fail, and the store says where health is kept."""
    server = own_redis()
    r = shared(server.url, namespace)
    server.stop()

    asyncio.run(r.health.arecord_failure(PRIMARY, "server", "502"))
    state = r.health.state(PRIMARY)
    assert (state.provider_id, state.failures, state.last_error) == (PRIMARY, 1, "server 502")
    assert "in-process until Redis is back" in repr(r.health)

    r.health.record_failure(PRIMARY, "timeout", "read")
    assert (r.health.state(PRIMARY).failures, r.health.state(PRIMARY).last_error) == (
        2,
        "timeout read",
    )
    asyncio.run(r.health.arecord_success(PRIMARY))
    assert r.health.state(PRIMARY).failures == 0
    r.health.reset(PRIMARY)  # nothing shared to reset: no error either
