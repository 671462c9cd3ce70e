"""An accepted-warning entry of an edge policy that is incomplete or not an entry at all is
reported at its place, once, and loading never crashes on it."""

from __future__ import annotations

import pytest

import resolver
from resolver import ConfigError

CASES = {
    "no-warning": (
        "{reason: cheaper is fine}",
        ("missing-field", "edge_policy.think.accept[0].warning"),
    ),
    "no-reason": ("{warning: downgrade}", ("missing-field", "edge_policy.think.accept[0].reason")),
    "not-an-entry": ("downgrade", ("wrong-type", "edge_policy.think.accept[0]")),
}


@pytest.mark.parametrize(("entry", "problem"), CASES.values(), ids=CASES.keys())
def test_a_broken_accept_entry_is_reported_at_its_place(own_tree, entry, problem) -> None:
    """An accept entry without its warning or reason, or that is not a mapping, is one error
    at that entry."""
    with pytest.raises(ConfigError) as info:
        resolver.load(
            config_path=own_tree,
            overrides=[f"++edge_policy={{think: {{accept: [{entry}]}}}}"],
            environ={},
        )
    assert [(p.code, p.key) for p in info.value.errors] == [problem]


def test_an_edge_policy_under_a_bad_id_is_reported_once(own_tree) -> None:
    """An edge policy whose source is not a usable id (YAML's bare yes) is one bad-id error,
    not also an unknown model."""
    (own_tree / "env" / "prod.yaml").write_text(
        "# @package _global_\nedge_policy:\n  yes: {note: x}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as info:
        resolver.load(config_path=own_tree, environ={})
    assert [(p.code, p.key) for p in info.value.errors] == [("bad-model-id", "edge_policy[True]")]
