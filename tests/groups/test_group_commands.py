"""The commands show groups: table lists which member a call takes and why not the others,
graph draws each group with its members, and JSON says the same."""

from __future__ import annotations

import json

from resolver.cli import main

from .conftest import BACKUP, A, B

GROUP = [
    f"++groups={{llama: {{strategy: weighted, members: {{{A}: {{weight: 3}}, {B}: {{}}}}}}}}",
    f"++fallbacks={{llama: [{BACKUP}]}}",
]


def test_table_shows_a_groups_members_then_its_backups(capsys, monkeypatch):
    """A group's rows name each member with its share, then the group's backups."""
    monkeypatch.setenv("TOGETHER_API_KEY", "t")
    assert main(["table", *GROUP]) == 0
    rows = [
        line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("llama ")
    ]
    # The members first (weighted: either may be drawn first now), then the group's backup.
    assert [row[1] for row in rows] == ["member", "member", "1"]
    assert {row[2] for row in rows[:2]} == {A, B}
    assert [row[3] for row in rows] == ["chosen", "usable", "chosen"]
    assert rows[2][2] == BACKUP
    assert any("75% of its tier's calls" in " ".join(row) for row in rows)


def test_explain_json_lists_the_members(capsys, monkeypatch):
    """explain --json of a group carries its members with status and reason."""
    monkeypatch.setenv("TOGETHER_API_KEY", "t")
    assert main(["explain", "llama", "--json", *GROUP]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {m["provider_id"] for m in data["members"]} == {A, B}
    assert sum(m["status"] == "chosen" for m in data["members"]) == 1


def test_graph_draws_each_group_with_its_members(capsys):
    """Mermaid and DOT draw a line from the group to each member, labelled with its weight."""
    assert main(["graph", *GROUP]) == 0
    mermaid = capsys.readouterr().out
    assert 'm_llama ---|"w 3"| m_llama_3_3_70b_turbo' in mermaid
    assert main(["graph", "--format", "dot", *GROUP]) == 0
    dot = capsys.readouterr().out
    assert f'"llama" -> "{B}" [label="w 1", arrowhead=none' in dot
