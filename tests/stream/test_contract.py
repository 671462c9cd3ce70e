"""chat_stream/achat_stream against ChatServer's streaming faults: issue 12's contract, clause by
clause, sync and async."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import BACKUP, MESSAGES, PRIMARY

from resolver import (
    ChatChunk,
    FallbackExhausted,
    Resolver,
    StreamInterrupted,
    achat_stream,
    chat_stream,
)
from resolver.testing import ChatServer, make_resolver

REPLY = "Yes, it will rain tomorrow in the afternoon."
PARTIAL_AFTER_2 = "Yes, it"  # the first two content chunks of REPLY


@pytest.fixture
def streaming(server: ChatServer) -> Callable[..., Resolver]:
    """A prod resolver on the loopback server, with a short first-token wait on the primary
    and any extra overrides."""

    def build(*overrides: str, first_token_s: float = 0.5) -> Resolver:
        return make_resolver(
            env="prod",
            overrides=[
                *server.overrides(),
                f"++models={{{PRIMARY}: {{first_token_timeout_s: {first_token_s}}}}}",
                *overrides,
            ],
        )

    return build


@pytest.fixture
def replies(chat_server: ChatServer, _prod: Resolver) -> ChatServer:
    chat_server.reply(_prod.providers[PRIMARY].model, REPLY)
    chat_server.reply(_prod.providers[BACKUP].model, "Backup says yes.")
    return chat_server


class Read:
    """What the caller saw of one stream: every chunk, the provider exposed at each chunk, the
    stream object itself and how it ended."""

    def __init__(self) -> None:
        self.chunks: list[ChatChunk] = []
        self.seen_provider: list[str | None] = []
        self.stream: Any = None
        self.error: BaseException | None = None

    @property
    def text(self) -> str:
        return "".join(c.content or "" for c in self.chunks)


def read(mode: str, resolver: Resolver, *, stop_after: int | None = None, **kwargs: Any) -> Read:
    """Stream PRIMARY to the end (or ``stop_after`` chunks), recording what the caller saw."""
    seen = Read()
    kwargs.setdefault("environ", ChatServer.environ())
    if mode == "sync":
        with chat_stream(PRIMARY, MESSAGES, resolver=resolver, **kwargs) as stream:
            seen.stream = stream
            try:
                for chunk in stream:
                    seen.chunks.append(chunk)
                    seen.seen_provider.append(stream.provider and stream.provider.id)
                    if stop_after is not None and len(seen.chunks) >= stop_after:
                        break
            except Exception as exc:
                seen.error = exc
        return seen

    async def consume() -> None:
        async with achat_stream(PRIMARY, MESSAGES, resolver=resolver, **kwargs) as stream:
            seen.stream = stream
            try:
                async for chunk in stream:
                    seen.chunks.append(chunk)
                    seen.seen_provider.append(stream.provider and stream.provider.id)
                    if stop_after is not None and len(seen.chunks) >= stop_after:
                        break
            except Exception as exc:
                seen.error = exc

    asyncio.run(consume())
    return seen


def wait_for(condition: Callable[[], bool], seconds: float = 3.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


# --- 3. attribution from the first chunk, outcome at the end ----------------------------------


def test_healthy_stream_exposes_provider_at_first_content_and_outcome_at_end(
    mode, streaming, replies
):
    """A healthy stream delivers the whole reply chunk by chunk; the serving provider is known
    from the first chunk released, and the outcome at the end carries the usage of the final
    chunk (asked for with stream_options.include_usage), the cost and the attempt."""
    resolver = streaming()
    seen = read(mode, resolver)

    assert seen.error is None
    assert seen.text == REPLY
    assert len(seen.chunks) > 3
    assert set(seen.seen_provider) == {PRIMARY}
    outcome = seen.stream.outcome
    assert outcome.served_by == PRIMARY
    assert not outcome.fallback_used
    assert outcome.value.content == REPLY
    assert outcome.value.finish_reason == "stop"
    result = outcome.value
    assert result.total_tokens == result.prompt_tokens + result.completion_tokens > 0
    pricing = resolver.providers[PRIMARY].pricing
    assert outcome.cost_usd == pricing.cost(result.prompt_tokens, result.completion_tokens)
    assert [(a.provider_id, a.ok) for a in outcome.attempts] == [(PRIMARY, True)]
    (request,) = replies.requests
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}


def test_outcome_is_none_and_provider_unknown_before_reading(streaming, replies):
    """Before the first chunk is read nothing has been sent: no provider, no outcome."""
    stream = chat_stream(PRIMARY, MESSAGES, resolver=streaming(), environ=ChatServer.environ())
    assert stream.provider is None
    assert stream.outcome is None
    assert replies.requests == []
    stream.close()


# --- 1. before the first content, every failure falls back -----------------------------------

BEFORE_CONTENT = {
    "server": ({}, "server", 500),
    "rate_limit": ({"retry_after": 30}, "rate_limit", 429),
    "sse_error": ({}, "server", 200),
    "sse_empty": ({}, "bad_response", 200),
    "sse_no_done": ({}, "bad_response", 200),
    "sse_malformed": ({}, "bad_response", 200),
    "sse_cut": ({}, "connection", None),
    "sse_stall": ({"delay_s": 5.0}, "timeout", None),
}


@pytest.mark.parametrize("fault", sorted(BEFORE_CONTENT))
def test_failure_before_content_falls_back_and_sends_nothing_from_primary(
    fault, mode, streaming, replies
):
    """A failure before the first content chunk (an error status, an error inside the 200
    stream, an empty stream, no [DONE], malformed SSE, a cut, a stall past
    first_token_timeout_s) falls back: the caller only ever sees the backup's chunks."""
    resolver = streaming()
    options, error_class, status = BEFORE_CONTENT[fault]
    replies.set_fault(resolver.providers[PRIMARY].model, fault, **options)

    seen = read(mode, resolver)

    assert seen.error is None
    assert seen.text == "Backup says yes."
    assert {c.provider_id for c in seen.chunks} == {BACKUP}
    assert set(seen.seen_provider) == {BACKUP}
    first, second = seen.stream.outcome.attempts
    assert (first.provider_id, first.error_class, first.status) == (PRIMARY, error_class, status)
    assert (second.provider_id, second.ok) == (BACKUP, True)
    assert seen.stream.outcome.fallback_used


