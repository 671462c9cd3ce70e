"""Details the in-process health store reports: the last error without a detail, and the end
of a failed probe."""

from __future__ import annotations

import asyncio

from resolver.health import HealthPolicy, MemoryHealthStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_failure_without_detail_is_kept_as_its_class_alone():
    """record_failure and arecord_failure without a detail keep the error class alone as the
    last error."""
    store = MemoryHealthStore(HealthPolicy())
    assert store.record_failure("m", "timeout").last_error == "timeout"
    assert asyncio.run(store.arecord_failure("n", "connection")).last_error == "connection"


def test_a_failed_probe_is_no_longer_in_flight():
    """After the probe fails the model is out again, described by its failures, with no probe
    in flight."""
    clock = Clock()
    store = MemoryHealthStore(HealthPolicy(cooldown_s=10, max_cooldown_s=100), clock=clock)
    for _ in range(3):
        store.record_failure("m", "server", "500")
    clock.now += 11
    assert store.acquire("m") == "probe"
    assert store.state("m").probing

    after = store.record_failure("m", "server", "502")

    assert (after.probing, after.in_rotation, after.failures) == (False, False, 4)
    assert after.describe() == "out of rotation for 20 s after 4 failures (last: server 502)"
