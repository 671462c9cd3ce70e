"""`fallback-resolver serve --workers 2`: the supervisor forwards SIGHUP to each worker, which
reloads (or refuses a bad config) in-process as a single gateway does; SIGTERM drains each
worker's requests in flight; a worker that dies is replaced."""

from __future__ import annotations

import itertools
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from conftest import MESSAGES, PRIMARY
from gateway_support import STREAMED, TOGGLED, Traffic, listed, sdk, snapshot_of
from process_support import events, json_lines, serve, wait_for

pytestmark = pytest.mark.slow  # several gateway processes per test: `pytest -m slow`, and CI

WORKERS = ["--workers", "2"]
FRESH = 8
"""Requests each on a new connection: the kernel spreads them over both workers."""


def serving(log: Path, pid: object) -> bool:
    """Whether worker ``pid`` has loaded its config and is serving (uvicorn's own line)."""
    return f"Started server process [{pid}]" in log.read_text()


def wait_until_both_serve(log: Path) -> None:
    wait_for(lambda: len(events(log, "worker_started")) == 2)
    for started in events(log, "worker_started"):
        wait_for(lambda pid=started["pid"]: serving(log, pid))


def test_sighup_reloads_every_worker_and_a_bad_config_is_refused(chat_server, keys, tmp_path):
    """Under traffic, SIGHUP to the supervisor swaps a new snapshot into both workers; a broken
    snapshot then is refused by both, which keep serving the last good config and answer
    /readyz degraded naming the file; no request is lost."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    log = tmp_path / "gateway.log"
    with serve(["--snapshot", str(path), *WORKERS], keys, log) as (proc, url):
        root = url.removesuffix("/v1")
        wait_until_both_serve(log)
        traffic = Traffic(url)
        wait_for(lambda: len(traffic.statuses) >= 20)

        snapshot_of(chat_server, path, f"++models={{{TOGGLED}: {{enabled: false}}}}")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(events(log, "reloaded")) == 2)
        models_seen = [TOGGLED in listed(url) for _ in range(FRESH)]

        path.write_text('{"truncated', encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(events(log, "reload_refused")) == 2)
        ready = [httpx.get(f"{root}/readyz").json() for _ in range(FRESH)]
        count = len(traffic.statuses)
        wait_for(lambda: len(traffic.statuses) >= count + 20)
        still_listed = [TOGGLED in listed(url) for _ in range(FRESH)]
        statuses = traffic.finish()

    assert set(statuses) == {200}
    assert models_seen == [False] * FRESH
    assert {r["status"] for r in ready} == {"degraded"}
    assert all(str(path) in " ".join(r["reasons"]) for r in ready)
    assert still_listed == [False] * FRESH
    assert not events(log, "worker_died")


def test_sigterm_drains_each_worker(chat_server, roomy, keys, tmp_path):
    """SIGTERM to the supervisor while slow completions and stalled streams are in flight on
    the workers: each ends with its full answer (one access line each), then the supervisor
    exits 0 and the port closes."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    chat_server.set_fault(roomy.providers[PRIMARY].model, "slow", delay_s=1.5)
    chat_server.set_fault(roomy.providers[STREAMED].model, "sse_stall", after=1, delay_s=1.5)
    log = tmp_path / "gateway.log"
    args = ["--snapshot", str(path), "--grace-s", "20", *WORKERS]
    with serve(args, keys, log) as (proc, url):
        wait_until_both_serve(log)

        def plain() -> str:
            answer = sdk(url, timeout=30).chat.completions.create(model=PRIMARY, messages=MESSAGES)
            return answer.choices[0].message.content or ""

        def streamed() -> str:
            client = sdk(url, timeout=30)
            stream = client.chat.completions.create(model=STREAMED, messages=MESSAGES, stream=True)
            return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

        with ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(plain) for _ in range(6)]
            futures += [pool.submit(streamed) for _ in range(6)]
            wait_for(lambda: len(chat_server.requests) >= 12)
            proc.send_signal(signal.SIGTERM)
            answers = [f.result() for f in futures]
        assert proc.wait(timeout=30) == 0
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{url.removesuffix('/v1')}/healthz", timeout=1)

    assert answers[:6] == [f"ok from {roomy.providers[PRIMARY].model}"] * 6
    assert answers[6:] == [f"ok from {roomy.providers[STREAMED].model}"] * 6
    assert len([line for line in json_lines(log) if "path" in line]) == 12