def test_stall_before_first_token_is_cut_at_first_token_timeout(mode, streaming, replies):
    """A primary that stays silent is abandoned after its first_token_timeout_s, long before
    the stall would end, and the stall is reported as such."""
    resolver = streaming(first_token_s=0.3)
    replies.set_fault(resolver.providers[PRIMARY].model, "sse_stall", delay_s=10.0)

    started = time.monotonic()
    seen = read(mode, resolver)

    assert time.monotonic() - started < 5.0
    assert seen.stream.outcome.served_by == BACKUP
    message = seen.stream.outcome.attempts[0].message
    assert "first_token_timeout_s=0.3" in message


# --- 2. after content, never pretend ---------------------------------------------------------

AFTER_CONTENT = {
    "sse_error": ({"after": 2}, "server"),
    "sse_cut": ({"after": 2}, "connection"),
    "sse_malformed": ({"after": 2}, "bad_response"),
    "sse_stall": ({"after": 2, "delay_s": 10.0}, "timeout"),
    "sse_no_done": ({"after": 2}, "bad_response"),
}


@pytest.mark.parametrize("fault", sorted(AFTER_CONTENT))
def test_break_after_content_raises_stream_interrupted(fault, mode, streaming, replies):
    """A stream that breaks after content reached the caller ends with StreamInterrupted,
    carrying exactly the partial content the caller got, the provider and every attempt; the
    backup is not called by default (mid_stream: raise), and there is no outcome."""
    resolver = streaming()
    options, error_class = AFTER_CONTENT[fault]
    replies.set_fault(resolver.providers[PRIMARY].model, fault, **options)

    seen = read(mode, resolver)

    error = seen.error
    assert isinstance(error, StreamInterrupted)
    assert error.partial == seen.text == PARTIAL_AFTER_2
    assert error.provider_id == PRIMARY
    assert error.error_class == error_class
    assert [(a.provider_id, a.error_class) for a in error.attempts] == [(PRIMARY, error_class)]
    assert seen.stream.outcome is None
    assert replies.requests_for(resolver.providers[BACKUP].model) == []


