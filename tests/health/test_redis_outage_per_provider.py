"""While Redis is down, each provider's health is kept in the process under its own id: one
provider's failures, success or reset never stand for another's, sync or async."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from conftest import BACKUP, PRIMARY, OwnRedis

import resolver


def local_after_outage(
    own_redis: Callable[..., OwnRedis], namespace: str, retry_s: float = 60
) -> tuple[resolver.Resolver, OwnRedis]:
    server = own_redis()
    r = resolver.load(
        overrides=[
            "policy.health.store=redis",
            f"policy.health.url={server.url}",
            f"policy.health.namespace={namespace}",
            f"policy.health.retry_s={retry_s}",
        ]
    )
    server.stop()
    return r, server


def test_during_an_outage_each_provider_keeps_its_own_health(
    own_redis: Callable[..., OwnRedis], namespace: str
) -> None:
    """With Redis down, a provider failed three times is out (sync and async lookups, acquire,
    state), its backup stays in, and a success or reset of one brings back only that one."""
    r, _ = local_after_outage(own_redis, namespace)
    for provider_id in (PRIMARY, BACKUP):
        for _ in range(3):
            r.health.record_failure(provider_id, "server", "503")

    assert not r.health.in_rotation(PRIMARY)
    assert not asyncio.run(r.health.ain_rotation(PRIMARY))
    assert asyncio.run(r.health.aacquire(PRIMARY)) == "out"
    state = asyncio.run(r.health.astate(PRIMARY))
    assert (state.provider_id, state.failures, state.last_error) == (PRIMARY, 3, "server 503")

    r.health.record_success(PRIMARY)
    assert r.health.in_rotation(PRIMARY)
    assert not r.health.in_rotation(BACKUP)
    for _ in range(3):
        r.health.record_failure(PRIMARY, "server", "503")
    r.health.reset(BACKUP)
    assert r.health.in_rotation(BACKUP)
    assert not r.health.in_rotation(PRIMARY)
    r.health.reset()  # every provider, with nothing shared to reach: no error either
    assert r.health.in_rotation(PRIMARY)


def test_an_uncounted_error_during_an_outage_reports_the_provider(
    own_redis: Callable[..., OwnRedis], namespace: str
) -> None:
    """With Redis down, arecord_failure of an error class the policy does not count returns
    that provider's unchanged state."""
    r, _ = local_after_outage(own_redis, namespace)
    state = asyncio.run(r.health.arecord_failure(PRIMARY, "bad_request", "400"))
    assert (state.provider_id, state.failures) == (PRIMARY, 0)


def test_redis_is_not_tried_again_before_retry_s(
    own_redis: Callable[..., OwnRedis], namespace: str
) -> None:
    """After an outage is met, health stays in the process for retry_s even if Redis is back
    sooner (shared again after retry_s: health/test_redis_shared.py)."""
    r, server = local_after_outage(own_redis, namespace)
    r.health.in_rotation(PRIMARY)  # meets the outage
    server.start()
    assert r.health.in_rotation(PRIMARY)
    assert not r.health.shared
    assert "in-process until Redis is back" in repr(r.health)
