"""A known edge warning can be accepted per source (and backup) with a reason: validation stops
reporting it, explain shows it, and an acceptance that no longer matches anything warns."""

from __future__ import annotations

import json

import pytest

import resolver
from resolver import ConfigError
from resolver.cli import main
from resolver.snapshot import from_json, to_json

KEYS = {"TOGETHER_API_KEY": "t", "SYNTHETIC_API_KEY": "s"}
# deepseek-v3-0324-syn falls back to the disabled deepseek-v3.2-syn, then to deepseek-v3.1.
EDGE = "++fallbacks={deepseek-v3-0324-syn: [deepseek-v3.2-syn, deepseek-v3.1]}"


def accept(entries: str) -> str:
    return f"++edge_policy={{deepseek-v3-0324-syn: {{accept: [{entries}]}}}}"


def codes(r: resolver.Resolver) -> list[str]:
    return sorted(p.code for p in r.warnings)


def test_accepting_a_warning_silences_it_for_that_backup_only() -> None:
    """An acceptance naming a backup removes that edge's warning and no other."""
    assert codes(resolver.load(overrides=[EDGE], environ=KEYS)) == ["edge-into-disabled"]
    entry = "{warning: edge-into-disabled, backup: deepseek-v3.2-syn, reason: trial ended}"
    r = resolver.load(overrides=[EDGE, accept(entry)], environ=KEYS, strict=True)
    assert r.warnings == ()
    other = "{warning: edge-into-disabled, backup: deepseek-v3.1, reason: wrong backup}"
    r = resolver.load(overrides=[EDGE, accept(other)], environ=KEYS)
    assert codes(r) == ["edge-into-disabled", "unused-accept"]
    unused = next(p for p in r.warnings if p.code == "unused-accept")
    assert unused.key == "edge_policy.deepseek-v3-0324-syn.accept[0]"


def test_an_acceptance_without_backup_covers_every_backup_of_the_source() -> None:
    """Without `backup`, the acceptance covers that warning on any backup of the source."""
    entry = "{warning: edge-into-disabled, reason: parked}"
    r = resolver.load(overrides=[EDGE, accept(entry)], environ=KEYS)
    assert r.warnings == ()


def test_key_unset_cannot_be_accepted() -> None:
    """Whether a key is set belongs to the environment: accepting key-unset is an error."""
    entry = "{warning: key-unset, reason: CI has no keys}"
    with pytest.raises(ConfigError) as info:
        resolver.load(overrides=[EDGE, accept(entry)])
    (p,) = info.value.errors
    assert (p.code, p.key) == ("bad-value", "edge_policy.deepseek-v3-0324-syn.accept[0].warning")
    assert "'key-unset' is not one of" in p.message


@pytest.mark.parametrize(
    ("entry", "code", "key"),
    [
        ("{warning: downgrade}", "missing-field", "reason"),
        ("{warning: downgrade, reason: ' '}", "bad-value", "reason"),
        ("{reason: why}", "missing-field", "warning"),
        ("{warning: downgrade, reason: x, because: y}", "unknown-key", "because"),
    ],
)
def test_an_acceptance_needs_a_known_warning_and_a_reason(entry: str, code: str, key: str):
    """Each acceptance names an acceptable warning and a non-empty reason."""
    with pytest.raises(ConfigError) as info:
        resolver.load(overrides=[EDGE, accept(entry)])
    assert [(p.code, p.key) for p in info.value.errors] == [
        (code, f"edge_policy.deepseek-v3-0324-syn.accept[0].{key}")
    ]


def test_explain_shows_the_accepted_warning_and_its_reason(capsys, monkeypatch) -> None:
    """`explain` lists the accepted warnings of the edges it walks, with their reasons."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["explain", "kimi-k2-thinking-syn"]) == 0
    out = capsys.readouterr().out
    assert "kimi-k2-thinking-syn: accepted downgrade on kimi-k2-instruct: the only Kimi K2" in out
    assert main(["explain", "qwen3-235b-thinking-syn", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["accepted"]
    assert entry["source"] == "qwen3-235b-thinking-syn"
    assert entry["warning"] == "inert-edge"
    assert entry["reason"]


def test_acceptance_is_public() -> None:
    """Acceptance, the type of an edge policy's accepted warnings, is exported."""
    assert "Acceptance" in resolver.__all__
    policy = resolver.load().edge_policy["kimi-k2-thinking-syn"]
    assert all(isinstance(a, resolver.Acceptance) for a in policy.accept)


def test_a_snapshot_keeps_the_acceptances() -> None:
    """A compiled snapshot restores the accepted warnings as the composed config has them."""
    r = resolver.load(environ=KEYS)
    restored = from_json(to_json(r))
    assert restored.edge_policy == r.edge_policy
    assert restored.edge_policy["kimi-k2-thinking-syn"].accept[0].backup == "kimi-k2-instruct"