def test_missing_done_after_the_whole_answer_is_still_a_break(mode, streaming, replies):
    """Even with every chunk and the finish reason delivered, a stream without [DONE] is not
    closed as complete."""
    resolver = streaming()
    replies.set_fault(resolver.providers[PRIMARY].model, "sse_no_done", after=99)

    seen = read(mode, resolver)

    assert seen.text == REPLY
    assert isinstance(seen.error, StreamInterrupted)
    assert "[DONE]" in seen.error.reason


def test_mid_stream_continue_hands_the_partial_answer_to_the_backup(mode, streaming, replies):
    """With mid_stream: continue on the source's edge, a break after content calls the backup
    with the partial answer as an assistant prefix; the caller gets one uninterrupted stream
    and the outcome marks the continuation."""
    resolver = streaming(f"++edge_policy={{{PRIMARY}: {{mid_stream: continue}}}}")
    replies.set_fault(resolver.providers[PRIMARY].model, "sse_cut", after=2)

    seen = read(mode, resolver)

    assert seen.error is None
    assert seen.text == PARTIAL_AFTER_2 + "Backup says yes."
    outcome = seen.stream.outcome
    assert outcome.served_by == BACKUP
    assert outcome.value.continued_from == (PRIMARY,)
    assert outcome.value.content == seen.text
    assert [(a.provider_id, a.error_class) for a in outcome.attempts] == [
        (PRIMARY, "connection"),
        (BACKUP, None),
    ]
    (request,) = replies.requests_for(resolver.providers[BACKUP].model)
    assert request.body["messages"] == [
        *MESSAGES,
        {"role": "assistant", "content": PARTIAL_AFTER_2},
    ]
    assert seen.seen_provider[0] == PRIMARY
    assert seen.seen_provider[-1] == BACKUP


def test_mid_stream_continue_with_a_failing_backup_still_raises(mode, streaming, replies):
    """When the backup asked to continue fails too, the stream ends with StreamInterrupted
    carrying the partial content and both attempts, never with a clean end."""
    resolver = streaming(f"++edge_policy={{{PRIMARY}: {{mid_stream: continue}}}}")
    replies.set_fault(resolver.providers[PRIMARY].model, "sse_error", after=2)
    replies.set_fault(resolver.providers[BACKUP].model, "server")

    seen = read(mode, resolver)

    assert isinstance(seen.error, StreamInterrupted)
    assert seen.error.partial == PARTIAL_AFTER_2
    assert [(a.provider_id, a.error_class) for a in seen.error.attempts] == [
        (PRIMARY, "server"),
        (BACKUP, "server"),
    ]


@pytest.mark.parametrize(("fault", "after"), [("sse_error", 0), ("sse_cut", 2)])
def test_fallback_false_is_honoured_before_and_after_content(
    fault, after, mode, streaming, replies
):
    """fallback=False never calls a backup: not before content (the call is exhausted with a
    reason saying why) and not after it, even on a mid_stream: continue edge."""
    resolver = streaming(f"++edge_policy={{{PRIMARY}: {{mid_stream: continue}}}}")
    replies.set_fault(resolver.providers[PRIMARY].model, fault, after=after)

    seen = read(mode, resolver, fallback=False)

    if after:
        assert isinstance(seen.error, StreamInterrupted)
        assert seen.error.partial == PARTIAL_AFTER_2
    else:
        assert isinstance(seen.error, FallbackExhausted)
        assert "fallback=False" in seen.error.reason
    assert replies.requests_for(resolver.providers[BACKUP].model) == []


def test_streams_follow_the_deployments_own_chain(mode, server, chat_server, config_tree):
    """A deployment's own fallback map is the one streaming uses, exactly as chat uses it."""
    root = config_tree(
        {"fallbacks/mine.yaml": f"# @package fallbacks\n{PRIMARY}: [kimi-k2-instruct]\n"}
    )
    resolver = make_resolver(
        env="prod",
        config_dirs=[root],
        overrides=[*server.overrides(), "fallbacks=mine"],
    )
    chat_server.set_fault(resolver.providers[PRIMARY].model, "sse_error")

    seen = read(mode, resolver)

    assert seen.stream.outcome.served_by == "kimi-k2-instruct"


# --- 4. health is honest ---------------------------------------------------------------------


