"""What validation says about a fallback list, a per-model patch or an edge policy that names
the wrong thing: the code a tool matches, the key to fix, and a hint that fixes it; and one
wrong entry never hides the problems of the entries after it."""

from __future__ import annotations

from pathlib import Path

import pytest

import resolver
from resolver import ConfigError, Problem


def errors_of(root: Path, *overrides: str) -> tuple[Problem, ...]:
    with pytest.raises(ConfigError) as info:
        resolver.load(config_path=root, overrides=list(overrides), environ={})
    return info.value.errors


def test_a_backup_listed_twice_is_tried_once_with_a_warning(own_tree) -> None:
    """A backup listed twice for one model is a warning at the repeat, and the chain tries it
    once."""
    r = resolver.load(config_path=own_tree, overrides=["fallbacks.think=[plain,plain,spare]"])

    assert r.fallbacks["think"] == ("plain", "spare")
    (warning,) = [p for p in r.warnings if p.code == "duplicate-target"]
    assert warning.severity == "warning"
    assert warning.key == "fallbacks.think[1]"
    assert warning.message == "backup 'plain' is listed twice for 'think'"
    assert warning.hint == "a provider is never tried twice in one call; remove the repeat"
    with pytest.raises(ConfigError):
        resolver.load(
            config_path=own_tree, overrides=["fallbacks.think=[plain,plain,spare]"], strict=True
        )


def test_a_backup_given_as_one_id_asks_for_a_list(own_tree) -> None:
    """A model's backups written as a single id instead of a list are an error that shows the
    list form to write."""
    (problem,) = errors_of(own_tree, "fallbacks.think=plain")
    assert problem.code == "wrong-type"
    assert problem.key == "fallbacks.think"
    assert problem.message == "expected a list of model ids, got text 'plain'"
    assert problem.hint == "think: [backup-id, ...]"


def test_a_patch_for_an_undeclared_model_names_it_and_the_closest_id(own_tree) -> None:
    """A per-model patch (``models:``) for an id no vendor declares is an error at that key,
    suggesting the declared id it was probably meant for."""
    (problem,) = errors_of(own_tree, "++models={thinc: {timeout_s: 3}}")
    assert problem.code == "unknown-model"
    assert problem.key == "models.thinc"
    assert problem.message == "a patch declared for 'thinc', which no vendor declares"
    assert problem.hint == "did you mean 'think'?"


@pytest.mark.parametrize(
    ("first", "problems"),
    [
        ("ghost: [spare]", [("unknown-source", "fallbacks.ghost")]),
        ("yes: [spare]", [("bad-model-id", "fallbacks[True]")]),
        ("spare: plain", [("wrong-type", "fallbacks.spare")]),
        (
            "plain: ['???', spar]",
            [("missing-value", "fallbacks.plain[0]"), ("unknown-target", "fallbacks.plain[1]")],
        ),
    ],
    ids=["unknown-source", "yes", "not-a-list", "unfilled-backup"],
)
def test_backups_after_a_bad_entry_are_still_checked(own_tree, first, problems) -> None:
    """A bad fallback entry (an unknown model, a bad id, backups not in a list, a backup left ???)
    does not stop validation of the backups listed after it: their problems are reported in
    the same pass."""
    (own_tree / "fallbacks" / "mine.yaml").write_text(
        f"{first}\nthink: [plian]\n", encoding="utf-8"
    )
    found = {(p.code, p.key) for p in errors_of(own_tree)}
    assert found == {*problems, ("unknown-target", "fallbacks.think[0]")}


def test_edge_policies_after_an_unknown_source_are_still_checked(own_tree) -> None:
    """An edge policy for an unknown model does not stop validation of the edge policies listed
    after it."""
    root = own_tree
    (root / "env" / "prod.yaml").write_text(
        "# @package _global_\nedge_policy:\n  ghost: {note: x}\n  think: {mid_stream: sometimes}\n",
        encoding="utf-8",
    )
    found = {(p.code, p.key) for p in errors_of(root)}
    assert found == {
        ("unknown-source", "edge_policy.ghost"),
        ("bad-value", "edge_policy.think.mid_stream"),
    }
    ghost = next(p for p in errors_of(root) if p.code == "unknown-source")
    assert ghost.message == "an edge policy declared for 'ghost', which no vendor declares"


def test_backups_set_to_null_mean_none(own_tree) -> None:
    """A model whose backups are set to null (e.g. an env switching its fallbacks off) loads
    with no backups."""
    r = resolver.load(config_path=own_tree, overrides=["fallbacks.think=null"], environ={})
    assert r.fallbacks["think"] == ()


def test_backups_left_unfilled_ask_for_a_value_at_their_key(own_tree) -> None:
    """A model's backups left as ``???`` (a value to fill in) are one missing-value error at
    that model's key, not a wrong type."""
    (own_tree / "fallbacks" / "mine.yaml").write_text("think: ???\n", encoding="utf-8")
    assert [(p.code, p.key) for p in errors_of(own_tree)] == [("missing-value", "fallbacks.think")]
