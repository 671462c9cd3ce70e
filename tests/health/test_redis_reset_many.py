"""reset() clears a namespace however many providers it holds, in batches, and leaves the
namespace empty on Redis."""

from __future__ import annotations

import redis
from conftest import PRIMARY

import resolver


def test_a_reset_of_all_clears_more_providers_than_one_batch(
    redis_url: str, namespace: str
) -> None:
    """reset() of a namespace holding 1201 providers' health (more than two batches of 500)
    leaves none of their keys on Redis, and a provider out before is in rotation again."""
    r = resolver.load(
        overrides=[
            "policy.health.store=redis",
            f"policy.health.url={redis_url}",
            f"policy.health.namespace={namespace}",
        ]
    )
    for i in range(1200):
        r.health.record_failure(f"model-{i}", "server", "503")
    for _ in range(3):
        r.health.record_failure(PRIMARY, "server", "503")
    client = redis.Redis.from_url(redis_url)
    prefix = f"resolver:health:{namespace}:"
    assert len(list(client.scan_iter(match=prefix + "*", count=1000))) == 1201

    r.health.reset()

    assert list(client.scan_iter(match=prefix + "*", count=1000)) == []
    assert r.health.in_rotation(PRIMARY)
