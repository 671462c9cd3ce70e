"""The gateway's spans: it continues the client's ``traceparent``, returns its own, and exports
over OTLP/HTTP to a collector (here a loopback receiver of the test's own, decoded with
OpenTelemetry's published protobuf definitions). Its stderr is JSON lines that join the trace."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from gateway_support import gateway_for, sdk, serving, snapshot_of
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.trace import SpanKind
from process_support import free_port, serve, wait_for
from tracing_support import CHAIN, EDGES, MESSAGES, REQUESTED, SECRET

from resolver.testing import make_resolver


def traceparent() -> tuple[str, str, str]:
    """A client's traceparent header, with its trace id and span id."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


class Collector:
    """An OTLP/HTTP receiver on a loopback port: keeps every export request it is sent."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.content_types: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.path == "/v1/traces"
                collector.content_types.append(self.headers["Content-Type"])
                collector.requests.append(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[tuple[Span, dict[str, Any]]]:
        """Each span received, with its attributes as Python values."""
        out = []
        for request in self.requests:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    out += [(span, attributes(span.attributes)) for span in scope.spans]
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def attributes(pairs: Any) -> dict[str, Any]:
    values = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        value = getattr(pair.value, kind)
        if kind == "array_value":
            value = [getattr(v, v.WhichOneof("value")) for v in value.values]
        values[pair.key] = value
    return values


@contextmanager
def collector() -> Iterator[Collector]:
    c = Collector()
    try:
        yield c
    finally:
        c.close()


def test_the_gateway_exports_its_spans_over_otlp_http(chat_server, keys, tmp_path):
    """`serve` with OTEL_EXPORTER_OTLP_ENDPOINT set: a request whose first two models fail
    reaches the collector as a server span continuing the client's trace, one call span and
    three attempt spans whose attributes match what the upstreams received; the answer's
    traceparent names the server span; every stderr line is JSON, uvicorn's too, and the
    access line carries the trace id."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path, EDGES)
    r = make_resolver(env="prod", overrides=[*chat_server.overrides(), EDGES])
    for model_id in CHAIN[:2]:
        chat_server.set_fault(r.providers[model_id].model, "server")
    header, trace_id, parent_id = traceparent()
    log = tmp_path / "gateway.log"
    with collector() as received:
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": received.url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
        with serve(["--snapshot", str(path)], {**keys, **otel}, log) as (proc, url):
            answer = sdk(url).chat.completions.with_raw_response.create(
                model=REQUESTED, messages=MESSAGES, extra_headers={"traceparent": header}
            )
            assert answer.headers["x-fallback-served-by"] == CHAIN[2]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        spans = received.spans()
    assert set(received.content_types) == {"application/x-protobuf"}
    assert {span.trace_id.hex() for span, _ in spans} == {trace_id}
    server = [s for s, _ in spans if s.kind == Span.SPAN_KIND_SERVER]
    assert len(server) == 1
    assert server[0].parent_span_id.hex() == parent_id
    assert server[0].name == "POST /v1/chat/completions"
    returned = answer.headers["traceparent"].split("-")
    assert returned[1:3] == [trace_id, server[0].span_id.hex()]
    calls = [(s, a) for s, a in spans if s.kind == Span.SPAN_KIND_INTERNAL]
    assert len(calls) == 1
    call, call_attributes = calls[0]
    assert call.parent_span_id == server[0].span_id
    assert call_attributes["gen_ai.request.model"] == REQUESTED
    assert call_attributes["resolver.served_by"] == CHAIN[2]
    attempts = sorted(
        ((s, a) for s, a in spans if s.parent_span_id == call.span_id),
        key=lambda pair: pair[1]["resolver.attempt.number"],
    )
    upstream = [request.body["model"] for request in chat_server.requests]
    assert [a["gen_ai.request.model"] for _, a in attempts] == upstream
    assert upstream == [r.providers[m].model for m in CHAIN]
    assert [a.get("error.type") for _, a in attempts] == ["server", "server", None]
    assert all(s.kind == Span.SPAN_KIND_CLIENT for s, _ in attempts)
    assert SECRET not in repr(spans)
    assert not any(k in repr(spans) for k in keys.values())

    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert all("ts" in line for line in lines)
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines)
    access = [line for line in lines if line.get("path") == "/v1/chat/completions"]
    assert [line["trace_id"] for line in access] == [trace_id]
    assert access[0]["fallback_used"] is True
    assert access[0]["fallback_allowed"] is True


