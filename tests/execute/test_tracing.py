"""OpenTelemetry spans of fallback calls: one call span, a child per attempt, GenAI attributes
that match what the upstreams received, and never a message or a key."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tracing_support import CHAIN, EDGES, MESSAGES, REQUESTED, SECRET

import resolver
from resolver import tracing
from resolver.testing import ChatServer, make_resolver


@pytest.fixture
def chain(chat_server: ChatServer) -> resolver.Resolver:
    """Three models in one chain, each on the loopback server."""
    return make_resolver(env="prod", overrides=[*chat_server.overrides(), EDGES])


def fail_first_two(server: ChatServer, r: resolver.Resolver, kind: str = "server") -> None:
    for model_id in CHAIN[:2]:
        server.set_fault(r.providers[model_id].model, kind)  # type: ignore[arg-type]


def call_and_attempts(
    exporter: InMemorySpanExporter,
) -> tuple[ReadableSpan, list[ReadableSpan]]:
    finished = exporter.get_finished_spans()
    calls = [s for s in finished if s.kind is SpanKind.INTERNAL]
    assert len(calls) == 1, [s.name for s in finished]
    call = calls[0]
    attempts = [s for s in finished if s.parent and s.parent.span_id == call.context.span_id]
    return call, sorted(attempts, key=lambda s: s.attributes["resolver.attempt.number"])


def check_against_upstream(
    call: ReadableSpan, attempts: list[ReadableSpan], server: ChatServer, r: resolver.Resolver
) -> None:
    """The spans say what the upstream received: the model string, the vendor, the address."""
    received = [request.body["model"] for request in server.requests]
    assert [a.attributes["gen_ai.request.model"] for a in attempts] == received
    assert received == [r.providers[m].model for m in CHAIN]
    where = urlsplit(server.base_url)
    for attempt, model_id in zip(attempts, CHAIN, strict=True):
        a = attempt.attributes
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == r.providers[model_id].vendor
        assert a["resolver.provider"] == model_id
        assert (a["server.address"], a["server.port"]) == (where.hostname, where.port)
        assert attempt.kind is SpanKind.CLIENT
        assert a["resolver.attempt.sent"] is True
    for failed in attempts[:2]:
        assert failed.attributes["error.type"] == "server"
        assert failed.attributes["resolver.attempt.error_class"] == "server"
        assert failed.attributes["http.response.status_code"] == 500
        assert failed.status.status_code is StatusCode.ERROR
    served = attempts[2]
    assert "error.type" not in served.attributes
    assert [a.attributes["resolver.attempt.hop"] for a in attempts] == [0, 1, 1]
    assert [a.attributes.get("resolver.attempt.edge") for a in attempts] == [
        None,
        f"{REQUESTED} -> {CHAIN[1]}",
        f"{REQUESTED} -> {CHAIN[2]}",
    ]
    c = call.attributes
    assert c["gen_ai.request.model"] == REQUESTED
    assert c["resolver.served_by"] == CHAIN[2]
    assert c["resolver.fallback_used"] is True
    assert c["resolver.attempts"] == 3
    assert call.status.status_code is StatusCode.UNSET
    # Attempts lie within the call, one after the other.
    assert call.start_time <= attempts[0].start_time
    for before, after in itertools.pairwise(attempts):
        assert before.end_time <= after.start_time
    assert attempts[-1].end_time <= call.end_time


def nothing_secret(exporter: InMemorySpanExporter, environ: dict[str, str]) -> None:
    for span in exporter.get_finished_spans():
        values = [*span.attributes.values()]
        for event in span.events:
            values += [*event.attributes.values()]
        text = repr(values) + span.name + (span.status.description or "")
        assert SECRET not in text
        for key in environ.values():
            assert key not in text


def test_an_async_call_that_falls_over_twice_makes_one_call_span_and_three_attempts(
    spans, chain, chat_server
):
    """achat through a chain whose first two models fail: one call span with three attempt
    spans, each naming the model string, vendor and address its upstream received."""
    fail_first_two(chat_server, chain)
    keys = ChatServer.environ()
    outcome = asyncio.run(resolver.achat(REQUESTED, MESSAGES, resolver=chain, environ=keys))
    call, attempts = call_and_attempts(spans)
    check_against_upstream(call, attempts, chat_server, chain)
    usage = outcome.value.raw["usage"]
    for span in (call, attempts[2]):
        assert span.attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
        assert span.attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
        assert span.attributes["gen_ai.response.model"] == outcome.value.raw["model"]
    nothing_secret(spans, keys)


def test_a_sync_call_makes_the_same_spans(spans, chain, chat_server):
    """chat (the sync client) gives the same spans as achat."""
    fail_first_two(chat_server, chain)
    keys = ChatServer.environ()
    resolver.chat(REQUESTED, MESSAGES, resolver=chain, environ=keys)
    call, attempts = call_and_attempts(spans)
    check_against_upstream(call, attempts, chat_server, chain)
    nothing_secret(spans, keys)


def test_a_stream_that_falls_over_twice_makes_the_same_spans_with_its_first_token_time(
    spans, chain, chat_server
):
    """A stream whose first two models fail before any content: the same call and attempt
    spans, and the serving attempt carries its time to first token."""
    fail_first_two(chat_server, chain)
    keys = ChatServer.environ()

    async def read() -> resolver.StreamResult:
        stream = resolver.achat_stream(REQUESTED, MESSAGES, resolver=chain, environ=keys)
        async with stream:
            async for _ in stream:
                pass
        assert stream.outcome is not None
        return stream.outcome.value

    result = asyncio.run(read())
    call, attempts = call_and_attempts(spans)
    check_against_upstream(call, attempts, chat_server, chain)
    first = attempts[2].attributes["resolver.stream.time_to_first_token_s"]
    assert first == pytest.approx(result.first_token_s)
    nothing_secret(spans, keys)


def test_the_call_span_is_a_child_of_the_callers_span(spans, chain, chat_server):
    """A call made inside the caller's own span joins its trace, as a child of that span."""
    from opentelemetry import trace

    keys = ChatServer.environ()
    tracer = trace.get_tracer("caller", tracer_provider=spans_provider(spans))
    with tracer.start_as_current_span("handler") as handler:
        resolver.chat(REQUESTED, MESSAGES, resolver=chain, environ=keys)
    call = next(s for s in spans.get_finished_spans() if s.kind is SpanKind.INTERNAL)
    assert call.parent is not None
    assert call.parent.span_id == handler.get_span_context().span_id
    assert call.context.trace_id == handler.get_span_context().trace_id


