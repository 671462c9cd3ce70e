"""A deployment's own policy file may set only what it changes: sections it leaves out take
the documented defaults, and what it sets in the cost and health sections is used."""

from __future__ import annotations

import pytest

import resolver
from resolver.catalog import CostPolicy, HealthPolicy


def test_a_policy_without_cost_or_health_takes_their_defaults(own_tree) -> None:
    """A policy file with only max_attempts loads, with the default cost and health settings."""
    (own_tree / "policy" / "default.yaml").write_text("max_attempts: 2\n", encoding="utf-8")
    r = resolver.load(config_path=own_tree, environ={})
    assert r.policy.max_attempts == 2
    assert r.policy.cost == CostPolicy()
    assert r.policy.health == HealthPolicy()


def test_what_the_cost_and_health_sections_set_is_used(own_tree) -> None:
    """Values set under policy.cost and policy.health are the ones the loaded policy has."""
    r = resolver.load(
        config_path=own_tree,
        overrides=["policy.cost.max_ratio=7", "policy.health.failure_threshold=5"],
        environ={},
    )
    assert r.policy.cost.max_ratio == 7
    assert r.policy.health.failure_threshold == 5


def test_a_bad_cost_setting_is_reported_at_its_key(own_tree) -> None:
    """A cost setting of the wrong kind is one error at its own key under policy.cost."""
    with pytest.raises(resolver.ConfigError) as info:
        resolver.load(config_path=own_tree, overrides=["policy.cost.action=refuse"], environ={})
    assert [(p.code, p.key) for p in info.value.errors] == [("bad-value", "policy.cost.action")]
