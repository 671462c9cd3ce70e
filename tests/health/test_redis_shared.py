"""Health shared on a real Redis: worker processes, the command line, expiry, outages, secrets.

The workers are separate processes (spawned, so each imports and composes on its own through
``resolver.load``), driven over a pipe; forced failures come from ``resolver.testing.fail_calls``.
Outage and password tests start their own ``redis-server`` so the shared one is not disturbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

import pytest
from conftest import BACKUP, PRIMARY, OwnRedis

import resolver
from resolver import Resolver, acall_with_fallback, call_with_fallback
from resolver.testing import fail_calls, mark_unhealthy

KEYS = {"TOGETHER_API_KEY": "t", "SYNTHETIC_API_KEY": "s"}
WORKERS = 4


def redis_overrides(url: str, namespace: str, *extra: str) -> list[str]:
    return [
        "policy.health.store=redis",
        f"policy.health.url={url}",
        f"policy.health.namespace={namespace}",
        *extra,
    ]


def served_by(provider: resolver.Provider) -> str:
    return provider.id


async def aserved_by(provider: resolver.Provider) -> str:
    await asyncio.sleep(0)
    return provider.id


# --- worker processes --------------------------------------------------------------------------


def _worker(conn: Connection, overrides: list[str], barrier: Any, use_async: bool) -> None:
    """A worker process: composes its own resolver, then runs the parent's commands."""
    r = resolver.load(overrides=overrides)
    conn.send("ready")
    while True:
        command, fail = conn.recv()
        if command == "quit":
            return
        if command == "in_rotation":
            conn.send(r.health.in_rotation(PRIMARY))
            continue
        if command == "call_together":
            barrier.wait(timeout=20)
        with fail_calls(PRIMARY) if fail else contextlib.nullcontext():
            if use_async:
                outcome = asyncio.run(
                    acall_with_fallback(PRIMARY, aserved_by, environ=KEYS, resolver=r)
                )
            else:
                outcome = call_with_fallback(PRIMARY, served_by, environ=KEYS, resolver=r)
        conn.send([a.provider_id for a in outcome.attempts])


class Workers:
    def __init__(self, overrides: list[str]) -> None:
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(WORKERS)
        self.pipes: list[Connection] = []
        self.procs = []
        for i in range(WORKERS):
            parent, child = ctx.Pipe()
            # Half the workers go through the asyncio executor and the async Redis client.
            proc = ctx.Process(target=_worker, args=(child, overrides, barrier, i % 2 == 1))
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)
        for pipe in self.pipes:
            assert pipe.poll(60), "a worker did not start"
            assert pipe.recv() == "ready"

    def ask(self, i: int, command: str, fail: bool = False) -> Any:
        self.pipes[i].send((command, fail))
        assert self.pipes[i].poll(30), f"worker {i} did not answer {command}"
        return self.pipes[i].recv()

    def ask_all(self, command: str, fail: bool = False) -> list[Any]:
        for pipe in self.pipes:
            pipe.send((command, fail))
        return [pipe.recv() for pipe in self.pipes if pipe.poll(30)]

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("quit", False))
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()


@pytest.fixture(scope="module")
def shared_ns(redis_url: str) -> str:
    import uuid

    return f"test-workers-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def overrides(redis_url: str, shared_ns: str) -> list[str]:
    return redis_overrides(
        # A probe's lease is the cooldown: 2 s, so that a worker stalled for a second on a busy
        # machine does not let its lease lapse and a second probe through.
        redis_url,
        shared_ns,
        "policy.health.cooldown_s=2",
        "policy.health.max_cooldown_s=4",
    )


@pytest.fixture(scope="module")
def workers(overrides: list[str]) -> Iterator[Workers]:
    pool = Workers(overrides)
    yield pool
    pool.stop()


@pytest.fixture
def parent(overrides: list[str]) -> Iterator[Resolver]:
    """The test's own view of the workers' shared health, reset before and after."""
    r = resolver.load(overrides=overrides)
    r.health.reset()
    yield r
    r.health.reset()


def test_three_failures_in_total_take_the_primary_out_for_every_worker(
    workers: Workers, parent: Resolver
) -> None:
    """Four workers taking turns on a failing primary stop calling it after three failures in
    total, not three each."""
    hits = []
    for _ in range(2):
        for i in range(WORKERS):
            attempts = workers.ask(i, "call", fail=True)
            assert attempts[-1] == BACKUP
            hits.append(attempts[0] == PRIMARY)
    assert hits == [True, True, True, False, False, False, False, False]
    assert parent.health.state(PRIMARY).failures == 3
    assert workers.ask_all("in_rotation") == [False] * WORKERS


def test_exactly_one_probe_across_processes(workers: Workers, parent: Resolver) -> None:
    """When the cooldown is over and four workers call at once, exactly one probes the primary."""
    mark_unhealthy(parent, PRIMARY)
    deadline = time.monotonic() + 5
    while not parent.health.in_rotation(PRIMARY):  # reading does not take the probe
        assert time.monotonic() < deadline
        time.sleep(0.05)
    replies = workers.ask_all("call_together", fail=True)
    assert len(replies) == WORKERS
    assert sum(attempts[0] == PRIMARY for attempts in replies) == 1
    state = parent.health.state(PRIMARY)
    assert not state.in_rotation
    assert state.out_for_s > 2  # the failed probe doubled the 2 s cooldown


