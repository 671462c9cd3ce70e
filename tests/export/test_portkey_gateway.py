"""The Portkey export, served by Portkey's open-source gateway (`@portkey-ai/gateway`, pinned in
tests/export/node/package-lock.json) under node on 127.0.0.1, in front of the loopback
ChatServer."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import resolver
from resolver import ProviderError, load
from resolver.export import export
from resolver.export.portkey import with_keys
from resolver.testing import ChatServer

NODE_DIR = Path(__file__).parent / "node"
GATEWAY = NODE_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
PRIMARY = "deepseek-r1-0528-syn"
MESSAGES = [{"role": "user", "content": "Will it rain tomorrow?"}]

pytestmark = pytest.mark.skipif(
    not GATEWAY.exists() or shutil.which("node") is None,
    reason="node and tests/export/node/node_modules are needed: `npm ci` there (.ci/run does)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """The gateway's base URL; loopback.mjs keeps it off every other interface."""
    port = _free_port()
    proc = subprocess.Popen(
        ["node", "--import", "./loopback.mjs", str(GATEWAY), f"--port={port}", "--headless"],
        cwd=NODE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the Portkey gateway did not start: {proc.stderr.read()}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def request_config(configs: dict, model: str, environ: dict[str, str]) -> dict:
    """The config a sender attaches, as the README shows: keys filled from its environment,
    targets without a key dropped."""
    return with_keys(configs[model], environ)


def ask(gateway: str, config: dict, model: str) -> httpx.Response:
    return httpx.post(
        f"{gateway}/v1/chat/completions",
        headers={"x-portkey-config": json.dumps(config)},
        json={"model": model, "messages": MESSAGES},
        timeout=60,
    )


def test_gateway_falls_back_to_the_backup_our_resolver_names(gateway, chat_server):
    """With the primary answering 500, the gateway serves the request from the same backup as
    the resolver's lookup and the executor, after trying the primary once."""
    r = load(env="prod", overrides=chat_server.overrides())
    keys = ChatServer.environ()
    backup = r.get_fallback_provider(PRIMARY, environ=keys)
    assert backup is not None
    chat_server.set_fault(r.providers[PRIMARY].model, "server")
    configs = json.loads(export(r, "portkey").text)["configs"]

    response = ask(gateway, request_config(configs, PRIMARY, keys), PRIMARY)

    assert response.status_code == 200, response.text
    assert response.json()["model"] == backup.model
    assert [q.model for q in chat_server.requests] == [r.providers[PRIMARY].model, backup.model]
    assert all(q.has_auth for q in chat_server.requests)
    chat_server.clear()
    chat_server.set_fault(r.providers[PRIMARY].model, "server")
    assert resolver.chat(PRIMARY, MESSAGES, environ=keys, resolver=r).served_by == backup.id


def test_gateway_does_not_fall_back_on_a_bad_request(gateway, chat_server):
    """A 400 bad request goes back to the caller without trying the backup, as our executor
    does (the backup would reject it too)."""
    r = load(env="prod", overrides=chat_server.overrides())
    keys = ChatServer.environ()
    chat_server.set_fault(r.providers[PRIMARY].model, "bad_request")
    configs = json.loads(export(r, "portkey").text)["configs"]

    response = ask(gateway, request_config(configs, PRIMARY, keys), PRIMARY)

    assert response.status_code == 400
    assert [q.model for q in chat_server.requests] == [r.providers[PRIMARY].model]
    with pytest.raises(ProviderError) as caught:
        resolver.chat(PRIMARY, MESSAGES, environ=keys, resolver=r)
    assert caught.value.error_class == "bad_request"


def test_a_backup_without_its_key_is_left_out_as_the_resolver_skips_it(gateway, chat_server):
    """With the backup's key variable unset, the sender drops it as the README shows, and the
    gateway returns the primary's failure, as the resolver finds no usable backup."""
    r = load(env="prod", overrides=chat_server.overrides())
    keys = ChatServer.environ("SYNTHETIC_API_KEY")
    assert r.get_fallback_provider(PRIMARY, environ=keys) is None
    chat_server.set_fault(r.providers[PRIMARY].model, "server")
    configs = json.loads(export(r, "portkey").text)["configs"]

    response = ask(gateway, request_config(configs, PRIMARY, keys), PRIMARY)

    assert response.status_code == 500
    assert [q.model for q in chat_server.requests] == [r.providers[PRIMARY].model]


def test_a_config_sent_without_its_keys_filled_is_refused_not_sent_keyless(gateway, chat_server):
    """The export names each key by variable in a form the gateway's schema refuses: sent as
    written, the request fails at the gateway and no upstream sees a keyless request."""
    r = load(env="prod", overrides=chat_server.overrides())
    configs = json.loads(export(r, "portkey").text)["configs"]

    response = ask(gateway, configs[PRIMARY], PRIMARY)

    assert 400 <= response.status_code < 500, response.text
    assert chat_server.requests == []


GROUPED = [
    "++groups={llama: {strategy: weighted, members: "
    "{llama-3.3-70b-turbo: {weight: 3}, llama-3-70b-reference: {weight: 1}}}}",
    "++fallbacks={llama: [deepseek-v3.1]}",
]


def test_gateway_balances_an_exported_group_by_weight_and_fails_over(gateway, chat_server):
    """A weighted group exported as a loadbalance target nested in the fallback config splits
    3,000 requests through Portkey's gateway within 3% of its weights (the upstreams' own
    counts), and with every member failing the group's backup serves."""
    r = load(env="prod", overrides=[*chat_server.overrides(), *GROUPED])
    keys = ChatServer.environ()
    configs = json.loads(export(r, "portkey").text)["configs"]
    config = json.dumps(with_keys(configs["llama"], keys))
    a, b = (r.providers[m].model for m in ("llama-3.3-70b-turbo", "llama-3-70b-reference"))
    with httpx.Client(timeout=60) as client:

        def send() -> httpx.Response:
            return client.post(
                f"{gateway}/v1/chat/completions",
                headers={"x-portkey-config": config},
                json={"model": "llama", "messages": MESSAGES},
            )

        assert all(send().status_code == 200 for _ in range(3000))
        counted = {m: len(chat_server.requests_for(m)) for m in (a, b)}
        assert abs(counted[a] / 3000 - 0.75) < 0.03, counted
        assert counted[a] + counted[b] == 3000
        chat_server.clear()
        chat_server.set_fault(a, "server")
        chat_server.set_fault(b, "server")
        answer = send()
    assert answer.status_code == 200
    assert answer.json()["model"] == r.providers["deepseek-v3.1"].model
