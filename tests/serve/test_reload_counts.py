"""Call counts across a hot reload: /metrics goes on counting from where it was for the models
the new config still declares, and drops the models it no longer declares."""

from __future__ import annotations

import re

import httpx
from conftest import MESSAGES, PRIMARY
from gateway_support import listed, sdk, serving
from process_support import wait_for

from resolver.serve import Gateway
from resolver.testing import make_resolver

EXTRA = "spare-extra"
"""A model of a vendor the deployment's env adds, then drops at the reload."""

VENDOR = f"""
extra:
  base_url: {{base_url}}
  api_key_env: null
  timeout_s: 5
  models:
    {EXTRA}: {{{{model: spare, tier: budget, pricing: {{{{prompt: 1, completion: 2}}}}}}}}
"""


def env_with(*vendors: str) -> str:
    return f"# @package _global_\ndefaults:\n  - override /providers: [{', '.join(vendors)}]\n"


def calls(root: str, model: str) -> float | None:
    """The gateway's llm_fallback_calls_total for ``model`` (None: not exported)."""
    text = httpx.get(f"{root}/metrics").text
    line = rf'^llm_fallback_calls_total{{model="{re.escape(model)}"}} (\S+)$'
    found = re.search(line, text, re.MULTILINE)
    return float(found.group(1)) if found else None


def test_call_counts_carry_over_a_reload(chat_server, keys, tmp_path):
    """Completions counted before a reload stay counted after it and later ones add to them;
    a model the new config no longer declares leaves /metrics."""
    deploy = tmp_path / "deploy"
    (deploy / "env").mkdir(parents=True)
    (deploy / "providers").mkdir()
    (deploy / "providers" / "extra.yaml").write_text(
        VENDOR.format(base_url=chat_server.base_url), encoding="utf-8"
    )
    env = deploy / "env" / "counted.yaml"
    env.write_text(env_with("synthetic", "together", "extra"), encoding="utf-8")
    overrides = chat_server.overrides()
    gateway = Gateway(
        lambda: make_resolver(env="counted", overrides=overrides, config_dirs=[deploy]),
        environ=keys,
    )
    with serving(gateway, watch=[deploy], interval=0.05) as url:
        root = url.removesuffix("/v1")
        client = sdk(url)
        for model in (PRIMARY, PRIMARY, PRIMARY, EXTRA, EXTRA):
            client.chat.completions.create(model=model, messages=MESSAGES)
        assert (calls(root, PRIMARY), calls(root, EXTRA)) == (3, 2)

        env.write_text(env_with("synthetic", "together"), encoding="utf-8")
        wait_for(lambda: EXTRA not in listed(url))
        after_reload = calls(root, PRIMARY), calls(root, EXTRA)
        client.chat.completions.create(model=PRIMARY, messages=MESSAGES)
        later = calls(root, PRIMARY)

    assert after_reload == (3, None)
    assert later == 4
