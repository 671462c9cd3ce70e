"""ChatServer speaks the protocol: the official OpenAI SDK, as a client, raises for each fault
the exception a real vendor's answer would produce, reads the error bodies' fields, and reads
the server's Server-Sent Events as a stream."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest
from conftest import MESSAGES

from resolver.testing import ChatServer

MODEL = "vendor/some-model"

# fault -> (SDK exception, HTTP status, error.type, error.param, error.code), as OpenAI's API
# answers: its error codes reference and the bodies it sends.
STATUS_FAULTS = {
    "rate_limit": (openai.RateLimitError, 429, "requests", None, "rate_limit_exceeded"),
    "auth": (openai.AuthenticationError, 401, "invalid_request_error", None, "invalid_api_key"),
    "echo_key": (
        openai.AuthenticationError,
        401,
        "invalid_request_error",
        None,
        "invalid_api_key",
    ),
    "not_found": (openai.NotFoundError, 404, "invalid_request_error", None, "model_not_found"),
    "context_window": (
        openai.BadRequestError,
        400,
        "invalid_request_error",
        "messages",
        "context_length_exceeded",
    ),
    "bad_request": (
        openai.BadRequestError,
        400,
        "invalid_request_error",
        "temperature",
        "invalid_type",
    ),
    "content_policy": (
        openai.BadRequestError,
        400,
        "invalid_request_error",
        "prompt",
        "content_filter",
    ),
    "server": (openai.InternalServerError, 500, "server_error", None, None),
    "unavailable": (openai.InternalServerError, 503, "server_error", None, None),
}


def sdk(server: ChatServer, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.base_url, api_key="sk-test-key", max_retries=0, timeout=timeout
    )


@pytest.mark.parametrize("fault", sorted(STATUS_FAULTS))
def test_status_faults_raise_the_sdk_error_a_vendor_would(fault, chat_server):
    """Each status fault makes the SDK raise exactly the exception class a vendor's answer with
    that status would, with the error body's type, param and code parsed."""
    error, status, error_type, param, code = STATUS_FAULTS[fault]
    chat_server.set_fault(MODEL, fault)

    with sdk(chat_server) as client, pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)

    exc = caught.value
    assert type(exc) is error
    assert exc.status_code == status
    assert (exc.type, exc.param, exc.code) == (error_type, param, code)
    assert set(exc.body) == {"message", "type", "param", "code"}
    assert exc.body["message"] in str(exc)


def test_rate_limit_sends_retry_after(chat_server):
    """A rate-limit answer carries the Retry-After the fault was given."""
    chat_server.set_fault(MODEL, "rate_limit", retry_after=7)

    with sdk(chat_server) as client, pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)

    assert caught.value.response.headers["retry-after"] == "7"
    assert "try again in 7s" in caught.value.body["message"]


def test_not_found_names_the_model(chat_server):
    """A model_not_found answer names the model string the request asked for."""
    chat_server.set_fault(MODEL, "not_found")

    with sdk(chat_server) as client, pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)

    assert f"`{MODEL}` does not exist" in caught.value.body["message"]


def test_echo_key_quotes_the_bearer_key(chat_server):
    """The echo_key fault quotes the whole key the request was sent with, as a careless
    vendor does."""
    chat_server.set_fault(MODEL, "echo_key")

    with sdk(chat_server) as client, pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)

    assert "sk-test-key" in caught.value.body["message"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("slow", openai.APITimeoutError),
        ("stall", openai.APITimeoutError),
        ("drop", openai.APIConnectionError),
    ],
)
def test_transport_faults_raise_the_sdk_transport_errors(fault, error, chat_server):
    """A slow answer and a stall before the headers end in the SDK's APITimeoutError, a
    dropped connection in its APIConnectionError (and not a timeout)."""
    chat_server.set_fault(MODEL, fault, delay_s=3.0)

    with sdk(chat_server, timeout=0.3) as client, pytest.raises(openai.APIConnectionError) as e:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)

    assert type(e.value) is error


def test_stall_hangs_up_without_answering():
    """A stall sends nothing at all, and hangs up once its delay is over: the client, with
    time to spare, sees the connection closed, not an answer."""
    with ChatServer() as server:
        server.set_fault(MODEL, "stall", delay_s=0.3)
        with sdk(server, timeout=5.0) as client, pytest.raises(openai.APIConnectionError) as e:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)

        assert type(e.value) is openai.APIConnectionError
        (seen,) = server.requests
        assert seen.fault == "stall"


def test_slow_accept_times_out_then_serves():
    """With a slow accept, a client whose timeout is shorter than the delay gets the SDK's
    APITimeoutError; one with time to spare is answered once its connection is accepted."""
    with ChatServer() as server:
        server.set_accept_delay(2.0, times=1)
        with sdk(server, timeout=0.3) as client, pytest.raises(openai.APIConnectionError) as e:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert type(e.value) is openai.APITimeoutError

        server.set_accept_delay(0.5, times=1)
        started = time.monotonic()
        with sdk(server, timeout=10.0) as client:
            answer = client.chat.completions.create(model=MODEL, messages=MESSAGES)

        assert time.monotonic() - started >= 0.4
        assert answer.choices[0].message.content == f"ok from {MODEL}"


def test_streaming_is_read_by_the_sdk(chat_server):
    """With stream=True and include_usage, the SDK reads a role chunk, the content in pieces
    that add up to the reply, a finish_reason of stop, then one usage chunk with no choices."""
    chat_server.reply(MODEL, "It will rain tomorrow, most likely.")

    with sdk(chat_server) as client:
        chunks = list(
            client.chat.completions.create(
                model=MODEL,
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            )
        )

    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in with_choices)
    assert text == "It will rain tomorrow, most likely."
    assert len([c for c in with_choices if c.choices[0].delta.content]) > 1
    assert [c.choices[0].finish_reason for c in with_choices][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in with_choices[:-1])
    *_, last = chunks
    assert last.choices == []
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert {c.model for c in chunks} == {MODEL}


def test_async_streaming_without_usage(chat_server):
    """The async SDK reads the stream too; without include_usage no chunk carries usage."""

    async def read() -> list[openai.types.chat.ChatCompletionChunk]:
        async with openai.AsyncOpenAI(
            base_url=chat_server.base_url, api_key="sk-test-key", max_retries=0
        ) as client:
            stream = await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True
            )
            return [chunk async for chunk in stream]

    chunks = asyncio.run(read())

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == f"ok from {MODEL}"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_stream_ends_with_done_on_the_wire(chat_server):
    """On the wire, a streamed answer is text/event-stream, every event a ``data:`` line, and
    the last one ``data: [DONE]``."""
    response = httpx.post(
        f"{chat_server.base_url}/chat/completions",
        json={"model": MODEL, "messages": MESSAGES, "stream": True},
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
