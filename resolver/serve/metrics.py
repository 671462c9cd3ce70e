"""``/metrics``: the resolver's counters and health (read from the config serving at scrape
time), plus the gateway's request latency histograms. Labels are catalog ids, routes and status
codes only: nothing a client typed, so no key and no unbounded label set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import Metric

from ..budgets import Usage
from ..prometheus import ResolverCollector
from ..resolve import Resolver

if TYPE_CHECKING:
    from .app import Gateway

_ROUTES = ("/v1/chat/completions", "/v1/models", "/healthz", "/readyz", "/metrics")


def route_of(path: str) -> str:
    """The route a path is labelled with: one of the gateway's, or "other" (a bounded set)."""
    return path if path in _ROUTES else "other"


class _Serving(ResolverCollector):
    """The resolver's metrics, from whichever config the gateway serves now."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__()
        self._gateway = gateway

    def collect(self) -> Iterator[Metric]:
        self._resolver = self._gateway.resolver
        return super().collect()

    def budget_usage(self, r: Resolver) -> dict[str, Usage]:
        return r.budget_usage(self._gateway.client_budgets)


class Metrics:
    def __init__(self, gateway: Gateway) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Serving(gateway))
        self._gateway = gateway
        self.latency = Histogram(
            "llm_gateway_request_seconds",
            "Gateway requests by route, requested model, streaming and status, until the last "
            "byte was sent",
            ["route", "model", "stream", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self._children: dict[tuple[str, str, bool, int], Any] = {}

    def observe(self, path: str, seen: dict[str, Any], status: int, seconds: float) -> None:
        route = route_of(path)
        model = seen.get("requested", "")  # only ever a catalog id
        labels = (route, model, bool(seen.get("stream")), status)
        child = self._children.get(labels)
        if child is None:  # the label set is bounded: routes, catalog ids, statuses
            stream = "true" if labels[2] else "false"
            child = self._children[labels] = self.latency.labels(route, model, stream, str(status))
        child.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
