"""Hot reload under traffic: a changed snapshot or config dir is swapped in without losing a
request; a bad one is refused, the last good config keeps serving, and /readyz says why."""

from __future__ import annotations

import asyncio

import httpx
from conftest import PRIMARY
from gateway_support import TOGGLED, Traffic, listed, serving, snapshot_of
from process_support import wait_for

from resolver import load_snapshot
from resolver.serve import Gateway
from resolver.testing import make_resolver


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
