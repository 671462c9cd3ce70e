"""The LiteLLM export, loaded by a real ``litellm.Router`` in front of the loopback ChatServer.

LiteLLM runs in a venv of its own (``.ci/run`` builds ``.venv-litellm`` once per run); the test
finds its Python through RESOLVER_TEST_LITELLM_PY and skips, saying so, without it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import resolver
from resolver import load
from resolver.export import export
from resolver.testing import ChatServer

LITELLM_PY = os.environ.get("RESOLVER_TEST_LITELLM_PY", "")
SCRIPT = Path(__file__).parent / "litellm_router.py"

pytestmark = pytest.mark.skipif(
    not LITELLM_PY or not Path(LITELLM_PY).exists(),
    reason="no LiteLLM venv: set RESOLVER_TEST_LITELLM_PY to its python (.ci/run builds one)",
)


def route(config: Path, model: str, environ: dict[str, str]) -> dict[str, object]:
    """One completion for ``model`` through a Router built from ``config``, in LiteLLM's venv."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        # LiteLLM would fetch its model price list from the internet at import otherwise.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        **environ,
    }
    done = subprocess.run(
        [LITELLM_PY, str(SCRIPT), str(config), model],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(("env", "primary"), [("prod", "deepseek-r1-0528-syn")])
def test_router_falls_back_to_the_backup_our_resolver_names(env, primary, chat_server, tmp_path):
    """With the primary answering 500, LiteLLM's Router loaded with the export serves the
    request from the backup that the resolver's lookup and executor pick."""
    r = load(env=env, overrides=chat_server.overrides())
    keys = ChatServer.environ()
    backup = r.get_fallback_provider(primary, environ=keys)
    assert backup is not None
    config = tmp_path / "litellm.yaml"
    config.write_text(export(r, "litellm").text)
    chat_server.set_fault(r.providers[primary].model, "server")

    answered = route(config, primary, keys)

    assert answered["model"] == backup.model, answered
    assert [q.model for q in chat_server.requests] == [r.providers[primary].model, backup.model]
    chat_server.clear()
    chat_server.set_fault(r.providers[primary].model, "server")
    assert (
        resolver.chat(
            primary, [{"role": "user", "content": "hi"}], environ=keys, resolver=r
        ).served_by
        == backup.id
    )


def test_the_reported_litellm_order_is_the_order_the_router_really_tries(chat_server, tmp_path):
    """When LiteLLM would walk a chain in another order than ours (it follows a backup's own
    fallbacks first), the export says so, and the order it reports is the one a real Router
    takes with every model failing."""
    source = "deepseek-r1-0528-syn"
    r = load(
        env="prod",
        overrides=[
            *chat_server.overrides(),
            f"++fallbacks={{{source}: [deepseek-r1, kimi-k2-instruct], "
            "deepseek-r1: [deepseek-v3.1]}",
            "policy.max_attempts=4",
        ],
    )
    result = export(r, "litellm")
    reported = next(n for n in result.unsupported if n.startswith(f"{source}: LiteLLM tries"))
    expected = ["deepseek-r1", "deepseek-v3.1", "kimi-k2-instruct"]
    assert reported.startswith(f"{source}: LiteLLM tries {', '.join(expected)} (")
    config = tmp_path / "litellm.yaml"
    config.write_text(result.text)
    for model_id in (source, *expected):
        chat_server.set_fault(r.providers[model_id].model, "server")

    answered = route(config, source, ChatServer.environ())

    assert answered.get("error"), answered
    tried = [q.model for q in chat_server.requests]
    assert tried == [r.providers[m].model for m in (source, *expected)]


def test_after_a_context_window_failure_the_router_skips_smaller_windows_as_we_do(
    chat_server, tmp_path
):
    """When the primary's context is exceeded, the Router goes to the first backup with a
    larger window (context_window_fallbacks), skipping a smaller one, as our executor does."""
    source = "deepseek-r1-0528-syn"
    r = load(
        env="prod",
        overrides=[
            *chat_server.overrides(),
            f"++fallbacks={{{source}: [deepseek-r1, deepseek-v3.1]}}",
            f"++models={{{source}: {{context_window: 64000}}, deepseek-r1: {{context_window: "
            "32000}, deepseek-v3.1: {context_window: 128000}}",
        ],
    )
    keys = ChatServer.environ()
    config = tmp_path / "litellm.yaml"
    config.write_text(export(r, "litellm").text)
    chat_server.set_fault(r.providers[source].model, "context_window")

    answered = route(config, source, keys)

    expected = r.providers["deepseek-v3.1"]
    assert answered["model"] == expected.model, answered
    assert [q.model for q in chat_server.requests] == [r.providers[source].model, expected.model]
    chat_server.clear()
    chat_server.set_fault(r.providers[source].model, "context_window")
    assert (
        resolver.chat(
            source, [{"role": "user", "content": "hi"}], environ=keys, resolver=r
        ).served_by
        == expected.id
    )
