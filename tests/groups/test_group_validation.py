"""Groups are validated with the rest of the configuration: every problem in one pass, each
named by its key, file and a fix."""

from __future__ import annotations

import pytest

from resolver import ConfigError

from .conftest import BACKUP, A, B


def problems(grouped, body: str) -> dict[str, list]:
    with pytest.raises(ConfigError) as caught:
        grouped(body)
    found: dict[str, list] = {}
    for p in caught.value.problems:
        found.setdefault(p.code, []).append(p)
    return found


def test_every_group_mistake_is_reported_in_one_pass_with_its_place(grouped):
    """Unknown and empty members, negative and all-zero weights, a group id that is a provider's,
    zero or negative rpm/tpm, and an unknown strategy are all reported at once, each at its key
    in the env file."""
    found = problems(
        grouped,
        f"""
        groups:
          typo:
            members: [{A}, llama-3.3-70b-trubo]
          empty: {{members: []}}
          negative: {{strategy: weighted, members: {{{A}: {{weight: -1}}}}}}
          zeros: {{strategy: weighted, members: {{{A}: {{weight: 0}}, {B}: {{weight: 0}}}}}}
          {BACKUP}: {{members: [{A}]}}
          odd: {{strategy: round-robin, members: [{A}]}}
        models:
          {A}: {{rpm: 0}}
          {B}: {{tpm: -5}}
        """,
    )
    assert set(found) >= {
        "unknown-member",
        "empty-group",
        "bad-value",
        "bad-weights",
        "group-collides",
    }
    unknown = found["unknown-member"][0]
    assert unknown.key == "groups.typo.members.llama-3.3-70b-trubo"
    assert unknown.file.endswith("env/groups.yaml")
    assert A in unknown.hint  # did you mean
    keys = {p.key for p in found["bad-value"]}
    assert {
        "groups.negative.members." + A + ".weight",
        "groups.odd.strategy",
        "models." + A + ".rpm",
        "models." + B + ".tpm",
    } <= keys
    assert found["group-collides"][0].key == f"groups.{BACKUP}"
    assert found["bad-weights"][0].key == "groups.zeros.members"


def test_edges_into_and_out_of_groups_follow_the_graph_rules(grouped):
    """A group that falls back to itself, a cycle through three groups and an edge to a
    mistyped group are errors, as they are for single models."""
    found = problems(
        grouped,
        f"""
        groups:
          g1: {{members: [{A}]}}
          g2: {{members: [{B}]}}
          g3: {{members: [{BACKUP}]}}
        fallbacks:
          g1: [g1]
          g2: [g3]
          g3: [g2x, {A}]
          {A}: [g2]
          {B}: [g3]
          {BACKUP}: [g2]
        """,
    )
    assert found["self-loop"][0].key == "fallbacks.g1[0]"
    assert "g2" in found["unknown-target"][0].hint
    cycle = found["cycle"][0].message
    assert "g2" in cycle
    assert "g3" in cycle


def test_members_with_different_key_variables_are_a_warning(grouped, chat_server):
    """A member reading its key from another variable than the group's others loads, with a
    warning naming both."""
    r = grouped(
        f"""
        groups:
          mixed: {{members: [{A}, deepseek-v3-0324-syn]}}
        """
    )
    warning = next(w for w in r.warnings if w.code == "member-key-differs")
    assert "SYNTHETIC_API_KEY" in warning.message
    assert "TOGETHER_API_KEY" in warning.message
    assert warning.key == "groups.mixed.members.deepseek-v3-0324-syn"


def test_a_provider_in_no_group_answers_as_before(grouped, keys):
    """Declaring a group leaves the seed's lookups as they were."""
    r = grouped(f"groups:\n  g: {{members: [{A}, {B}]}}\n")
    assert r.get_fallback_provider("deepseek-r1-0528-syn", environ=keys).id == "deepseek-r1"
    assert r.get_fallback_provider("kimi-k2-thinking-syn", environ=keys).id == "kimi-k2-instruct"
    assert r.pick("deepseek-r1-0528-syn", environ=keys).id == "deepseek-r1-0528-syn"
    assert r.members("deepseek-r1") == (r.providers["deepseek-r1"],)