def test_a_worker_that_dies_is_replaced(chat_server, keys, tmp_path):
    """A worker killed outright is started again in its slot: requests keep being answered and
    the next SIGHUP reaches the new worker too."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    log = tmp_path / "gateway.log"
    with serve(["--snapshot", str(path), *WORKERS], keys, log) as (proc, url):
        wait_until_both_serve(log)
        victim = events(log, "worker_started")[0]
        os.kill(int(str(victim["pid"])), signal.SIGKILL)
        wait_for(lambda: len(events(log, "worker_started")) == 3)
        client = sdk(url, timeout=20)
        answers = [
            client.chat.completions.create(model=PRIMARY, messages=MESSAGES) for _ in range(20)
        ]
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(events(log, "reloaded")) == 2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    died = events(log, "worker_died")
    assert [(d["worker"], d["pid"], d["exitcode"]) for d in died] == [
        (victim["worker"], victim["pid"], -signal.SIGKILL)
    ]
    assert events(log, "worker_started")[2]["worker"] == victim["worker"]
    assert {a.model for a in answers} == {PRIMARY}


def test_a_stream_outlasting_the_grace_period_is_cut(chat_server, roomy, keys, tmp_path):
    """SIGTERM with --grace-s 1 while a stream stalls for a minute: the stream ends with an
    error event saying the gateway shut down (never as a complete answer), the worker's log
    counts one request cut, and the supervisor exits with status 3."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    chat_server.set_fault(roomy.providers[STREAMED].model, "sse_stall", after=1, delay_s=60)
    log = tmp_path / "gateway.log"
    args = ["--snapshot", str(path), "--grace-s", "1", *WORKERS]
    with serve(args, keys, log) as (proc, url):
        wait_until_both_serve(log)
        stream = sdk(url, timeout=90).chat.completions.create(
            model=STREAMED, messages=MESSAGES, stream=True
        )
        first = next(iter(stream))
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(openai.APIError, match="grace period"):
            for _ in stream:
                pass
        exitcode = proc.wait(timeout=30)

    assert first.model == STREAMED  # the stream had begun
    assert exitcode == 3
    assert [(e["requests"], e["grace_s"]) for e in events(log, "grace_cut")] == [(1, 1.0)]


def test_a_replacement_worker_waits_for_a_config_that_loads(chat_server, keys, tmp_path):
    """A worker that dies while the snapshot on disk is broken cannot start on it: the
    replacement logs the problem and is retried, each time twice as late, the other worker
    serves meanwhile, and once the snapshot is fixed the slot is filled again."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    good = path.read_text(encoding="utf-8")
    log = tmp_path / "gateway.log"
    with serve(["--snapshot", str(path), *WORKERS], keys, log) as (proc, url):
        wait_until_both_serve(log)
        path.write_text('{"truncated', encoding="utf-8")
        victim = events(log, "worker_started")[0]
        os.kill(int(str(victim["pid"])), signal.SIGKILL)
        wait_for(lambda: len(events(log, "worker_refused")) >= 2, seconds=30)
        client = sdk(url, timeout=20)
        answers = [
            client.chat.completions.create(model=PRIMARY, messages=MESSAGES) for _ in range(10)
        ]
        path.write_text(good, encoding="utf-8")
        fixed_at = len(events(log, "worker_started"))
        # A worker started after the fix reads the fixed file: it gets to serve.
        # Retried ever later (2 s, 4 s, 8 s...): the next try may be some seconds away.
        wait_for(lambda: len(events(log, "worker_started")) > fixed_at, seconds=40)
        replacement = events(log, "worker_started")[fixed_at]["pid"]
        wait_for(lambda: serving(log, replacement))
        refused = events(log, "worker_refused")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    assert {a.model for a in answers} == {PRIMARY}
    assert len(refused) >= 2
    assert all(str(path) in str(r["problems"]) for r in refused)
    # The kill, then each refusal: each refusal is a quick death, so its slot waits twice as
    # long as after the one before.
    waits = [d["restart_in_s"] for d in events(log, "worker_died")]
    assert len(waits) == len(refused) + 1
    assert waits[1] >= 2.0
    assert all(later == 2 * earlier for earlier, later in itertools.pairwise(waits[1:]))
    assert replacement not in {r["pid"] for r in refused}


def test_status_counts_the_calls_of_every_worker(chat_server, roomy, keys, tmp_path):
    """Under --workers 2, /status.json answered by either worker counts every call and every
    fallback made through both, within a second or so of the call."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    chat_server.set_fault(roomy.providers[PRIMARY].model, "server")
    calls = 12
    log = tmp_path / "gateway.log"
    with serve(["--snapshot", str(path), *WORKERS], keys, log) as (_, url):
        wait_until_both_serve(log)
        for _ in range(calls):  # each on a new connection: both workers take some
            assert sdk(url).chat.completions.create(model=PRIMARY, messages=MESSAGES)
        root = url.removesuffix("/v1")

        def every_call_counted() -> bool:
            answers = [httpx.get(f"{root}/status.json").json() for _ in range(FRESH)]
            return {a["pid"] for a in answers} == {w["pid"] for w in workers} and all(
                a["totals"][PRIMARY]["fallbacks"] == calls and a["processes"] == 2
                and len(a["fallbacks"]) == calls
                for a in answers
            )  # fmt: skip

        workers = events(log, "worker_started")
        wait_for(every_call_counted)
