"""How a chain is walked when edges meet: a backup reached by two edges is a candidate once, at
its first place, and the edges after it are still followed; a disabled backup is named with
its reason, or with the words that none was given."""

from __future__ import annotations

import resolver

KEY = {"OWN_TREE_KEY": "k"}
# think -> [plain, spare] and plain -> [spare, retired]: spare is reached twice.
DIAMOND = ["+fallbacks.plain=[spare,retired]"]


def _steps(r: resolver.Resolver, model_id: str) -> list[tuple[str, int, str, str]]:
    return [(s.provider_id, s.hop, s.via, s.reason) for s in r.explain(model_id, environ=KEY).steps]


def test_a_backup_reached_twice_is_a_candidate_once(own_tree) -> None:
    """A backup reached directly and again through another backup is listed once, at its first
    place, and the backups after it on the second edge are still reached."""
    r = resolver.load(config_path=own_tree, overrides=DIAMOND, environ=KEY)
    assert [step[:3] for step in _steps(r, "think")] == [
        ("plain", 1, "think"),
        ("spare", 1, "think"),
        ("retired", 2, "plain"),
    ]
    assert [p.id for p in r.static_chain("think")] == ["plain", "spare"]


def test_a_disabled_backup_is_named_with_its_reason(own_tree) -> None:
    """A disabled backup is skipped as 'disabled (<its reason>)', or 'disabled (no reason
    given)' when the config gives none."""
    r = resolver.load(config_path=own_tree, overrides=DIAMOND, environ=KEY)
    assert _steps(r, "think")[-1][3] == "disabled (retired)"
    bare = resolver.load(
        config_path=own_tree,
        overrides=[*DIAMOND, "providers.open.models.retired.disabled_reason=null"],
        environ=KEY,
    )
    assert _steps(bare, "think")[-1][3] == "disabled (no reason given)"
