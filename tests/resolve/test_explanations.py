"""What a resolver says about a model in words: the explanation `explain` prints, the reason a
strict lookup refuses a model, the one warning for an unknown id, and its own summary."""

from __future__ import annotations

import logging

import pytest

import resolver
from resolver import ModelUnavailable

KEY = {"OWN_TREE_KEY": "k"}


def test_an_explanation_reads_hop_by_hop(own_tree) -> None:
    """An explanation prints the model and its summary, then one line per candidate with its
    hop, what it backs up, its status and why."""
    r = resolver.load(config_path=own_tree, environ=KEY)
    assert str(r.explain("think", environ=KEY)).splitlines()[0] == "think: falls back to 'plain'"
    lines = str(r.explain("think", environ={})).splitlines()
    assert lines[0] == "think: falls back to 'spare'"
    assert lines[1] == (
        "  hop 1: plain (backup of think): skipped: key variable OWN_TREE_KEY is not set"
        " [cost 0.46x; downgrade: loses reasoning]"
    )
    assert lines[2].startswith("  hop 1: spare (backup of think): chosen: first usable backup")


def test_models_without_a_usable_chain_are_explained(own_tree) -> None:
    """An unknown model, a disabled one and one without backups are each explained in a
    sentence, with the closest id for an unknown one."""
    r = resolver.load(config_path=own_tree, environ=KEY)
    assert str(r.explain("thinc")) == "thinc: unknown model 'thinc'; did you mean 'think'?"
    assert str(r.explain("retired")) == (
        "retired: disabled (retired), so its backups are never used"
    )
    assert str(r.explain("spare")) == "spare: no fallbacks configured"


def test_a_strict_lookup_says_why_it_refuses(own_tree) -> None:
    """A strict lookup of an unknown id names the closest one; of a disabled model, its reason
    (or that none was given)."""
    r = resolver.load(config_path=own_tree, environ=KEY)
    with pytest.raises(ModelUnavailable) as unknown:
        r.get_fallback_provider("thinc", strict=True)
    assert unknown.value.reason == "unknown model id; did you mean 'think'?"
    with pytest.raises(ModelUnavailable) as disabled:
        r.get_fallback_provider("retired", strict=True)
    assert disabled.value.reason == "disabled (retired)"
    bare = resolver.load(
        config_path=own_tree, overrides=["providers.open.models.retired.disabled_reason=null"]
    )
    with pytest.raises(ModelUnavailable) as unexplained:
        bare.get_fallback_provider("retired", strict=True)
    assert unexplained.value.reason == "disabled (no reason given)"


def test_an_unknown_id_is_logged_once_with_the_closest_id(own_tree, caplog) -> None:
    """A lookup of an unknown id returns None and logs one warning naming the closest id; a
    second lookup of it logs nothing more."""
    r = resolver.load(config_path=own_tree, environ=KEY)
    with caplog.at_level(logging.WARNING, logger="resolver"):
        assert r.get_fallback_provider("thinc") is None
        assert r.get_fallback_provider("thinc") is None
    assert [rec.getMessage() for rec in caplog.records] == [
        "get_fallback_provider('thinc'): unknown model id; did you mean 'think'?; returning None"
    ]


def test_a_resolver_summarises_itself(own_tree) -> None:
    """A resolver's repr gives its env and its counts of providers, enabled ones and edges."""
    r = resolver.load(config_path=own_tree, environ=KEY)
    assert repr(r) == "<Resolver env='prod' providers=4 enabled=3 edges=3>"


def test_a_step_without_notes_prints_none() -> None:
    """A step with no notes prints its hop, model, source, status and reason and nothing
    after."""
    step = resolver.Step("b", 1, "a", "chosen", "first usable backup")
    assert str(step) == "hop 1: b (backup of a): chosen: first usable backup"


def test_every_status_and_summary_reads_as_documented(own_tree) -> None:
    """The backup after the chosen one is next in line; a model whose backups are all unusable
    has no usable backup; one disabled without a reason says so."""
    r = resolver.load(
        config_path=own_tree,
        overrides=[
            "++fallbacks.spare=[plain]",
            "providers.open.models.retired.disabled_reason=null",
        ],
    )
    lines = str(r.explain("think", environ=KEY)).splitlines()
    assert lines[2].startswith(
        "  hop 1: spare (backup of think): usable: next in line if the chosen backup fails"
    )
    assert str(r.explain("spare", environ={})).splitlines()[0] == "spare: no usable backup"
    assert str(r.explain("retired")) == (
        "retired: disabled (no reason given), so its backups are never used"
    )


def test_a_backup_costing_exactly_the_cap_is_not_over_it(own_tree) -> None:
    """A backup whose cost ratio equals the cap is noted with its ratio, not as over the cap."""
    r = resolver.load(
        config_path=own_tree, overrides=["++fallbacks.spare=[plain]", "policy.cost.max_ratio=1"]
    )
    (step,) = r.explain("spare", environ=KEY).steps
    assert step.notes == ("cost 1.00x",)


def test_strict_lookups_name_the_model_and_pass_models_without_backups(own_tree) -> None:
    """A strict lookup's refusal carries the model id asked for (and an unknown id without a
    close one has no suggestion); a strict lookup of an enabled model without backups is None."""
    r = resolver.load(config_path=own_tree, environ=KEY)
    for model_id in ("thinc", "retired"):
        with pytest.raises(ModelUnavailable) as refused:
            r.get_fallback_provider(model_id, strict=True)
        assert refused.value.model_id == model_id
    with pytest.raises(ModelUnavailable) as far:
        r.get_fallback_provider("zzzzzzzz", strict=True)
    assert far.value.reason == "unknown model id"
    assert r.get_fallback_provider("spare", strict=True) is None


def test_one_provider_out_leaves_the_others_in_every_lookup(own_tree) -> None:
    """With one provider out of rotation, lookups still offer every other backup in rotation,
    keyed ones included."""
    r = resolver.load(config_path=own_tree, environ=KEY).with_health()
    for _ in range(3):
        r.health.record_failure("spare", "server")
    assert not r.health.in_rotation("spare")
    assert r.get_fallback_provider("think", environ=KEY) == r.providers["plain"]
    assert r.get_fallback_chain("think", environ=KEY) == (r.providers["plain"],)
    for _ in range(3):
        r.health.record_failure("plain", "server")
    r.health.reset("spare")
    r.health.record_failure("retired", "server")  # keeps the store from being all in rotation
    r.health.record_failure("retired", "server")
    r.health.record_failure("retired", "server")
    assert r.get_fallback_chain("think", environ=KEY) == (r.providers["spare"],)
    assert r.get_fallback_provider("think", environ={}) == r.providers["spare"]
