"""Hot reload under traffic: a changed snapshot or config dir is swapped in without losing a
request; a bad one is refused, the last good config keeps serving, and /readyz says why."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from conftest import MESSAGES, PRIMARY
from gateway_support import sdk, serving

from resolver import load_snapshot
from resolver.serve import Gateway
from resolver.snapshot import write
from resolver.testing import ChatServer, make_resolver

TOGGLED = "minimax-m2-syn"
"""A model the new config disables: /v1/models shows which config serves."""


class Traffic:
    """Completions sent without pause from a few threads until stopped; every answer kept."""

    def __init__(self, base_url: str, threads: int = 4) -> None:
        self.client = sdk(base_url)
        self.stop = threading.Event()
        self.statuses: list[int] = []
        self.pool = ThreadPoolExecutor(threads)
        self.workers = [self.pool.submit(self._send) for _ in range(threads)]

    def _send(self) -> None:
        while not self.stop.is_set():
            raw = self.client.chat.completions.with_raw_response.create(
                model=PRIMARY, messages=MESSAGES
            )
            self.statuses.append(raw.status_code)

    def finish(self) -> list[int]:
        self.stop.set()
        for worker in self.workers:
            worker.result()  # re-raises a request that failed
        self.pool.shutdown()
        return self.statuses


def listed(base_url: str) -> set[str]:
    return {m.id for m in sdk(base_url).models.list()}


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    give_up = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < give_up, "timed out"
        time.sleep(0.05)


def snapshot_of(server: ChatServer, path: Path, *extra: str) -> None:
    write(make_resolver(env="prod", overrides=[*server.overrides(), *extra]), path)


def test_a_changed_snapshot_is_swapped_in_under_traffic(chat_server, keys, tmp_path):
    """With the snapshot watched, rewriting it swaps the new config in while completions keep
    being served: every request gets a 200, and /v1/models shows the new config."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    gateway = Gateway(lambda: load_snapshot(path), environ=keys)
    with serving(gateway, watch=[path], interval=0.05) as url:
        assert TOGGLED in listed(url)
        traffic = Traffic(url)
        wait_for(lambda: len(traffic.statuses) >= 20)
        snapshot_of(chat_server, path, f"++models={{{TOGGLED}: {{enabled: false}}}}")
        wait_for(lambda: TOGGLED not in listed(url))
        count = len(traffic.statuses)
        wait_for(lambda: len(traffic.statuses) >= count + 20)
        statuses = traffic.finish()

    assert set(statuses) == {200}


def test_a_bad_config_is_refused_and_the_last_good_one_serves(chat_server, keys, tmp_path):
    """A config dir edited into an invalid config is refused at reload: traffic keeps being
    served by the last good config, /readyz is degraded naming the problem, and fixing the
    file makes it ready again."""
    deploy = tmp_path / "deploy"
    (deploy / "fallbacks").mkdir(parents=True)
    edges = deploy / "fallbacks" / "seed.yaml"
    good = f"{PRIMARY}: [deepseek-r1]\n"
    edges.write_text(good, encoding="utf-8")
    overrides = chat_server.overrides()
    gateway = Gateway(
        lambda: make_resolver(env="prod", overrides=overrides, config_dirs=[deploy]), environ=keys
    )
    with serving(gateway, watch=[deploy], interval=0.05) as url:
        ready = url.removesuffix("/v1") + "/readyz"
        traffic = Traffic(url)
        wait_for(lambda: len(traffic.statuses) >= 20)
        edges.write_text(f"{PRIMARY}: [no-such-model]\n", encoding="utf-8")
        wait_for(lambda: httpx.get(ready).json()["status"] == "degraded")
        reasons = " ".join(httpx.get(ready).json()["reasons"])
        count = len(traffic.statuses)
        wait_for(lambda: len(traffic.statuses) >= count + 20)
        edges.write_text(good, encoding="utf-8")
        wait_for(lambda: httpx.get(ready).json()["status"] == "ready")
        statuses = traffic.finish()

    assert "no-such-model" in reasons
    assert set(statuses) == {200}


def test_health_survives_a_reload(chat_server, keys, tmp_path):
    """A model out of rotation before a reload is still out after it: reloading is not a
    way to forget failures."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    gateway = Gateway(lambda: load_snapshot(path), environ=keys)
    for _ in range(gateway.resolver.policy.health.failure_threshold):
        gateway.resolver.health.record_failure(PRIMARY, "server", "down")
    assert asyncio.run(gateway.reload())

    assert not gateway.resolver.health.in_rotation(PRIMARY)
