"""OpenTelemetry spans for fallback calls: one span per call, a child span per attempt.

Off until :func:`instrument` is called (``serve`` calls it when the ``OTEL_EXPORTER_OTLP_*``
variables ask for export). Until then nothing of OpenTelemetry is imported, and a call pays
one ``is None`` check at each step.

Spans follow the OpenTelemetry GenAI semantic conventions (``gen_ai.*``, ``server.*``,
``error.type``); what they do not cover is under ``resolver.*``. A span never carries a
message's content, a vendor's error text (it may echo the prompt) or a key: only catalog ids,
error classes, statuses, token counts and times.

- call span (INTERNAL), ``chat <requested>``: ``gen_ai.request.model`` is the catalog id asked
  for; ``resolver.served_by``, ``resolver.fallback_used``, ``resolver.attempts`` and
  ``resolver.skipped`` say how it went, and an event ``resolver.skip`` names each model passed
  over, with why (``resolver.skip.health`` when it was out of rotation).
- attempt span (CLIENT), ``chat <vendor's model name>``: what the upstream was sent
  (``gen_ai.request.model``, ``gen_ai.provider.name``, ``server.address``/``server.port``),
  what it answered (``gen_ai.response.model``, ``gen_ai.usage.*``, ``error.type``), and
  ``resolver.attempt.*``: number, error class, whether it was sent, the hop and the edge it
  came by, its group, whether it probed a model out of rotation, and a stream's time to first
  token. Events ``resolver.health.out`` and ``resolver.health.back`` mark a model leaving
  rotation and coming back.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from .catalog import Provider
    from .execute import _Run
    from .health import HealthState

tracer: Tracer | None = None
"""The tracer spans are made with; None while tracing is off (the only check a call pays)."""

_NAME = "fallback-resolver"


def instrument(*, tracer_provider: TracerProvider | None = None) -> Callable[[], None]:
    """Make spans for every fallback call of this process (library calls, streams and the
    gateway), with ``tracer_provider`` or OpenTelemetry's global one. Returns a function that
    turns them off again. Needs the ``otel`` extra (``pip install '.[otel]'`` from a checkout)."""
    global tracer
    try:
        from opentelemetry import trace
    except ImportError:
        from .errors import install_hint

        raise ImportError(f"tracing needs OpenTelemetry: {install_hint('otel')}") from None
    from ._version import __version__

    made = trace.get_tracer(_NAME, __version__, tracer_provider)
    tracer = made

    def off() -> None:
        global tracer
        if tracer is made:
            tracer = None

    return off


def _ns(monotonic: float) -> int:
    """A ``time.monotonic`` instant as the wall-clock nanoseconds spans are stamped with."""
    return time.time_ns() - int((time.monotonic() - monotonic) * 1e9)


class CallTrace:
    """The spans of one fallback call: made by :class:`resolver.execute._Run` at each step."""

    __slots__ = ("attempt", "call", "hops", "number", "probe", "provider_id", "run", "token")

    def __init__(self, run: _Run, *, current: bool) -> None:
        from opentelemetry import context, trace

        assert tracer is not None
        self.run = run
        self.call: Span = tracer.start_span(
            f"chat {run.requested}",
            kind=trace.SpanKind.INTERNAL,
            start_time=_ns(run.started),
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": run.requested,
                "resolver.requested": run.requested,
            },
        )
        # A call (not a stream, whose caller runs between chunks) makes its span the current
        # one, so that spans made inside fn (an instrumented HTTP client) nest under it.
        self.token: object | None = None
        if current:
            self.token = context.attach(trace.set_span_in_context(self.call))
        self.attempt: Span | None = None
        self.number = 0
        self.probe = False
        self.provider_id = ""
        self.hops: dict[str, int] = {run.requested: 0}

    def _context(self) -> Context:
        from opentelemetry import trace

        return trace.set_span_in_context(self.call)

    def skip(self, provider_id: str, reason: str, *, health: bool) -> None:
        self.call.add_event(
            "resolver.skip",
            {
                "resolver.provider": provider_id,
                "resolver.skip.reason": reason,
                "resolver.skip.health": health,
            },
        )

    def started(self, provider: Provider, via: str | None, group: str | None, probe: bool) -> None:
        from opentelemetry import trace

        assert tracer is not None
        self.number += 1
        self.probe = probe
        self.provider_id = provider.id
        hop = 0 if via is None else self.hops.get(via, 0) + 1
        self.hops.setdefault(group or provider.id, hop)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": provider.model,
            "gen_ai.provider.name": provider.vendor,
            "resolver.provider": provider.id,
            "resolver.attempt.number": self.number,
            "resolver.attempt.hop": hop,
            "resolver.attempt.probe": probe,
        }
        if via is not None:
            attributes["resolver.attempt.edge"] = f"{via} -> {group or provider.id}"
        if group is not None:
            attributes["resolver.attempt.group"] = group
        attributes.update(_server(provider.base_url))
        self.attempt = tracer.start_span(
            f"chat {provider.model}",
            self._context(),
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
        )

    def ended(
        self,
        error_class: str | None,
        status: int | None,
        sent: bool,
        value: object = None,
    ) -> None:
        from opentelemetry.trace import Status, StatusCode

        span = self.attempt
        if span is None:
            return
        self.attempt = None
        # Set at once: the SDK takes a lock per set_attribute.
        attributes: dict[str, Any] = {"resolver.attempt.sent": sent}
        if status is not None:
            attributes["http.response.status_code"] = status
        if error_class is not None:
            attributes["error.type"] = attributes["resolver.attempt.error_class"] = error_class
            span.set_status(Status(StatusCode.ERROR, error_class))
        else:
            if self.probe:  # the probe served: its model is back in rotation
                self.call.add_event("resolver.health.back", {"resolver.provider": self.provider_id})
            _usage(attributes, value)
            first_token = getattr(value, "first_token_s", None)
            if isinstance(first_token, float):
                attributes["resolver.stream.time_to_first_token_s"] = first_token
        span.set_attributes(attributes)
        span.end()

    def health(self, provider_id: str, state: HealthState, threshold: int) -> None:
        """Health was told of a failed attempt: an event when that took the model out of
        rotation (its threshold reached, or its probe failed)."""
        if not state.in_rotation and (self.probe or state.failures == threshold):
            self.call.add_event(
                "resolver.health.out",
                {
                    "resolver.provider": provider_id,
                    "resolver.health.out_for_s": state.out_for_s,
                    "resolver.health.failures": state.failures,
                },
            )

    def served(self, provider: Provider, fallback_used: bool, value: object) -> None:
        attributes: dict[str, Any] = {
            "gen_ai.provider.name": provider.vendor,
            "resolver.served_by": provider.id,
            "resolver.fallback_used": fallback_used,
        }
        _usage(attributes, value)
        self.call.set_attributes(attributes)

    def end(self, error: BaseException | None) -> None:
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        if self.attempt is not None:  # cancelled, or re-raised unjudged, mid-attempt
            self.ended(type(error).__name__ if error else "cancelled", None, True)
        span = self.call
        run = self.run
        attributes: dict[str, Any] = {"resolver.attempts": len(run.attempts)}
        if run.skipped:
            attributes["resolver.skipped"] = [s.provider_id for s in run.skipped]
        if error is not None:
            kind = getattr(error, "error_class", None) or _ENDED_BY.get(
                type(error).__name__, type(error).__name__
            )
            attributes["error.type"] = kind
            span.set_status(Status(StatusCode.ERROR, kind))
        span.set_attributes(attributes)
        span.end()
        if self.token is not None:
            context.detach(self.token)  # type: ignore[arg-type]
            self.token = None


# How a call that was stopped, rather than failed, ended.
_ENDED_BY = {"GeneratorExit": "closed", "CancelledError": "cancelled"}


def _usage(attributes: dict[str, Any], value: object) -> None:
    """The response's model and token counts, from a ChatResult or StreamResult (or any value
    with those attributes)."""
    model = getattr(value, "model", None)
    if isinstance(model, str):
        attributes["gen_ai.response.model"] = model
    for name, attribute in (
        ("prompt_tokens", "gen_ai.usage.input_tokens"),
        ("completion_tokens", "gen_ai.usage.output_tokens"),
    ):
        count = getattr(value, name, None)
        if isinstance(count, int) and not isinstance(count, bool):
            attributes[attribute] = count


@functools.lru_cache(maxsize=256)
def _server(base_url: str | None) -> dict[str, Any]:
    """``server.address`` and ``server.port`` of a base URL (a catalog holds a few)."""
    parts = urlsplit(base_url or "")
    if not parts.hostname:
        return {}
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return {"server.address": parts.hostname} | ({} if port is None else {"server.port": port})


class RequestTrace:
    """The gateway's span for one request (SERVER): a child of the client's ``traceparent``
    when it sent one, and the parent of the request's call span."""

    __slots__ = ("span", "token")

    def __init__(self, method: str, route: str, headers: list[tuple[bytes, bytes]]) -> None:
        from opentelemetry import context, propagate, trace

        assert tracer is not None
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in headers
            if name in _PROPAGATED
        }
        self.span = tracer.start_span(
            f"{method} {route}",
            propagate.extract(carrier),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": route},
        )
        self.token = context.attach(trace.set_span_in_context(self.span))

    def traceparent(self) -> bytes:
        """The ``traceparent`` header naming this request's span, for the answer."""
        ids = self.span.get_span_context()
        return f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{ids.trace_flags:02x}".encode()

    def trace_id(self) -> str:
        return f"{self.span.get_span_context().trace_id:032x}"

    def end(self, status: int) -> None:
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        self.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self.span.set_attribute("error.type", str(status))
            self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()
        context.detach(self.token)


_PROPAGATED = frozenset((b"traceparent", b"tracestate"))


def incoming_trace_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The trace id of a request's valid W3C ``traceparent`` header (None: none sent), for
    the access log when tracing is off: its line still joins the caller's trace."""
    for name, value in headers:
        if name == b"traceparent":
            parts = value.split(b"-")
            if (
                len(parts) >= 4
                and len(parts[0]) == 2
                and len(parts[1]) == 32
                and parts[0] != b"ff"
                and parts[1] != b"0" * 32
                and _is_hex(parts[0] + parts[1])
            ):
                return parts[1].decode()
            return None
    return None


def _is_hex(text: bytes) -> bool:
    return all(c in b"0123456789abcdef" for c in text)
