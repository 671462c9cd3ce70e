"""Cooldowns, probe leases and key lifetimes reach Redis in milliseconds of the policy that
wrote them, and a Redis that does not answer costs one timeout per call, never a retry."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import PRIMARY

import resolver


def worker(url: str, namespace: str, *settings: str) -> resolver.Resolver:
    return resolver.load(
        overrides=[
            "policy.health.store=redis",
            f"policy.health.url={url}",
            f"policy.health.namespace={namespace}",
            *settings,
        ]
    )


def test_a_cooldown_and_its_key_last_as_long_as_the_policy_says(
    redis_url: str, namespace: str
) -> None:
    """A provider taken out under cooldown_s=1000 is out for 1000 s, and its key lives that
    cooldown plus max_cooldown_s (2000 s); the failure returned names the provider."""
    import redis

    r = worker(
        redis_url, namespace, "policy.health.cooldown_s=1000", "policy.health.max_cooldown_s=2000"
    )
    states = [r.health.record_failure(PRIMARY, "server", "503") for _ in range(3)]
    assert [s.provider_id for s in states] == [PRIMARY] * 3
    assert 999 < states[-1].out_for_s <= 1000
    ttl = redis.Redis.from_url(redis_url).pttl(f"resolver:health:{namespace}:{PRIMARY}")
    assert 2_999_000 < ttl <= 3_000_000


def test_a_probe_lease_and_a_failed_probe_follow_the_probing_workers_policy(
    redis_url: str, namespace: str
) -> None:
    """A worker whose cooldown is 1000 s that takes the probe (async) holds it for 1000 s, and
    when the probe fails the doubled cooldown is capped at its max_cooldown_s of 1500 s."""
    quick = worker(redis_url, namespace, "policy.health.cooldown_s=0.1")
    slow = worker(
        redis_url,
        namespace,
        "policy.health.cooldown_s=1000",
        "policy.health.max_cooldown_s=1500",
        "policy.health.backoff=100000",
    )
    for _ in range(3):
        quick.health.record_failure(PRIMARY, "server", "503")
    time.sleep(0.2)  # past quick's cooldown: the next caller probes

    assert asyncio.run(slow.health.aacquire(PRIMARY)) == "probe"
    leased = quick.health.state(PRIMARY)
    assert leased.probing
    assert 999 < leased.out_for_s <= 1000
    failed = asyncio.run(slow.health.arecord_failure(PRIMARY, "server", "503"))
    assert failed.provider_id == PRIMARY
    assert 1499 < failed.out_for_s <= 1500


@pytest.fixture
def silent_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """A loopback TCP server that accepts connections and never answers; yields its URL and
    the connections it accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0", accepted
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_silent_redis_costs_one_connection_and_one_timeout(
    silent_server: tuple[str, list[socket.socket]], namespace: str, use_async: bool
) -> None:
    """A lookup on a Redis that accepts but never answers gives up after one timeout, on one
    connection (no retry), and answers from in-process health."""
    url, accepted = silent_server
    r = worker(url, namespace, "policy.health.timeout_s=0.3")
    if use_async:
        assert asyncio.run(r.health.ain_rotation(PRIMARY))
    else:
        assert r.health.in_rotation(PRIMARY)
    time.sleep(0.2)  # let the server thread see any late connection
    assert len(accepted) == 1
