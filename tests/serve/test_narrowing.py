"""What a request runs on cannot be widened: a call in flight keeps the config it started with
across a reload, and a client's deadline header can shorten the policy's but never lengthen it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from conftest import BACKUP, MESSAGES, PRIMARY
from gateway_support import gateway_for, sdk, serving, snapshot_of
from process_support import wait_for

from resolver import load_snapshot
from resolver.serve import Gateway
from resolver.testing import make_resolver


def test_a_call_in_flight_finishes_on_the_config_it_started_with(chat_server, keys, tmp_path):
    """A completion whose primary is stalling when a reload removes that primary's backup
    is still served by the backup its config named; the next completion, on the new config,
    has no backup left."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    primary = load_snapshot(path).providers[PRIMARY].model
    chat_server.set_fault(primary, "stall", delay_s=1.5)
    gateway = Gateway(lambda: load_snapshot(path), environ=keys)
    with serving(gateway, watch=[path], interval=0.05) as url:
        client = sdk(url, timeout=30)
        with ThreadPoolExecutor(1) as pool:
            started = pool.submit(client.chat.completions.create, model=PRIMARY, messages=MESSAGES)
            time.sleep(0.3)  # on its way: the stall holds it upstream for 1.5 s
            snapshot_of(chat_server, path, f"++fallbacks={{{PRIMARY}: []}}")
            wait_for(lambda: not gateway.resolver.fallbacks[PRIMARY])
            reloaded_while_in_flight = not started.done()
            in_flight = started.result()
        with pytest.raises(openai.APIStatusError) as after:
            client.chat.completions.create(model=PRIMARY, messages=MESSAGES)

    assert reloaded_while_in_flight
    assert in_flight.model == BACKUP
    assert after.value.status_code == 502
    assert [a["provider_id"] for a in after.value.body["attempts"]] == [PRIMARY]


def test_a_deadline_header_cannot_outlast_the_policys(chat_server, keys):
    """With the policy's deadline at 0.3 s, a client asking for 30 s still gets the 504 of the
    policy's deadline from a primary that takes 2 s, while a gateway without a policy deadline
    waits those 2 s and serves it."""
    overrides = chat_server.overrides()
    bounded = make_resolver(env="prod", overrides=[*overrides, "policy.deadline_s=0.3"])
    unbounded = make_resolver(env="prod", overrides=overrides)
    chat_server.set_fault(bounded.providers[PRIMARY].model, "slow", delay_s=2.0)
    body = {"model": PRIMARY, "messages": MESSAGES}
    headers = {"x-fallback-deadline-s": "30"}
    statuses = []
    for resolver in (bounded, unbounded):
        with serving(gateway_for(resolver, keys)) as url:
            answer = httpx.post(f"{url}/chat/completions", json=body, headers=headers, timeout=30)
            statuses.append(answer.status_code)

    assert statuses == [504, 200]