def spans_provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def test_exhausted_calls_and_skips_are_named_on_the_call_span(spans, chain, chat_server):
    """When every model fails, the call span is an error of the exhausted class; a model out
    of rotation is a skip event saying so, and is named in resolver.skipped."""
    for model_id in CHAIN:
        chat_server.set_fault(chain.providers[model_id].model, "server")
    keys = ChatServer.environ()
    for model_id in CHAIN[1:]:
        for _ in range(chain.policy.health.failure_threshold):
            chain.health.record_failure(model_id, "server")
    with pytest.raises(resolver.FallbackExhausted):
        resolver.chat(REQUESTED, MESSAGES, resolver=chain, environ=keys)
    call, attempts = call_and_attempts(spans)
    assert len(attempts) == 1
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes["error.type"] == "FallbackExhausted"
    assert list(call.attributes["resolver.skipped"]) == CHAIN[1:]
    skips = [e for e in call.events if e.name == "resolver.skip"]
    assert [e.attributes["resolver.provider"] for e in skips] == CHAIN[1:]
    assert all(e.attributes["resolver.skip.health"] for e in skips)


def test_a_model_leaving_rotation_and_coming_back_are_events(spans, chat_server):
    """With a threshold of one failure, the failing attempt's call has a resolver.health.out
    event; once the cooldown is over, the call whose probe serves has resolver.health.back."""
    r = make_resolver(
        env="prod",
        overrides=[
            *chat_server.overrides(),
            EDGES,
            "policy.health.failure_threshold=1",
            "policy.health.cooldown_s=0.2",
        ],
    )
    keys = ChatServer.environ()
    chat_server.set_fault(r.providers[REQUESTED].model, "server", times=1)
    resolver.chat(REQUESTED, MESSAGES, resolver=r, environ=keys)
    first = [s for s in spans.get_finished_spans() if s.kind is SpanKind.INTERNAL][-1]
    out = [e for e in first.events if e.name == "resolver.health.out"]
    assert [e.attributes["resolver.provider"] for e in out] == [REQUESTED]
    assert out[0].attributes["resolver.health.out_for_s"] > 0
    asyncio.run(asyncio.sleep(0.25))
    resolver.chat(REQUESTED, MESSAGES, resolver=r, environ=keys)
    second = [s for s in spans.get_finished_spans() if s.kind is SpanKind.INTERNAL][-1]
    back = [e for e in second.events if e.name == "resolver.health.back"]
    assert [e.attributes["resolver.provider"] for e in back] == [REQUESTED]
    probe = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT][-1]
    assert probe.attributes["resolver.attempt.probe"] is True


