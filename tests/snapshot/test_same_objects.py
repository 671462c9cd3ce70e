"""A snapshot serves the very configuration it was compiled from: every provider, edge policy
and policy it gives back equals the composed one, lists of error classes included."""

from __future__ import annotations

import resolver
from resolver import load_snapshot, snapshot


def test_edge_policies_and_policy_come_back_equal(own_tree, tmp_path) -> None:
    """An edge policy with its own error classes, a cost cap and accepted warnings, and the
    policy, are served from a snapshot equal to the composed ones."""
    (own_tree / "env" / "prod.yaml").write_text(
        "# @package _global_\n"
        "edge_policy:\n"
        "  think:\n"
        "    fallback_on: [timeout, server]\n"
        "    max_cost_ratio: 3\n"
        "    accept: [{warning: downgrade, backup: plain, reason: cheaper is fine}]\n",
        encoding="utf-8",
    )
    composed = resolver.load(config_path=own_tree, environ={})
    path = tmp_path / "snap.json"
    snapshot.write(composed, path)

    served = load_snapshot(path)

    assert served.edge_policy == composed.edge_policy
    assert served.edge_policy["think"].fallback_on == ("timeout", "server")
    assert served.providers == composed.providers
    assert served.policy == composed.policy
