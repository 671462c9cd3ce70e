"""The gateway through the official openai SDK: completions and streams carried through the
chain, attribution in headers and body, the per-request opt-out and deadline, and OpenAI-shaped
errors with the right status."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from conftest import BACKUP, MESSAGES, PRIMARY
from gateway_support import gateway_for, sdk, serving

REPLY = "Yes, it will rain tomorrow."


@pytest.fixture
def gateway(roomy, keys):
    return gateway_for(roomy, keys)


@pytest.fixture
def base_url(gateway) -> Iterator[str]:
    with serving(gateway) as url:
        yield url


def primary_model(roomy) -> str:
    return roomy.providers[PRIMARY].model


def backup_model(roomy) -> str:
    return roomy.providers[BACKUP].model


def test_plain_completion_names_the_served_model(chat_server, roomy, base_url):
    """A completion from a healthy primary comes back with its text, the catalog id in
    ``model``, and headers naming the model requested, the one serving and one attempt."""
    chat_server.reply(primary_model(roomy), REPLY)

    raw = sdk(base_url).chat.completions.with_raw_response.create(model=PRIMARY, messages=MESSAGES)
    completion = raw.parse()

    assert completion.choices[0].message.content == REPLY
    assert completion.model == PRIMARY
    assert raw.headers["x-fallback-requested"] == PRIMARY
    assert raw.headers["x-fallback-served-by"] == PRIMARY
    assert raw.headers["x-fallback-attempts"] == "1"


def test_failing_primary_is_served_by_the_backup_and_says_so(chat_server, roomy, base_url):
    """A primary answering 500 is served by its backup: the body's model and the headers name
    the backup, after two attempts."""
    chat_server.set_fault(primary_model(roomy), "server")
    chat_server.reply(backup_model(roomy), REPLY)

    raw = sdk(base_url).chat.completions.with_raw_response.create(model=PRIMARY, messages=MESSAGES)

    assert raw.parse().choices[0].message.content == REPLY
    assert raw.parse().model == BACKUP
    assert raw.headers["x-fallback-requested"] == PRIMARY
    assert raw.headers["x-fallback-served-by"] == BACKUP
    assert raw.headers["x-fallback-attempts"] == "2"


def test_stream_reads_as_an_openai_stream(chat_server, roomy, base_url):
    """A streamed completion reads with the SDK's streaming to the full reply, each chunk
    naming the serving model, with usage at the end."""
    chat_server.reply(primary_model(roomy), REPLY)

    chunks = list(
        sdk(base_url).chat.completions.create(
            model=PRIMARY,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert {c.model for c in chunks} == {PRIMARY}
    assert chunks[-1].usage is not None


@pytest.mark.parametrize(("fault", "options"), [("server", {}), ("sse_error", {"after": 0})])
def test_stream_whose_primary_fails_before_the_first_token_is_served_by_the_backup(
    fault, options, chat_server, roomy, base_url
):
    """A primary whose stream fails before any content (an error status, an error event in a
    200) is replaced by the backup's stream, and the headers say who serves."""
    chat_server.set_fault(primary_model(roomy), fault, **options)
    chat_server.reply(backup_model(roomy), REPLY)

    with sdk(base_url).chat.completions.with_streaming_response.create(
        model=PRIMARY, messages=MESSAGES, stream=True
    ) as response:
        assert response.headers["x-fallback-served-by"] == BACKUP
        assert response.headers["x-fallback-attempts"] == "2"
        chunks = list(response.parse())

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert {c.model for c in chunks} == {BACKUP}


def test_stream_broken_after_content_ends_in_an_error_not_a_clean_end(chat_server, roomy, base_url):
    """A stream cut after content has been sent reaches the SDK as an APIError, after the
    partial content, never as a stream that ended normally."""
    chat_server.reply(primary_model(roomy), REPLY)
    chat_server.set_fault(primary_model(roomy), "sse_cut", after=2)
    received: list[str] = []

    def read() -> None:
        stream = sdk(base_url).chat.completions.create(
            model=PRIMARY, messages=MESSAGES, stream=True
        )
        received.extend(c.choices[0].delta.content or "" for c in stream if c.choices)

    with pytest.raises(openai.APIError, match="broke after"):
        read()

    assert "".join(received)
    assert REPLY.startswith("".join(received))


@pytest.mark.parametrize("stream", [False, True])
def test_opt_out_header_never_calls_the_backup(stream, chat_server, roomy, base_url):
    """With ``x-fallback: off`` a failing primary is a 502 naming it, streaming or not, and the
    backup gets no request."""
    chat_server.set_fault(primary_model(roomy), "server")
    client = sdk(base_url, default_headers={"x-fallback": "off"})

    def ask() -> None:
        answer = client.chat.completions.create(model=PRIMARY, messages=MESSAGES, stream=stream)
        if stream:
            list(answer)

    with pytest.raises(openai.APIStatusError) as caught:
        ask()

    assert caught.value.status_code == 502
    assert [a["provider_id"] for a in caught.value.body["attempts"]] == [PRIMARY]
    assert chat_server.requests_for(backup_model(roomy)) == []


