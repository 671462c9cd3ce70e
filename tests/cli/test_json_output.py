"""What the command line's JSON and explain output carry, as scripts and operators read it.

The expectations are written from a deployment tree of the test's own (models alpha -> beta ->
gamma -> delta, each edge declared somewhere else), not computed by the library.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PRIMARY

import resolver
from resolver.cli import main
from resolver.testing import mark_unhealthy

CHAIN_ENV = """
    # @package _global_
    providers:
      local:
        base_url: http://127.0.0.1:9/v1
        api_key_env: null
        models:
          alpha: {model: a, tier: budget, pricing: {prompt: 1, completion: 1}}
          beta: {model: b, tier: budget, pricing: {prompt: 1, completion: 1}}
          gamma: {model: c, tier: budget, pricing: {prompt: 1, completion: 1}}
          delta: {model: d, tier: budget, pricing: {prompt: 5, completion: 5}}
    policy:
      max_depth: 3
    fallbacks:
      alpha: [beta]
    """


@pytest.fixture
def chain(config_tree: Callable[[dict[str, str]], Path]) -> tuple[Path, list[str]]:
    """A deployment tree and the flags that compose it: alpha -> beta in the env file,
    beta -> gamma in a fallbacks file, gamma -> delta (five times the price) from a flag."""
    root = config_tree({"env/chain.yaml": CHAIN_ENV, "fallbacks/chained.yaml": "beta: [gamma]\n"})
    flags = ["--config-dir", str(root), "--env", "chain", "--fallback", "gamma=delta"]
    return root, [*flags, "fallbacks=chained"]


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main(list(args))
    out, _ = capsys.readouterr()
    return code, json.loads(out)


def test_explain_names_the_origin_of_every_hop(capsys, chain):
    """explain gives each hop the file or flag that declared *its* edge, at hop 2 and 3 too."""
    root, flags = chain
    code = main(["explain", "alpha", *flags])
    out, _ = capsys.readouterr()
    assert code == 0
    origins = [line.strip() for line in out.splitlines() if "edge declared in" in line]
    assert origins == [
        f"edge declared in {root / 'env' / 'chain.yaml'}",
        f"edge declared in {root / 'fallbacks' / 'chained.yaml'}",
        "edge declared in --fallback gamma=delta",
    ]
    code, data = cli_json(capsys, "explain", "alpha", *flags, "--json")
    assert code == 0
    assert [(s["hop"], s["provider_id"], s["via"], s["origin"]) for s in data["steps"]] == [
        (1, "beta", "alpha", str(root / "env" / "chain.yaml")),
        (2, "gamma", "beta", str(root / "fallbacks" / "chained.yaml")),
        (3, "delta", "gamma", "--fallback gamma=delta"),
    ]


def test_table_json_carries_the_warnings_with_where_they_come_from(capsys, chain):
    """`table --json` lists the configuration's warnings: code, key and the flag behind it."""
    _, flags = chain
    code, data = cli_json(capsys, "table", "--json", *flags)
    assert code == 0
    over_cap = [w for w in data["warnings"] if w["code"] == "cost-over-cap"]
    assert over_cap == [
        {
            "code": "cost-over-cap",
            "severity": "warning",
            "key": "fallbacks.gamma[0]",
            "file": "--fallback gamma=delta",
            "hint": None,
            "message": "backup 'delta' costs 5.00x 'gamma' on the reference call, "
            "over the cap of 2x (used anyway)",
        }
    ]
    alpha = next(m for m in data["models"] if m["model_id"] == "alpha")
    assert (alpha["fallback"], [s["provider_id"] for s in alpha["steps"]]) == (
        "beta",
        ["beta", "gamma", "delta"],
    )


