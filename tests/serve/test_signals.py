"""`fallback-resolver serve` as a process: SIGHUP reloads under traffic, and SIGTERM lets
requests and streams in flight finish before it exits."""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import MESSAGES, PRIMARY
from gateway_support import STREAMED, TOGGLED, Traffic, listed, sdk, snapshot_of
from process_support import serve, wait_for

pytestmark = (
    pytest.mark.slow
)  # a gateway process per test, signalled under traffic: `pytest -m slow`, and CI


def test_sighup_reloads_the_snapshot_under_traffic(chat_server, keys, tmp_path):
    """Rewriting the snapshot and sending SIGHUP swaps the new config in while completions
    keep being served, none lost."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    with serve(["--snapshot", str(path)], keys, tmp_path / "gateway.log") as (proc, url):
        traffic = Traffic(url)
        wait_for(lambda: len(traffic.statuses) >= 20)
        snapshot_of(chat_server, path, f"++models={{{TOGGLED}: {{enabled: false}}}}")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: TOGGLED not in listed(url))
        count = len(traffic.statuses)
        wait_for(lambda: len(traffic.statuses) >= count + 20)
        statuses = traffic.finish()

    assert set(statuses) == {200}
    assert '"event": "reloaded"' in (tmp_path / "gateway.log").read_text()


def test_sigterm_lets_requests_and_streams_in_flight_finish(chat_server, roomy, keys, tmp_path):
    """SIGTERM while slow completions and stalled streams are in flight: each one still ends
    with its full answer, then the process exits 0 (not of the signal) and accepts nothing
    more."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    chat_server.set_fault(roomy.providers[PRIMARY].model, "slow", delay_s=1.5)
    chat_server.set_fault(roomy.providers[STREAMED].model, "sse_stall", after=1, delay_s=1.5)
    log = tmp_path / "gateway.log"
    with serve(["--snapshot", str(path), "--grace-s", "20"], keys, log) as (proc, url):
        client = sdk(url, timeout=30)

        def plain() -> str:
            answer = client.chat.completions.create(model=PRIMARY, messages=MESSAGES)
            return answer.choices[0].message.content or ""

        def streamed() -> str:
            stream = client.chat.completions.create(model=STREAMED, messages=MESSAGES, stream=True)
            return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

        with ThreadPoolExecutor(12) as pool:
            futures = [pool.submit(plain) for _ in range(6)] + [
                pool.submit(streamed) for _ in range(6)
            ]
            wait_for(lambda: len(chat_server.requests) >= 12)
            proc.send_signal(signal.SIGTERM)
            answers = [f.result() for f in futures]
        assert proc.wait(timeout=30) == 0
        with pytest.raises(httpx.HTTPError):
            httpx.get(url.removesuffix("/v1") + "/healthz", timeout=1)

    assert answers[:6] == [f"ok from {roomy.providers[PRIMARY].model}"] * 6
    assert answers[6:] == [f"ok from {roomy.providers[STREAMED].model}"] * 6


def test_workers_serve_and_warn_that_health_is_per_worker(chat_server, keys, tmp_path):
    """`serve --workers 2` without Redis warns at start that health is kept per worker, and its
    workers serve every request."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    log = tmp_path / "gateway.log"
    with serve(["--snapshot", str(path), "--workers", "2"], keys, log) as (proc, url):
        client = sdk(url)
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(
                    lambda _: client.chat.completions.create(model=PRIMARY, messages=MESSAGES),
                    range(40),
                )
            )
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

    assert {a.model for a in answers} == {PRIMARY}
    assert "each worker keeps its own health" in log.read_text()


def test_watch_reloads_a_changed_config_dir_under_traffic(chat_server, keys, tmp_path):
    """`serve --config-dir D --watch` picks up an edit of D by itself while completions keep
    being served, and logs one JSON access line per request."""
    deploy = tmp_path / "deploy"
    (deploy / "fallbacks").mkdir(parents=True)
    edges = deploy / "fallbacks" / "seed.yaml"
    edges.write_text(f"{PRIMARY}: [deepseek-r1]\n", encoding="utf-8")
    log = tmp_path / "gateway.log"
    args = ["--config-dir", str(deploy), "--watch", *chat_server.overrides()]
    with serve(args, keys, log) as (_, url):
        traffic = Traffic(url)
        wait_for(lambda: len(traffic.statuses) >= 20)
        edges.write_text(f"{PRIMARY}: [deepseek-r1]\n{TOGGLED}: [deepseek-r1]\n", encoding="utf-8")
        wait_for(lambda: '"event": "reloaded"' in log.read_text(), seconds=15)
        count = len(traffic.statuses)
        wait_for(lambda: len(traffic.statuses) >= count + 20)
        statuses = traffic.finish()
        # A request's access line is written once its answer has left, so the last answers'
        # lines may still be on their way: wait for them before the gateway is stopped (killed).
        wait_for(lambda: len(_access_lines(log)) >= len(statuses))

    assert set(statuses) == {200}
    access = _access_lines(log)
    assert {line["status"] for line in access} == {200}


def _access_lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if '"path"' in line]
