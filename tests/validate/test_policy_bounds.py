"""Policy settings each valid alone but meaningless together are errors, not silent values: a
cooldown above its cap, retries that can never happen, a cost reference of no tokens. Each
names its key and the override (or file) that set it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import resolver
from resolver import ConfigError


@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        (["policy.retries=3", "policy.max_attempts=3"], "policy.retries", "at most 2"),
        (["policy.retries=5"], "policy.retries", "can never all happen"),
        (
            ["policy.health.cooldown_s=900", "policy.health.max_cooldown_s=600"],
            "policy.health.cooldown_s",
            "cooldowns would shrink",
        ),
        (
            ["policy.cost.prompt_tokens=0", "policy.cost.completion_tokens=0"],
            "policy.cost.prompt_tokens",
            "no tokens",
        ),
    ],
)
def test_settings_that_contradict_each_other_are_errors(overrides, key, words):
    """Each pair is one bad-value error on its key, blamed on an override, with a fix."""
    with pytest.raises(ConfigError) as caught:
        resolver.load(overrides=overrides)
    [problem] = caught.value.errors
    assert (problem.code, problem.key) == ("bad-value", key)
    assert words in problem.message
    assert problem.file is not None
    assert problem.file.startswith("override")
    assert problem.hint


@settings(max_examples=60, deadline=None)
@given(
    retries=st.integers(0, 6),
    attempts=st.integers(1, 6),
    cooldown=st.integers(0, 1000),
    cap=st.integers(0, 1000),
)
def test_a_policy_loads_exactly_when_its_bounds_agree(retries, attempts, cooldown, cap):
    """For any retries/max_attempts and cooldown_s/max_cooldown_s, the config loads exactly
    when retries < max_attempts and cooldown_s <= max_cooldown_s."""
    overrides = [
        f"policy.retries={retries}",
        f"policy.max_attempts={attempts}",
        f"policy.health.cooldown_s={cooldown}",
        f"policy.health.max_cooldown_s={cap}",
    ]
    try:
        r = resolver.load(overrides=overrides)
    except ConfigError as e:
        keys = {p.key for p in e.errors}
    else:
        keys = set()
        assert (r.policy.retries, r.policy.health.cooldown_s) == (retries, cooldown)
    assert keys <= {"policy.retries", "policy.health.cooldown_s"}
    assert ("policy.retries" in keys) == (retries >= attempts)
    assert ("policy.health.cooldown_s" in keys) == (cooldown > cap)