@pytest.mark.parametrize("stream", [False, True])
def test_a_gateway_request_continues_the_clients_trace(spans, chat_server, keys, stream):
    """In process: the request's server span is the child of the client's traceparent, the
    call span its child, and the answer's traceparent names the server span; a stream too."""
    r = make_resolver(env="prod", overrides=[*chat_server.overrides(), EDGES])
    chat_server.set_fault(r.providers[REQUESTED].model, "server")
    header, trace_id, parent_id = traceparent()
    with serving(gateway_for(r, keys)) as url:
        raw = sdk(url).chat.completions.with_raw_response.create(
            model=REQUESTED, messages=MESSAGES, stream=stream, extra_headers={"traceparent": header}
        )
        if stream:
            list(raw.parse())
        wait_for(lambda: any(s.kind is SpanKind.SERVER for s in spans.get_finished_spans()))
    finished = spans.get_finished_spans()
    (server,) = [s for s in finished if s.kind is SpanKind.SERVER]
    (call,) = [s for s in finished if s.kind is SpanKind.INTERNAL]
    assert server.context.trace_id == int(trace_id, 16)
    assert server.parent is not None
    assert server.parent.span_id == int(parent_id, 16)
    assert call.parent is not None
    assert call.parent.span_id == server.context.span_id
    assert server.attributes["http.response.status_code"] == 200
    assert raw.headers["traceparent"].split("-")[2] == f"{server.context.span_id:016x}"
    attempts = [s for s in finished if s.kind is SpanKind.CLIENT]
    assert [a.attributes["resolver.provider"] for a in attempts] == CHAIN[:2]


def test_without_tracing_the_access_line_still_carries_the_clients_trace_id(
    chat_server, keys, caplog
):
    """With tracing off, the access line names the trace id of the client's traceparent (none
    for a malformed one), and a timestamp, so that logs join the caller's trace."""
    caplog.set_level(logging.INFO, logger="resolver.gateway.access")
    r = make_resolver(env="prod", overrides=chat_server.overrides())
    header, trace_id, _ = traceparent()
    with serving(gateway_for(r, keys)) as url:
        client = sdk(url)
        for sent in (header, "00-zz-not-a-trace-01", None):
            extra = {"traceparent": sent} if sent else {}
            client.chat.completions.create(model=REQUESTED, messages=MESSAGES, extra_headers=extra)
        wait_for(lambda: len(caplog.records) >= 3)
    lines = [json.loads(record.getMessage()) for record in caplog.records]
    assert [line["trace_id"] for line in lines] == [trace_id, None, None]
    assert all(line["ts"].endswith("Z") and "T" in line["ts"] for line in lines)
    assert [line["fallback_used"] for line in lines] == [False, False, False]


def test_serve_refuses_otel_variables_without_opentelemetry(tmp_path, keys):
    """OTEL_EXPORTER_OTLP_ENDPOINT set where OpenTelemetry is not installed: serve exits 2
    naming the extra to install, without a traceback."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "opentelemetry").mkdir()  # a package with nothing in it shadows the real one
    (blocker / "opentelemetry" / "__init__.py").write_text("raise ImportError('hidden')\n")
    env = {
        **os.environ,
        **keys,
        "PYTHONPATH": str(blocker),
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-m", "resolver", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "[otel]" in done.stderr
    assert "Traceback" not in done.stderr
