"""How a provider's health reads in words (the reason a skipped step shows): in rotation with
the failures so far, or out of rotation while its probe is in flight."""

from __future__ import annotations

from resolver import HealthState, MemoryHealthStore
from resolver.catalog import HealthPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_provider_in_rotation_reads_as_such_with_its_failures_so_far() -> None:
    """A provider with no failures reads "in rotation"; one with failures under the threshold
    also says how many in a row."""
    store = MemoryHealthStore(HealthPolicy(failure_threshold=3))
    assert store.state("m").describe() == "in rotation"
    store.record_failure("m", "server", "503")
    store.record_failure("m", "timeout")
    assert store.state("m").describe() == "in rotation (2 failure(s) in a row)"
    assert HealthState("m").describe() == "in rotation"


def test_a_provider_being_probed_reads_as_out_with_its_probe_in_flight() -> None:
    """While the one probe after a cooldown is in flight, the provider reads as out of rotation
    with its probe in flight and the last error."""
    clock = Clock()
    store = MemoryHealthStore(HealthPolicy(cooldown_s=10, max_cooldown_s=100), clock=clock)
    for _ in range(3):
        store.record_failure("m", "server", "500")
    clock.now += 11
    assert store.acquire("m") == "probe"
    assert store.state("m").describe() == (
        "out of rotation for 10 s probe in flight (last: server 500)"
    )
