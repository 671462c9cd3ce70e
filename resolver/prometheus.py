"""Prometheus export of call counts and provider health.

Needs ``prometheus_client``, from the ``prometheus`` extra (``pip install '.[prometheus]'`` from
a checkout, or ``pip install 'fallback-resolver[prometheus]'``).

    from resolver.prometheus import register
    register()            # the default resolver, on prometheus_client's default registry

Counts are read from :meth:`Resolver.stats` and health from the resolver's store at scrape
time, so nothing is counted twice and nothing needs updating on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

try:
    from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector, CollectorRegistry
except ImportError as e:  # say which extra brings it, not only which module is missing
    from .errors import install_hint

    raise ImportError(
        f"resolver.prometheus needs prometheus_client: {install_hint('prometheus')}", name=e.name
    ) from None

from .budgets import Usage
from .resolve import Resolver


class ResolverCollector(Collector):
    def __init__(self, resolver: Resolver | None = None) -> None:
        self._resolver = resolver

    def collect(self) -> Iterator[Metric]:
        r = self._resolver
        if r is None:
            from .default import default_resolver

            r = default_resolver()
        calls = CounterMetricFamily(
            "llm_fallback_calls",
            "Calls made through the resolver, by requested model",
            labels=["model"],
        )
        served = CounterMetricFamily(
            "llm_fallback_served",
            "Calls served, by requested model and the provider that served",
            labels=["model", "provider", "fallback"],
        )
        exhausted = CounterMetricFamily(
            "llm_fallback_exhausted", "Calls where every candidate failed", labels=["model"]
        )
        failed = CounterMetricFamily(
            "llm_fallback_failed",
            "Calls ended by an error that does not fall back",
            labels=["model"],
        )
        for model, s in r.stats().items():
            calls.add_metric([model], s.calls)
            # By deployment: a group's own members, or the provider itself.
            for member, n in (s.served_by_member or {model: s.served_by_primary}).items():
                served.add_metric([model, member, "false"], n)
            for backup, n in s.served_by_fallback.items():
                served.add_metric([model, backup, "true"], n)
            exhausted.add_metric([model], s.exhausted)
            failed.add_metric([model], s.failed)
        in_rotation = GaugeMetricFamily(
            "llm_fallback_provider_in_rotation",
            "1 while the provider is in rotation, 0 while its health keeps it out",
            labels=["provider"],
        )
        failures = GaugeMetricFamily(
            "llm_fallback_provider_consecutive_failures",
            "Counted failures in a row since the provider's last success",
            labels=["provider"],
        )
        for provider in r.providers.values():
            if provider.enabled:
                state = r.health.state(provider.id)
                in_rotation.add_metric([provider.id], 1.0 if state.in_rotation else 0.0)
                failures.add_metric([provider.id], state.failures)
        yield from (calls, served, exhausted, failed, in_rotation, failures)
        yield from _budgets(self.budget_usage(r))

    def budget_usage(self, r: Resolver) -> dict[str, Usage]:
        """The budgets exported: the config's (a gateway adds its clients')."""
        return r.budget_usage()


def _budgets(usage: Mapping[str, Usage]) -> Iterator[Metric]:
    """Each budget's amount, spend over its window, what calls in flight hold, and what is
    left, in USD (labelled by budget id, as the config names it)."""
    if not usage:
        return
    families = {
        name: GaugeMetricFamily(f"llm_budget_{name}_usd", text, labels=["budget", "window"])
        for name, text in (
            ("amount", "The budget's cap per window"),
            ("spent", "Spent over the budget's last window"),
            ("reserved", "Held by calls in flight (their estimates)"),
            ("left", "What the budget has room for now"),
        )
    }
    for budget_id, u in usage.items():
        labels = [budget_id, u.budget.window]
        families["amount"].add_metric(labels, u.budget.amount)
        families["spent"].add_metric(labels, u.spent)
        families["reserved"].add_metric(labels, u.reserved)
        families["left"].add_metric(labels, u.left)
    yield from families.values()


def register(
    resolver: Resolver | None = None, registry: CollectorRegistry = REGISTRY
) -> ResolverCollector:
    """Export ``resolver``'s counts and health (default: the process-wide default resolver)."""
    collector = ResolverCollector(resolver)
    registry.register(collector)
    return collector