def test_tracing_off_imports_nothing_of_opentelemetry(chat_server):
    """Until instrument() is called, a call imports nothing of OpenTelemetry."""
    code = (
        "import sys, resolver\n"
        "from resolver.testing import ChatServer, make_resolver\n"
        f"r = make_resolver(env='prod', overrides={chat_server.overrides()!r})\n"
        f"resolver.chat({REQUESTED!r}, [{{'role': 'user', 'content': 'hi'}}], resolver=r,\n"
        "              environ=ChatServer.environ())\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_turning_tracing_off_stops_the_spans(chain, chat_server):
    """The function instrument() returns turns the spans off again."""
    exporter = InMemorySpanExporter()
    off = tracing.instrument(tracer_provider=spans_provider(exporter))
    off()
    resolver.chat(REQUESTED, MESSAGES, resolver=chain, environ=ChatServer.environ())
    assert exporter.get_finished_spans() == ()


def test_every_attribute_is_the_conventions_or_our_own(spans, chain, chat_server):
    """Each attribute outside resolver.* is one the OpenTelemetry semantic conventions define
    (their published Python package, not a list of ours), and span names are the GenAI
    convention's '{operation} {model}'."""
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes
    from opentelemetry.semconv.attributes import (
        error_attributes,
        http_attributes,
        server_attributes,
    )

    defined = {
        getattr(module, name)
        for module in (gen_ai_attributes, error_attributes, http_attributes, server_attributes)
        for name in dir(module)
        if name.isupper() and isinstance(getattr(module, name), str)
    }
    fail_first_two(chat_server, chain)
    resolver.chat(REQUESTED, MESSAGES, resolver=chain, environ=ChatServer.environ())
    chat = gen_ai_attributes.GenAiOperationNameValues.CHAT.value
    for span in spans.get_finished_spans():
        theirs = {k for k in span.attributes if not k.startswith("resolver.")}
        assert theirs <= defined, theirs - defined
        assert span.attributes["gen_ai.operation.name"] == chat
        assert span.name == f"{chat} {span.attributes['gen_ai.request.model']}"


def test_a_backup_outside_the_callers_scope_is_a_skip_event(spans, chain, chat_server):
    """A call made for a caller limited to the requested model: its backups are skip events
    on the call span, each saying it is outside that caller's scope."""
    from resolver.callers import CallerScope, caller

    fail_first_two(chat_server, chain)
    token = caller.set(CallerScope("narrow", frozenset({REQUESTED})))
    try:
        with pytest.raises(resolver.FallbackExhausted):
            resolver.chat(REQUESTED, MESSAGES, resolver=chain, environ=ChatServer.environ())
    finally:
        caller.reset(token)
    call, attempts = call_and_attempts(spans)
    assert len(attempts) == 1
    skips = [e for e in call.events if e.name == "resolver.skip"]
    assert [e.attributes["resolver.provider"] for e in skips] == CHAIN[1:]
    assert all("outside the scope of client 'narrow'" in e.attributes["resolver.skip.reason"]
               for e in skips)  # fmt: skip
