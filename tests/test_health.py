"""The health circuit: out of rotation after consecutive failures, one probe, longer cooldowns."""

from __future__ import annotations

import threading

from resolver.health import HealthPolicy, MemoryHealthStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store(**policy) -> tuple[MemoryHealthStore, Clock]:
    clock = Clock()
    return MemoryHealthStore(HealthPolicy(**policy), clock=clock), clock


def test_three_failures_take_a_provider_out() -> None:
    """The third consecutive failure takes the provider out of rotation for the cooldown."""
    health, _ = store()
    for _ in range(2):
        health.record_failure("m", "server", "503")
        assert health.in_rotation("m")
        assert health.acquire("m") == "ok"
    state = health.record_failure("m", "server", "503")
    assert not health.in_rotation("m")
    assert health.acquire("m") == "out"
    assert state.failures == 3
    assert state.describe() == "out of rotation for 60 s after 3 failures (last: server 503)"


def test_success_resets_the_count() -> None:
    """A success between failures starts the count again."""
    health, _ = store()
    health.record_failure("m", "timeout")
    health.record_failure("m", "timeout")
    health.record_success("m")
    health.record_failure("m", "timeout")
    health.record_failure("m", "timeout")
    assert health.in_rotation("m")
    assert health.state("m").failures == 2


def test_request_errors_never_count() -> None:
    """bad_request, context_window and content_policy failures do not count against health."""
    health, _ = store()
    for cls in ("bad_request", "context_window", "content_policy") * 3:
        health.record_failure("m", cls)
    assert health.in_rotation("m")
    assert health.state("m").failures == 0


def test_one_probe_after_the_cooldown() -> None:
    """After the cooldown exactly one caller probes; a good probe puts it back in rotation."""
    health, clock = store(cooldown_s=10)
    for _ in range(3):
        health.record_failure("m", "server")
    clock.now += 10
    assert health.in_rotation("m")  # lookups may offer it again...
    assert health.acquire("m") == "probe"  # ...the first call probes...
    assert health.acquire("m") == "out"  # ...and everyone else waits for the probe
    health.record_success("m")
    assert health.acquire("m") == "ok"
    assert health.state("m").failures == 0


def test_failed_probe_backs_off_up_to_the_cap() -> None:
    """Each failed probe doubles the cooldown, never past max_cooldown_s."""
    health, clock = store(cooldown_s=10, max_cooldown_s=25)
    for _ in range(3):
        health.record_failure("m", "server")
    lengths = []
    for _ in range(3):
        clock.now += 1000
        assert health.acquire("m") == "probe"
        lengths.append(health.record_failure("m", "timeout").out_for_s)
    assert lengths == [20, 25, 25]


def test_a_lost_probe_lapses() -> None:
    """A probe whose caller never reports back lets another caller probe after a cooldown."""
    health, clock = store(cooldown_s=10)
    for _ in range(3):
        health.record_failure("m", "server")
    clock.now += 10
    assert health.acquire("m") == "probe"
    clock.now += 10
    assert health.acquire("m") == "probe"


def test_reset_puts_providers_back() -> None:
    """reset() returns one provider, or all of them, to rotation."""
    health, _ = store()
    for pid in ("a", "b"):
        for _ in range(3):
            health.record_failure(pid, "server")
    health.reset("a")
    assert health.in_rotation("a")
    assert not health.in_rotation("b")
    health.reset()
    assert health.in_rotation("b")


def test_no_lost_updates_across_threads() -> None:
    """Concurrent failures from many threads are all counted."""
    health, _ = store(failure_threshold=10_000)
    barrier = threading.Barrier(8)

    def fail() -> None:
        barrier.wait()
        for _ in range(500):
            health.record_failure("m", "server")

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert health.state("m").failures == 4000