def test_a_reset_from_the_command_line_reaches_every_worker(
    workers: Workers, parent: Resolver, overrides: list[str]
) -> None:
    """`python -m resolver health --reset MODEL` puts the model back for every worker process."""
    mark_unhealthy(parent, PRIMARY)
    assert workers.ask_all("in_rotation") == [False] * WORKERS
    done = subprocess.run(
        [sys.executable, "-m", "resolver", "health", "--reset", PRIMARY, *overrides],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"reset {PRIMARY}: back in rotation" in done.stdout
    assert workers.ask_all("in_rotation") == [True] * WORKERS
    assert workers.ask_all("call") == [[PRIMARY]] * WORKERS


# --- keys expire ---------------------------------------------------------------------------------


def test_keys_expire_on_their_own(redis_url: str, namespace: str) -> None:
    """Every health key carries a TTL of its cooldown plus max_cooldown_s, and then vanishes."""
    import redis

    r = resolver.load(
        overrides=redis_overrides(
            redis_url, namespace, "policy.health.cooldown_s=0.2", "policy.health.max_cooldown_s=0.3"
        )
    )
    client = redis.Redis.from_url(redis_url)
    key = f"resolver:health:{namespace}:{PRIMARY}"
    r.health.record_failure(PRIMARY, "server")
    assert 0 < client.pttl(key) <= 1000  # in rotation: kept max(max_cooldown_s, 1 s)
    mark_unhealthy(r, PRIMARY)
    assert 1000 < client.pttl(key) <= 1200  # out: the 0.2 s cooldown plus that retention
    deadline = time.monotonic() + 3
    while client.exists(key):
        assert time.monotonic() < deadline, "the key did not expire"
        time.sleep(0.05)
    assert r.health.state(PRIMARY).failures == 0


# --- a Redis server of the test's own ----------------------------------------------------------


def test_redis_stopped_mid_run_falls_back_to_local_health_and_resumes(
    own_redis: Callable[..., OwnRedis], namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With Redis gone calls go on under in-process health, the outage is logged once, and when
    Redis is back the workers share health again."""
    server = own_redis()
    url = f"redis://127.0.0.1:{server.port}/0"
    settings = redis_overrides(url, namespace, "policy.health.retry_s=0.3")
    r = resolver.load(overrides=settings)
    other = resolver.load(overrides=settings)  # another worker on the same Redis
    mark_unhealthy(other, PRIMARY)
    assert not r.health.in_rotation(PRIMARY)  # shared

    server.stop()
    caplog.set_level(logging.INFO, logger="resolver")
    with fail_calls(PRIMARY):
        served = [
            call_with_fallback(PRIMARY, served_by, environ=KEYS, resolver=r) for _ in range(5)
        ]
        served.append(
            asyncio.run(acall_with_fallback(PRIMARY, aserved_by, environ=KEYS, resolver=r))
        )
        time.sleep(0.4)  # past retry_s: Redis is tried again, and is still down
        served.append(call_with_fallback(PRIMARY, served_by, environ=KEYS, resolver=r))
    assert all(o.served_by == BACKUP for o in served)
    # Local health counted on: three calls tried the primary, then it was out in this process.
    assert [o.attempts[0].provider_id for o in served[:5]] == [PRIMARY] * 3 + [BACKUP] * 2
    outages = [rec for rec in caplog.records if "unreachable" in rec.getMessage()]
    assert len(outages) == 1, [rec.getMessage() for rec in caplog.records]

    server.start()  # same port, empty: nothing failed there since
    time.sleep(0.4)
    assert call_with_fallback(PRIMARY, served_by, environ=KEYS, resolver=r).served_by == PRIMARY
    assert sum("is back" in rec.getMessage() for rec in caplog.records) == 1
    mark_unhealthy(other, PRIMARY)
    assert not r.health.in_rotation(PRIMARY)  # shared again


def test_a_password_in_the_url_never_appears_in_any_output(
    own_redis: Callable[..., OwnRedis],
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """reprs, explain, every command (health, show, table, diff, errors) and the outage log show
    the Redis URL with its password masked."""
    import redis

    from resolver.cli import main

    secret = "s3cret-Pa55word"
    server = own_redis("--requirepass", secret)
    url = f"redis://:{secret}@127.0.0.1:{server.port}/0"
    monkeypatch.setenv("RESOLVER_REDIS_URL", url)
    settings = ["policy.health.store=redis", f"policy.health.namespace={namespace}"]
    caplog.set_level(logging.DEBUG, logger="resolver")

    r = resolver.load(overrides=settings)
    mark_unhealthy(r, BACKUP)
    authed = redis.Redis(port=server.port, password=secret)
    assert authed.exists(f"resolver:health:{namespace}:{BACKUP}")  # it did authenticate
    texts = [repr(r), repr(r.policy), str(r.policy), repr(r.health), str(r.explain(PRIMARY))]

    codes = []
    for argv in (
        ["health", *settings],
        ["health", "--json", *settings],
        ["show", "--info", *settings, f"policy.health.url={url}"],
        ["explain", PRIMARY, *settings],
        ["table", *settings],
        ["diff", "prod", "staging", "policy.health.store=redis"],
        ["health", *settings, "policy.health.url=http://u:" + secret + "@h/0"],  # bad URL
        ["health", *settings, "policy.health.url=" + url.replace("@", "x@")],  # wrong password
    ):
        codes.append(main(argv))
        out, err = capsys.readouterr()
        texts += [out, err]
    assert codes == [0, 0, 0, 0, 0, 0, 2, 2]

    server.stop()  # the outage is logged with the URL
    r.health.state(PRIMARY)
    texts += [rec.getMessage() for rec in caplog.records]
    everything = "\n".join(texts)
    assert secret not in everything
    assert f"redis://:***@127.0.0.1:{server.port}/0" in everything
    assert "unreachable" in everything
