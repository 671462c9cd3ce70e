"""The health circuit, on both stores: out of rotation after consecutive failures, one probe,
longer cooldowns. The same tests run on the in-process store (with a clock the test moves) and on
a real Redis (with real time, so cooldowns are short)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from resolver.health import HealthPolicy, HealthStore, MemoryHealthStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Subject:
    """A store under test and a way to let time pass for it."""

    health: HealthStore
    advance: Callable[[float], None]


MakeStore = Callable[..., Subject]


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[MakeStore]:
    made: list[HealthStore] = []

    def make(**policy: object) -> Subject:
        if request.param == "memory":
            clock = Clock()

            def move(seconds: float) -> None:
                clock.now += seconds

            subject = Subject(MemoryHealthStore(HealthPolicy(**policy), clock=clock), move)
        else:
            from resolver.redis_health import RedisHealthStore

            url = request.getfixturevalue("redis_url")
            ns = request.getfixturevalue("namespace")
            health = RedisHealthStore(HealthPolicy(**policy), namespace=ns, url=url)
            # Redis keeps time on its own clock: real seconds pass (plus a margin for the
            # round trip), which is why the timed tests use cooldowns of a fraction of a second.
            subject = Subject(health, lambda seconds: time.sleep(seconds + 0.01))
        made.append(subject.health)
        return subject

    yield make
    for health in made:
        health.reset()


def test_three_failures_take_a_provider_out(store: MakeStore) -> None:
    """The third consecutive failure takes the provider out of rotation for the cooldown."""
    health = store().health
    for _ in range(2):
        health.record_failure("m", "server", "503")
        assert health.in_rotation("m")
        assert health.acquire("m") == "ok"
    state = health.record_failure("m", "server", "503")
    assert not health.in_rotation("m")
    assert health.acquire("m") == "out"
    assert state.failures == 3
    assert state.describe() == "out of rotation for 60 s after 3 failures (last: server 503)"


def test_success_resets_the_count(store: MakeStore) -> None:
    """A success between failures starts the count again."""
    health = store().health
    health.record_failure("m", "timeout")
    health.record_failure("m", "timeout")
    health.record_success("m")
    health.record_failure("m", "timeout")
    health.record_failure("m", "timeout")
    assert health.in_rotation("m")
    assert health.state("m").failures == 2


def test_request_errors_never_count(store: MakeStore) -> None:
    """bad_request, context_window and content_policy failures do not count against health."""
    health = store().health
    for cls in ("bad_request", "context_window", "content_policy") * 3:
        health.record_failure("m", cls)
    assert health.in_rotation("m")
    assert health.state("m").failures == 0


def test_one_probe_after_the_cooldown(store: MakeStore) -> None:
    """After the cooldown exactly one caller probes; a good probe puts it back in rotation."""
    subject = store(cooldown_s=0.2)
    health = subject.health
    for _ in range(3):
        health.record_failure("m", "server")
    subject.advance(0.2)
    assert health.in_rotation("m")  # lookups may offer it again...
    assert health.acquire("m") == "probe"  # ...the first call probes...
    assert health.acquire("m") == "out"  # ...and everyone else waits for the probe
    assert health.state("m").probing
    health.record_success("m")
    assert health.acquire("m") == "ok"
    assert health.state("m").failures == 0


def test_failed_probe_backs_off_up_to_the_cap(store: MakeStore) -> None:
    """Each failed probe doubles the cooldown, never past max_cooldown_s."""
    subject = store(cooldown_s=0.1, max_cooldown_s=0.25)
    health = subject.health
    for _ in range(3):
        health.record_failure("m", "server")
    lengths = []
    wait = 0.1
    for _ in range(3):
        subject.advance(wait)
        assert health.acquire("m") == "probe"
        wait = health.record_failure("m", "timeout").out_for_s
        lengths.append(wait)
    assert lengths == pytest.approx([0.2, 0.25, 0.25])


def test_a_lost_probe_lapses(store: MakeStore) -> None:
    """A probe whose caller never reports back lets another caller probe after a cooldown."""
    subject = store(cooldown_s=0.2)
    health = subject.health
    for _ in range(3):
        health.record_failure("m", "server")
    subject.advance(0.2)
    assert health.acquire("m") == "probe"
    assert health.acquire("m") == "out"
    subject.advance(0.2)
    assert health.acquire("m") == "probe"


def test_reset_puts_providers_back(store: MakeStore) -> None:
    """reset() returns one provider, or all of them, to rotation."""
    health = store().health
    for pid in ("a", "b"):
        for _ in range(3):
            health.record_failure(pid, "server")
    health.reset("a")
    assert health.in_rotation("a")
    assert not health.in_rotation("b")
    health.reset()
    assert health.in_rotation("b")


def test_async_twins_share_the_state(store: MakeStore) -> None:
    """The async methods read and write the same health as the sync ones."""
    import asyncio

    health = store().health

    async def run() -> None:
        for _ in range(2):
            await health.arecord_failure("m", "server", "500")
        assert await health.ain_rotation("m")
        await health.arecord_failure("m", "server", "500")
        assert not await health.ain_rotation("m")
        assert await health.aacquire("m") == "out"
        assert (await health.astate("m")).failures == 3

    asyncio.run(run())
    assert health.state("m").last_error == "server 500"
    asyncio.run(health.arecord_success("m"))
    assert health.acquire("m") == "ok"


def test_no_lost_updates_across_threads(store: MakeStore) -> None:
    """Concurrent failures from many threads are all counted."""
    health = store(failure_threshold=10_000).health
    barrier = threading.Barrier(8)

    def fail() -> None:
        barrier.wait()
        for _ in range(100):
            health.record_failure("m", "server")

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert health.state("m").failures == 800
