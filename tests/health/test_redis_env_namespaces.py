"""Two envs sharing one Redis keep their health apart: a store's keys are namespaced by the env
the resolver was loaded for, also for the fresh store that ``with_health()`` makes."""

from __future__ import annotations

from conftest import PRIMARY

import resolver
from resolver.testing import mark_unhealthy


def _on(url: str, env: str) -> resolver.Resolver:
    return resolver.load(
        env=env, overrides=["policy.health.store=redis", f"policy.health.url={url}"]
    )


def test_a_model_out_in_one_env_stays_in_rotation_in_another(own_redis) -> None:
    """A model taken out of rotation by the prod resolver is out for every prod resolver on
    the same Redis, and still in rotation for a staging one."""
    url = own_redis().url
    prod, staging, prod_again = _on(url, "prod"), _on(url, "staging"), _on(url, "prod")
    mark_unhealthy(prod, PRIMARY)
    assert not prod_again.health.in_rotation(PRIMARY)
    assert staging.health.in_rotation(PRIMARY)


def test_with_health_keeps_the_env_namespace(own_redis) -> None:
    """The fresh store ``with_health()`` gives a Redis-backed resolver sees its own env's
    shared health and not another env's."""
    url = own_redis().url
    prod, staging = _on(url, "prod").with_health(), _on(url, "staging").with_health()
    mark_unhealthy(staging, PRIMARY)
    assert not staging.with_health().health.in_rotation(PRIMARY)
    assert prod.health.in_rotation(PRIMARY)
    assert prod.with_health().health.in_rotation(PRIMARY)
