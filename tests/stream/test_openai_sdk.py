"""The official openai SDK as the consumer: it reads ChatServer's streams and streaming faults
the way it reads a vendor's, and, as a user's own streaming fn, falls back through the chain."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from conftest import BACKUP, MESSAGES, PRIMARY

from resolver import (
    ErrorClass,
    Provider,
    Resolver,
    StreamInterrupted,
    astream_with_fallback,
    stream_with_fallback,
)
from resolver.testing import ChatServer

REPLY = "Yes, it will rain tomorrow."


def sdk(server: ChatServer, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0, **options)


def read_sdk_stream(client: openai.OpenAI, model: str) -> tuple[str, list[Any]]:
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def test_sdk_reads_a_healthy_stream_with_usage(chat_server):
    """The SDK parses ChatServer's stream into typed chunks: the reply, a stop finish reason
    and usage on the final chunk, as from a vendor."""
    chat_server.reply("m", REPLY)

    text, chunks = read_sdk_stream(sdk(chat_server), "m")

    assert text == REPLY
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.total_tokens == (
        chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens
    )


SDK_READS = {
    "server": ({}, openai.InternalServerError),
    "sse_error": ({"after": 2}, openai.APIError),
    "sse_cut": ({"after": 2}, openai.APIConnectionError),
    "sse_malformed": ({"after": 2}, json.JSONDecodeError),
    "sse_stall": ({"after": 2, "delay_s": 5.0}, openai.APITimeoutError),
}


@pytest.mark.parametrize("fault", sorted(SDK_READS))
def test_sdk_raises_for_each_breaking_fault_as_for_a_vendor(fault, chat_server):
    """Each breaking streaming fault reaches the SDK as a vendor's would: a status error, an
    APIError from the error event, a connection error for the cut, a JSON error for malformed
    data, a timeout for the stall."""
    chat_server.reply("m", REPLY)
    options, expected = SDK_READS[fault]
    chat_server.set_fault("m", fault, **options)

    with pytest.raises(expected):
        read_sdk_stream(sdk(chat_server, timeout=0.5), "m")


def test_sdk_ends_quietly_on_empty_and_done_less_streams(chat_server):
    """The SDK itself treats an empty stream and one without [DONE] as normal ends: the gap
    that the resolver's contract closes."""
    chat_server.reply("m", REPLY)
    chat_server.set_fault("m", "sse_empty")
    assert read_sdk_stream(sdk(chat_server), "m") == ("", [])

    chat_server.set_fault("m", "sse_no_done", after=99)
    assert read_sdk_stream(sdk(chat_server), "m")[0] == REPLY


# --- the SDK as a user's own streaming fn ------------------------------------------------------


def sdk_errors(exc: BaseException) -> ErrorClass | None:
    """The user's classify for the SDK's streaming errors (status errors need none)."""
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.APIError) and getattr(exc, "status_code", None) is None:
        return "server"  # an error event inside the 200 stream
    if isinstance(exc, ValueError):
        return "bad_response"
    return None


def with_partial(partial: str) -> list[dict[str, str]]:
    return [*MESSAGES, {"role": "assistant", "content": partial}] if partial else MESSAGES


@pytest.fixture
def sdk_resolver(roomy: Resolver, chat_server: ChatServer) -> Resolver:
    chat_server.reply(roomy.providers[PRIMARY].model, REPLY)
    chat_server.reply(roomy.providers[BACKUP].model, "Backup says yes.")
    return roomy


def run_sdk(mode: str, resolver: Resolver, server: ChatServer) -> tuple[str, Any, Any]:
    """Stream PRIMARY through the chain with the SDK as fn: (text, stream, error)."""
    text: list[str] = []

    if mode == "sync":

        def ask(provider: Provider, partial: str) -> Any:
            return openai.OpenAI(
                base_url=provider.base_url, api_key="test-key", max_retries=0
            ).chat.completions.create(
                model=provider.model,
                messages=with_partial(partial),
                stream=True,
                stream_options={"include_usage": True},
            )

        with stream_with_fallback(
            PRIMARY, ask, resolver=resolver, environ=server.environ(), classify=sdk_errors
        ) as stream:
            try:
                for chunk in stream:
                    text.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
            except StreamInterrupted as exc:
                return "".join(text), stream, exc
        return "".join(text), stream, None

    def aask(provider: Provider, partial: str) -> Any:
        client = openai.AsyncOpenAI(base_url=provider.base_url, api_key="test-key", max_retries=0)
        return client.chat.completions.create(
            model=provider.model,
            messages=with_partial(partial),
            stream=True,
            stream_options={"include_usage": True},
        )

    async def consume() -> tuple[str, Any, Any]:
        stream = astream_with_fallback(
            PRIMARY, aask, resolver=resolver, environ=server.environ(), classify=sdk_errors
        )
        async with stream:
            try:
                async for chunk in stream:
                    text.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
            except StreamInterrupted as exc:
                return "".join(text), stream, exc
        return "".join(text), stream, None

    return asyncio.run(consume())


def test_sdk_fn_healthy_stream_gives_outcome_with_usage(mode, sdk_resolver, chat_server):
    """With the SDK's stream as fn, the caller gets the SDK's own chunks, and the outcome
    reads usage from the SDK's final chunk and prices it."""
    text, stream, error = run_sdk(mode, sdk_resolver, chat_server)

    assert error is None
    assert text == REPLY
    outcome = stream.outcome
    assert outcome.served_by == PRIMARY
    assert outcome.value.content == REPLY
    assert outcome.value.total_tokens > 0
    assert outcome.cost_usd is not None


@pytest.mark.parametrize("fault", ["sse_error", "sse_empty", "sse_malformed", "sse_cut", "server"])
def test_sdk_fn_failure_before_content_falls_back(fault, mode, sdk_resolver, chat_server):
    """Before content, an SDK stream failing in any way (the empty stream the SDK itself
    accepts included) falls back, and the caller sees only the backup's answer."""
    chat_server.set_fault(sdk_resolver.providers[PRIMARY].model, fault)

    text, stream, error = run_sdk(mode, sdk_resolver, chat_server)

    assert error is None
    assert text == "Backup says yes."
    assert stream.outcome.served_by == BACKUP
    assert stream.outcome.attempts[0].provider_id == PRIMARY
    assert not stream.outcome.attempts[0].ok


@pytest.mark.parametrize("fault", ["sse_error", "sse_cut", "sse_malformed"])
def test_sdk_fn_break_after_content_raises(fault, mode, sdk_resolver, chat_server):
    """After content, an SDK stream that breaks ends with StreamInterrupted carrying what the
    caller received; the backup is not called."""
    chat_server.set_fault(sdk_resolver.providers[PRIMARY].model, fault, after=2)

    text, stream, error = run_sdk(mode, sdk_resolver, chat_server)

    assert isinstance(error, StreamInterrupted)
    assert error.partial == text == "Yes, it"
    assert stream.outcome is None
    assert chat_server.requests_for(sdk_resolver.providers[BACKUP].model) == []
