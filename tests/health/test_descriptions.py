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


def test_a_failure_returns_the_providers_state_whether_it_counts_or_not() -> None:
    """record_failure returns the provider's own state: its id and failures with a counted
    failure, and the unchanged state with a failure of a class that does not count."""
    store = MemoryHealthStore(HealthPolicy(failure_threshold=3))
    counted = store.record_failure("m", "server", "503")
    assert (counted.provider_id, counted.failures, counted.last_error) == ("m", 1, "server 503")
    ignored = store.record_failure("m", "bad_request", "400")
    assert (ignored.provider_id, ignored.failures, ignored.last_error) == ("m", 1, "server 503")


def test_all_in_rotation_is_true_again_once_every_provider_taken_out_is_back() -> None:
    """all_in_rotation turns False when a provider is taken out and True again once it (and
    every other provider taken out) has succeeded or been reset."""
    clock = Clock()
    store = MemoryHealthStore(HealthPolicy(failure_threshold=1, cooldown_s=10), clock=clock)
    assert store.all_in_rotation
    store.record_failure("a", "server")
    store.record_failure("b", "server")
    assert not store.all_in_rotation
    clock.now += 11
    assert store.acquire("a") == "probe"
    store.record_success("a")
    assert not store.all_in_rotation  # b is still out
    store.reset("b")
    assert store.all_in_rotation
    store.record_failure("a", "server")
    clock.now += 11
    store.acquire("a")
    store.record_success("a")
    assert store.all_in_rotation