def test_lookup_json_on_the_fallback_path_gives_every_field(capsys, monkeypatch):
    """`lookup --json` for a model whose backup is usable gives model, env, the backup and no
    reason, exits 0 and writes nothing to stderr."""
    monkeypatch.setenv("TOGETHER_API_KEY", "x")
    code = main(["lookup", PRIMARY, "--json"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "model": PRIMARY,
        "env": "prod",
        "fallback": "deepseek-r1",
        "reason": None,
    }


def test_lookup_json_in_a_deployment_env(capsys, chain):
    """`lookup --json` reports the env it composed and the first backup of the chain."""
    _, flags = chain
    code, data = cli_json(capsys, "lookup", "beta", "--json", *flags)
    assert code == 0
    assert data == {"model": "beta", "env": "chain", "fallback": "gamma", "reason": None}


def test_health_json_lists_every_enabled_model_in_rotation(capsys, chain):
    """`health --json` on the in-process store has one entry per enabled model, each in
    rotation with no failures."""
    _, flags = chain
    code, data = cli_json(capsys, "health", "--json", *flags)
    assert code == 0
    assert (data["store"], data["enabled"], data["url"]) == ("memory", True, None)
    by_id = {p["provider_id"]: p for p in data["providers"]}
    assert {"alpha", "beta", "gamma", "delta"} <= set(by_id)
    assert all(p["in_rotation"] is True and p["failures"] == 0 for p in by_id.values())


def test_health_json_says_which_model_is_out_of_rotation(capsys, redis_url, namespace):
    """`health --json` on a shared store marks the model that failed as out of rotation, with
    its failures and last error, and the others in rotation."""
    settings = [
        "policy.health.store=redis",
        f"policy.health.url={redis_url}",
        f"policy.health.namespace={namespace}",
    ]
    shared = resolver.load(overrides=settings)
    mark_unhealthy(shared, PRIMARY, detail="HTTP 503")
    try:
        code, data = cli_json(capsys, "health", "--json", *settings)
    finally:
        shared.health.reset()
    assert code == 0
    by_id = {p["provider_id"]: p for p in data["providers"]}
    out = by_id.pop(PRIMARY)
    assert (out["in_rotation"], out["failures"], out["last_error"]) == (False, 3, "server HTTP 503")
    assert out["out_for_s"] > 0
    assert by_id
    assert all(p["in_rotation"] is True for p in by_id.values())


@pytest.mark.parametrize("failures", [1, 2])
def test_health_json_keeps_a_model_below_the_threshold_in_rotation(
    capsys, redis_url, namespace, failures
):
    """With 1 or 2 failures of a threshold of 3, `health --json` reports the count and the last
    error, and the model still in rotation (it still serves)."""
    settings = [
        "policy.health.store=redis",
        f"policy.health.url={redis_url}",
        f"policy.health.namespace={namespace}",
        "policy.health.failure_threshold=3",
    ]
    shared = resolver.load(overrides=settings)
    for _ in range(failures):
        shared.health.record_failure(PRIMARY, "server", "HTTP 502")
    try:
        code, data = cli_json(capsys, "health", "--json", *settings)
    finally:
        shared.health.reset()
    assert code == 0
    entry = {p["provider_id"]: p for p in data["providers"]}[PRIMARY]
    assert (entry["in_rotation"], entry["failures"]) == (True, failures)
    assert entry["last_error"] == "server HTTP 502"


def test_every_backup_beyond_max_attempts_is_warned_of_by_name():
    """With max_attempts=1 the shipped config warns once per unreachable backup, each naming
    the backup and its source, and --strict refuses it."""
    r = resolver.load(overrides=["policy.max_attempts=1"])
    unreachable = sorted(w.key for w in r.warnings if w.code == "unreachable")
    assert unreachable == [
        "fallbacks.deepseek-r1-0528-syn[0]",
        "fallbacks.kimi-k2-thinking-syn[0]",
    ]
    assert all("max_attempts=1" in w.message for w in r.warnings if w.code == "unreachable")
    keys = {"TOGETHER_API_KEY": "k", "SYNTHETIC_API_KEY": "k"}
    with pytest.raises(resolver.ConfigError) as caught:
        resolver.load(overrides=["policy.max_attempts=1"], strict=True, environ=keys)
    assert {p.code for p in caught.value.errors} == {"unreachable"}


def test_show_info_masks_a_password_in_an_override_without_redis(capsys):
    """`show --info` echoes the overrides with a URL's password masked, with no Redis running
    and the in-process store in use."""
    secret = "hunter2-no-redis"
    url = f"redis://:{secret}@127.0.0.1:1/0"
    code = main(["show", "--info", f"policy.health.url={url}"])
    out, err = capsys.readouterr()
    assert code == 0
    assert secret not in out + err
    assert "- policy.health.url=redis://:***@127.0.0.1:1/0" in out.splitlines()
