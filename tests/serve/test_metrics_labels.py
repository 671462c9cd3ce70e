"""/metrics is labelled by catalog ids, routes and statuses only: nothing a client sent (its
key, a key-like model id or path) and no vendor key ever appears in it."""

from __future__ import annotations

import httpx
import pytest
from conftest import MESSAGES, PRIMARY
from gateway_support import gateway_for, serving

CLIENT_KEY = "gw-metrics-key-7d3a90c1"
WRONG_KEY = "sk-wrong-3f9a1c77e0"
TYPED = "sk-typed-as-a-model-41d2"


@pytest.fixture
def locked(roomy, keys):
    """A gateway that asks for CLIENT_KEY."""
    with serving(gateway_for(roomy, keys, keys=(CLIENT_KEY.encode(),))) as url:
        yield url


def test_metrics_carry_no_key_and_nothing_a_client_typed(chat_server, keys, locked):
    """After a served completion, a refused key, a key-like model id and a key-like path, the
    metrics text names the requested catalog id and none of those strings nor a vendor key."""
    root = locked.removesuffix("/v1")
    sent = [
        ({"model": PRIMARY, "messages": MESSAGES}, CLIENT_KEY, "/v1/chat/completions", 200),
        ({"model": PRIMARY, "messages": MESSAGES}, WRONG_KEY, "/v1/chat/completions", 401),
        ({"model": TYPED, "messages": MESSAGES}, CLIENT_KEY, "/v1/chat/completions", 404),
        ({"model": PRIMARY, "messages": MESSAGES}, CLIENT_KEY, f"/v1/{TYPED}", 404),
    ]
    statuses = []
    for body, key, path, _ in sent:
        answer = httpx.post(root + path, json=body, headers={"Authorization": f"Bearer {key}"})
        statuses.append(answer.status_code)
    text = httpx.get(f"{root}/metrics").text

    assert statuses == [status for *_, status in sent]
    assert f'model="{PRIMARY}"' in text
    for secret in (CLIENT_KEY, WRONG_KEY, TYPED, *keys.values()):
        assert secret not in text