def test_unknown_model_is_a_404_with_a_suggestion(base_url):
    """A model id that is not in the catalog is a 404 model_not_found that suggests the
    nearest id."""
    with pytest.raises(openai.NotFoundError) as caught:
        sdk(base_url).chat.completions.create(model=PRIMARY + "x", messages=MESSAGES)

    assert caught.value.code == "model_not_found"
    assert PRIMARY in caught.value.message


def test_exhausted_chain_is_a_502_listing_every_attempt(chat_server, roomy, base_url):
    """When the primary and its backup both fail, the answer is a 502 whose error lists both
    attempts with their error classes."""
    chat_server.set_fault(primary_model(roomy), "server")
    chat_server.set_fault(backup_model(roomy), "unavailable")

    with pytest.raises(openai.InternalServerError) as caught:
        sdk(base_url).chat.completions.create(model=PRIMARY, messages=MESSAGES)

    assert caught.value.status_code == 502
    assert caught.value.code == "fallback_exhausted"
    attempts = [(a["provider_id"], a["error_class"]) for a in caught.value.body["attempts"]]
    assert attempts == [(PRIMARY, "server"), (BACKUP, "server")]


def test_deadline_header_shortens_the_call_to_a_504(chat_server, roomy, base_url):
    """``x-fallback-deadline-s`` bounds the call: a primary slower than it ends in a 504."""
    chat_server.set_fault(primary_model(roomy), "slow", delay_s=5.0)
    chat_server.set_fault(backup_model(roomy), "slow", delay_s=5.0)
    client = sdk(base_url, default_headers={"x-fallback-deadline-s": "0.3"})

    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=PRIMARY, messages=MESSAGES)

    assert caught.value.status_code == 504
    assert caught.value.code == "deadline_exceeded"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"model": "x", "messages": [', "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"model": PRIMARY}).encode(), "'messages'"),
        (json.dumps({"model": PRIMARY, "messages": MESSAGES, "stream": "yes"}).encode(), "stream"),
    ],
)
def test_malformed_request_is_a_400_with_the_reason(body, reason, base_url):
    """A body that is not valid JSON or not a chat request is a 400 in OpenAI's shape whose
    message says what is wrong."""
    response = httpx.post(f"{base_url}/chat/completions", content=body)

    assert response.status_code == 400
    assert reason in response.json()["error"]["message"]
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("name", ["environ", "resolver", "client", "fallback", "on_event"])
def test_a_body_cannot_reach_the_gateways_own_settings(name, chat_server, base_url):
    """A body field named like one of the resolver's own call settings (the environment of
    vendor keys, the resolver itself) is refused as an unknown parameter, before any call."""
    with pytest.raises(openai.BadRequestError, match=name):
        sdk(base_url).chat.completions.create(
            model=PRIMARY, messages=MESSAGES, extra_body={name: {"X": "1"}}
        )
    assert chat_server.requests == []


def test_models_lists_the_enabled_models(roomy, base_url):
    """GET /v1/models lists every enabled model of the env, and no disabled one."""
    listed = {m.id for m in sdk(base_url).models.list()}

    assert listed == {p.id for p in roomy.providers.values() if p.enabled}


def test_health_readiness_and_metrics(chat_server, roomy, base_url):
    """/healthz answers, /readyz reports the config ready, and /metrics carries the
    resolver's counters and the gateway's latency histogram for the requested model."""
    sdk(base_url).chat.completions.create(model=PRIMARY, messages=MESSAGES)
    root = base_url.removesuffix("/v1")

    assert httpx.get(f"{root}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{root}/readyz").json()["status"] == "ready"
    metrics = httpx.get(f"{root}/metrics").text
    assert f'llm_fallback_calls_total{{model="{PRIMARY}"}} 1.0' in metrics
    assert (
        f'llm_gateway_request_seconds_count{{model="{PRIMARY}",route="/v1/chat/completions"'
        in metrics
    )


class _BrokenEnviron(dict):
    """An environment whose lookups fail, as a misbehaving mapping of the caller's would."""

    def get(self, key, default=None):
        raise RuntimeError("secret-detail-of-the-failure")


def test_an_internal_error_is_a_500_in_openais_shape_without_its_cause(chat_server, roomy):
    """A failure the gateway has no name for is a 500 in OpenAI's shape that says nothing of
    its cause (which stays in the gateway's log)."""
    with (
        serving(gateway_for(roomy, _BrokenEnviron())) as url,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        sdk(url).chat.completions.create(model=PRIMARY, messages=MESSAGES)

    assert caught.value.status_code == 500
    assert caught.value.code == "internal_error"
    assert "secret-detail" not in str(caught.value.body)
