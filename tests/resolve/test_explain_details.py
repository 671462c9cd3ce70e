"""What explain says in detail: an unknown model, and an edge's own cost cap."""

from __future__ import annotations

import resolver


def test_explaining_an_unknown_model_names_it_and_nothing_else():
    """An id with no close match is explained as unknown, under its own id, with no hop and
    no suggestion."""
    e = resolver.explain("zzzz-no-such-model")
    assert (e.model_id, e.summary, e.steps, e.chosen) == (
        "zzzz-no-such-model",
        "unknown model 'zzzz-no-such-model'",
        (),
        None,
    )


def test_an_edges_own_cost_cap_decides_the_over_the_cap_note(own_tree):
    """A backup costing 5x its source is noted over the policy's 2x cap, and not once the
    source's edge_policy raises its own cap to 10x."""
    expensive = "++providers.open.models.spare.pricing={prompt: 10, completion: 30}"
    capped = resolver.load(config_path=own_tree, overrides=[expensive], environ={})
    raised = resolver.load(
        config_path=own_tree,
        overrides=[expensive, "++edge_policy={think: {max_cost_ratio: 10}}"],
        environ={},
    )

    spare = next(s for s in capped.explain("think").steps if s.provider_id == "spare")
    assert spare.notes[0] == "cost 5.00x, over the cap of 2x"
    spare = next(s for s in raised.explain("think").steps if s.provider_id == "spare")
    assert spare.notes[0] == "cost 5.00x"


def test_with_action_skip_an_edges_own_cap_decides_whether_a_backup_is_used(own_tree):
    """Under policy.cost.action=skip, a backup costing 5x is skipped by the 2x policy cap and
    used once the source's edge_policy allows 10x."""
    expensive = "++providers.open.models.spare.pricing={prompt: 10, completion: 30}"
    flags = [expensive, "policy.cost.action=skip"]
    capped = resolver.load(config_path=own_tree, overrides=flags, environ={})
    raised = resolver.load(
        config_path=own_tree,
        overrides=[*flags, "++edge_policy={think: {max_cost_ratio: 10}}"],
        environ={},
    )

    assert capped.get_fallback_provider("think", environ={}) is None
    used = raised.get_fallback_provider("think", environ={})
    assert used is not None
    assert used.id == "spare"
