"""What gateways share and what a client's leaving does: two gateways on one Redis take a
failing model out of rotation together, and a client that stops reading a stream closes the
upstream stream at once; and readiness says when the shared store does not answer."""

from __future__ import annotations

import time

import httpx
from conftest import BACKUP, MESSAGES, PRIMARY
from gateway_support import gateway_for, sdk, serving

from resolver.testing import make_resolver


def test_a_model_failing_through_one_gateway_is_out_of_rotation_for_both(
    chat_server, keys, redis_url, namespace
):
    """Two gateways sharing health on Redis: once the primary has failed enough times through
    the first, the second skips it and its backup serves at the first attempt."""
    settings = [
        *chat_server.overrides(),
        "policy.health.store=redis",
        f"policy.health.url={redis_url}",
        f"policy.health.namespace={namespace}",
    ]
    first = gateway_for(make_resolver(env="prod", overrides=settings), keys)
    second = gateway_for(make_resolver(env="prod", overrides=settings), keys)
    primary = first.resolver.providers[PRIMARY].model
    chat_server.set_fault(primary, "server")
    with serving(first) as one, serving(second) as two:
        for _ in range(first.resolver.policy.health.failure_threshold):
            sdk(one).chat.completions.create(model=PRIMARY, messages=MESSAGES)
        calls_to_primary = len(chat_server.requests_for(primary))
        raw = sdk(two).chat.completions.with_raw_response.create(model=PRIMARY, messages=MESSAGES)

    assert raw.headers["x-fallback-served-by"] == BACKUP
    assert raw.headers["x-fallback-attempts"] == "1"
    assert len(chat_server.requests_for(primary)) == calls_to_primary


def test_a_client_leaving_a_stream_closes_the_upstream_stream(chat_server, roomy, keys):
    """A client that reads the first chunk of a stream and hangs up, while the upstream
    stalls, makes the gateway close its upstream connection without waiting for the stall."""
    model = roomy.providers[PRIMARY].model
    chat_server.set_fault(model, "sse_stall", after=1, delay_s=5.0)
    with serving(gateway_for(roomy, keys)) as url:
        stream = sdk(url).chat.completions.create(model=PRIMARY, messages=MESSAGES, stream=True)
        next(iter(stream))
        stream.close()
        give_up = time.monotonic() + 4.0
        while not any(r.disconnected for r in chat_server.requests_for(model)):
            assert time.monotonic() < give_up, "the upstream stream was left open"
            time.sleep(0.05)


def test_readiness_is_degraded_while_the_shared_store_does_not_answer(chat_server, keys):
    """A gateway whose health is shared on a Redis that does not answer reports /readyz as
    degraded, naming the unreachable store."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    settings = [
        *chat_server.overrides(),
        "policy.health.store=redis",
        f"policy.health.url=redis://127.0.0.1:{port}/0",
    ]
    with serving(gateway_for(make_resolver(env="prod", overrides=settings), keys)) as url:
        ready = httpx.get(url.removesuffix("/v1") + "/readyz").json()

    assert ready["status"] == "degraded"
    assert "unreachable" in " ".join(ready["reasons"])
