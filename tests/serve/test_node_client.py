"""The official openai npm client against the gateway: tests/serve/node/gateway.test.mjs,
run by Node against a gateway in front of ChatServer (plain and streaming completions, a primary
failing before the first token, a wrong client key, the opt-out header)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import PRIMARY
from gateway_support import gateway_for, serving

NODE_DIR = Path(__file__).parent / "node"
FAILING, FAILING_BACKUP = "kimi-k2-thinking-syn", "kimi-k2-instruct"
REPLY = "Yes, it will rain tomorrow."
CLIENT_KEY = "gw-node-client-key"


def _node_or_skip() -> str:
    """The node binary with the npm client installed; in CI (.ci/run runs `npm ci`) a missing
    one is a failure, elsewhere a skip that says how to install it."""
    node = shutil.which("node")
    missing = (
        "node is not installed"
        if node is None
        else "the npm client is not installed: (cd tests/serve/node && npm ci)"
        if not (NODE_DIR / "node_modules" / "openai").is_dir()
        else None
    )
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    assert node is not None
    return node


def test_the_npm_openai_client_is_served_through_the_chain(chat_server, roomy, keys):
    """The Node tests pass: the npm client reads completions and streams, sees the backup
    serve a failing primary in the headers, gets a 401 for a wrong key, and the opt-out
    header keeps the backup uncalled."""
    node = _node_or_skip()
    for model_id in (PRIMARY, FAILING_BACKUP):
        chat_server.reply(roomy.providers[model_id].model, REPLY)
    chat_server.set_fault(roomy.providers[FAILING].model, "server")
    gateway = gateway_for(roomy, keys, keys=(CLIENT_KEY.encode(),))
    with serving(gateway) as url:
        env = {
            **os.environ,
            "GATEWAY_URL": url,
            "GATEWAY_KEY": CLIENT_KEY,
            "HEALTHY": PRIMARY,
            "FAILING": FAILING,
            "FAILING_BACKUP": FAILING_BACKUP,
            "REPLY": REPLY,
        }
        done = subprocess.run(
            [node, "--test", "--test-reporter=tap", "gateway.test.mjs"],
            cwd=NODE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "# pass 5" in done.stdout
    # Only the fallback test reached the backup: the opted-out calls never did.
    assert len(chat_server.requests_for(roomy.providers[FAILING_BACKUP].model)) == 1
