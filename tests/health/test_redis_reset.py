"""Resetting shared health: one provider or every provider of this namespace comes back for
every worker, and no other namespace is touched, whatever characters its name holds."""

from __future__ import annotations

from conftest import BACKUP, PRIMARY

import resolver


def shared(url: str, namespace: str) -> resolver.Resolver:
    return resolver.load(
        overrides=[
            "policy.health.store=redis",
            f"policy.health.url={url}",
            f"policy.health.namespace='{namespace}'",
        ]
    )


def take_out(r: resolver.Resolver, *provider_ids: str) -> None:
    for provider_id in provider_ids:
        for _ in range(3):
            r.health.record_failure(provider_id, "server", "503")


def test_a_reset_brings_providers_back_for_every_worker(redis_url, namespace) -> None:
    """reset(id) brings that provider back for another worker too; reset() brings back every
    provider of the namespace."""
    one, other = shared(redis_url, namespace), shared(redis_url, namespace)
    take_out(one, PRIMARY, BACKUP)
    one.health.reset(PRIMARY)
    assert other.health.in_rotation(PRIMARY)
    assert not other.health.in_rotation(BACKUP)
    take_out(one, PRIMARY)
    one.health.reset()
    assert other.health.in_rotation(PRIMARY)
    assert other.health.in_rotation(BACKUP)


def test_a_reset_of_all_leaves_other_namespaces_alone(redis_url, namespace) -> None:
    """reset() of a namespace whose name holds glob characters leaves providers of another
    namespace that the same pattern would match out of rotation."""
    mine, theirs = shared(redis_url, f"{namespace}*"), shared(redis_url, f"{namespace}x")
    take_out(mine, PRIMARY)
    take_out(theirs, PRIMARY)
    mine.health.reset()
    assert mine.health.in_rotation(PRIMARY)
    assert not theirs.health.in_rotation(PRIMARY)