def test_failure_before_content_and_break_after_it_count_against_health(mode, streaming, replies):
    """A failure before content counts against the provider's health like any failure, and
    so does a break after content."""
    resolver = streaming()
    model = resolver.providers[PRIMARY].model

    replies.set_fault(model, "sse_error")
    read(mode, resolver)
    assert resolver.health.state(PRIMARY).failures == 1

    replies.set_fault(model, "sse_cut", after=2)
    read(mode, resolver)
    assert resolver.health.state(PRIMARY).failures == 2
    assert resolver.health.state(BACKUP).failures == 0


def test_caller_that_stops_reading_closes_upstream_and_counts_nothing(mode, streaming, replies):
    """A caller that stops reading mid-answer closes the upstream connection at once (the
    server sees the client go away while it stalls), and health records no failure."""
    resolver = streaming(first_token_s=30)
    model = resolver.providers[PRIMARY].model
    replies.set_fault(model, "sse_stall", after=2, delay_s=20.0)

    started = time.monotonic()
    seen = read(mode, resolver, stop_after=2)

    assert seen.error is None
    assert [c.content for c in seen.chunks] == [None, "Yes,"]
    assert seen.stream.outcome is None
    assert wait_for(lambda: any(r.disconnected for r in replies.requests_for(model)))
    assert time.monotonic() - started < 10.0
    assert resolver.health.state(PRIMARY).failures == 0


def test_cancelling_the_reading_task_closes_upstream_and_counts_nothing(streaming, replies):
    """Cancelling the task that reads an async stream closes the upstream connection and
    records nothing against the provider's health."""
    resolver = streaming(first_token_s=30)
    model = resolver.providers[PRIMARY].model
    replies.set_fault(model, "sse_stall", after=2, delay_s=20.0)
    got: list[ChatChunk] = []

    async def consume() -> None:
        stream = achat_stream(PRIMARY, MESSAGES, resolver=resolver, environ=ChatServer.environ())
        async for chunk in stream:
            got.append(chunk)

    async def main() -> None:
        task = asyncio.create_task(consume())
        while len(got) < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())

    assert wait_for(lambda: any(r.disconnected for r in replies.requests_for(model)))
    assert resolver.health.state(PRIMARY).failures == 0
    assert replies.requests_for(resolver.providers[BACKUP].model) == []


# --- 5. deadlines bound the whole stream ---------------------------------------------------------


def test_deadline_before_first_token_ends_the_call_without_a_backup(mode, streaming, replies):
    """A deadline that passes while waiting for the first token ends the call there: the
    backup is not started, and the error says the deadline was reached."""
    resolver = streaming(first_token_s=30)
    replies.set_fault(resolver.providers[PRIMARY].model, "sse_stall", delay_s=10.0)

    started = time.monotonic()
    seen = read(mode, resolver, deadline_s=0.4)

    assert time.monotonic() - started < 5.0
    assert isinstance(seen.error, FallbackExhausted)
    assert "deadline" in seen.error.reason
    assert replies.requests_for(resolver.providers[BACKUP].model) == []


def test_deadline_mid_stream_interrupts_the_stream(mode, streaming, replies):
    """A deadline that passes mid-answer ends the stream with StreamInterrupted (a timeout),
    not with a clean end, however long the upstream would have stalled."""
    resolver = streaming(first_token_s=30)
    replies.set_fault(resolver.providers[PRIMARY].model, "sse_stall", after=2, delay_s=10.0)

    started = time.monotonic()
    seen = read(mode, resolver, deadline_s=0.5)

    assert time.monotonic() - started < 5.0
    assert isinstance(seen.error, StreamInterrupted)
    assert seen.error.error_class == "timeout"
    assert seen.error.partial == PARTIAL_AFTER_2


def test_max_attempts_bounds_continuations_too(mode, streaming, replies):
    """policy.max_attempts counts a continuation as an attempt: with one attempt allowed, a
    stream broken after content is not continued on a mid_stream: continue edge."""
    resolver = streaming(
        f"++edge_policy={{{PRIMARY}: {{mid_stream: continue}}}}", "policy.max_attempts=1"
    )
    replies.set_fault(resolver.providers[PRIMARY].model, "sse_cut", after=2)

    seen = read(mode, resolver)

    assert isinstance(seen.error, StreamInterrupted)
    assert seen.error.partial == PARTIAL_AFTER_2
    assert replies.requests_for(resolver.providers[BACKUP].model) == []
