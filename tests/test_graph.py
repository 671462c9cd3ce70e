"""`fallback-resolver graph`: the Mermaid and DOT texts name the right nodes and edges."""

from __future__ import annotations

import re

import pytest

import resolver
from resolver.cli import main

STAGING_EDGES = {
    ("deepseek-r1-0528-syn", "deepseek-r1", "1"),
    ("kimi-k2-thinking-syn", "kimi-k2-instruct", "1 downgrade"),
    ("kimi-k2.5-syn", "kimi-k2-instruct", "1"),
    ("qwen3-235b-thinking-syn", "qwen3-235b-instruct", "1 downgrade"),
}


@pytest.fixture
def graph_text(capsys, tmp_path, monkeypatch):
    """Runs `graph` in an empty cwd with only TOGETHER_API_KEY set; returns stdout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOGETHER_API_KEY", "x")
    monkeypatch.delenv("SYNTHETIC_API_KEY", raising=False)
    monkeypatch.delenv("RESOLVER_ENV", raising=False)

    def run(*args: str) -> str:
        assert main(["graph", *args]) == 0
        out, _ = capsys.readouterr()
        assert list(tmp_path.iterdir()) == []
        return out

    return run


def parse_mermaid(text: str) -> tuple[dict[str, tuple[str, str]], set[tuple[str, str, str, str]]]:
    """Nodes (model id -> (class, mermaid name)) and edges (source, target, label, arrow)."""
    node_re = re.compile(r'^\s+(m_\w+)\["([^"<]+)(?:<br/>[^"]*)?"\](?::::(\w+))?$')
    edge_re = re.compile(r'^\s+(m_\w+) (-->|-\.->)\|"([^"]*)"\| (m_\w+)$')
    nodes: dict[str, tuple[str, str]] = {}
    by_name: dict[str, str] = {}
    edges = set()
    for line in text.splitlines():
        if m := node_re.match(line):
            nodes[m[2]] = (m[3] or "ok", m[1])
            by_name[m[1]] = m[2]
        elif m := edge_re.match(line):
            edges.add((by_name[m[1]], by_name[m[4]], m[3], m[2]))
    return nodes, edges


def parse_dot(text: str) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Nodes (id -> attributes) and edges ((source, target) -> attributes), legend excluded."""
    nodes = {
        m[1]: m[2]
        for m in re.finditer(r'^\s+"([^"]+)" \[(label=.*)\];$', text, re.M)
        if not m[1].startswith("legend:")
    }
    edges = {
        (m[1], m[2]): m[3]
        for m in re.finditer(r'^\s+"([^"]+)" -> "([^"]+)" \[(.*)\];$', text, re.M)
        if not m[1].startswith("legend:")
    }
    return nodes, edges


def test_mermaid_names_every_edge_and_marks_disabled_unset_key_and_downgrade(graph_text):
    """Mermaid output has each configured edge, downgrades dotted, and classes for states."""
    nodes, edges = parse_mermaid(graph_text("--env", "staging"))
    assert {(s, t, label) for s, t, label, _ in edges} == STAGING_EDGES
    arrows = {(s, t): arrow for s, t, _, arrow in edges}
    assert arrows[("kimi-k2-thinking-syn", "kimi-k2-instruct")] == "-.->"
    assert arrows[("kimi-k2.5-syn", "kimi-k2-instruct")] == "-->"
    assert nodes["qwen3-235b-thinking-syn"][0] == "disabled"
    assert nodes["kimi-k2.5-syn"][0] == "nokey"  # SYNTHETIC_API_KEY unset
    assert nodes["deepseek-r1"][0] == "ok"  # TOGETHER_API_KEY set
    assert "legend" in graph_text()


def test_mermaid_node_names_stay_distinct_for_dotted_ids(graph_text):
    """Ids that differ only in dots and dashes get distinct Mermaid node names."""
    nodes, edges = parse_mermaid(
        graph_text("--fallback", "deepseek-v3.1=deepseek-v3-0324-syn,deepseek-v3.1-terminus-syn")
    )
    names = [name for _, name in nodes.values()]
    assert len(names) == len(set(names))
    assert ("deepseek-v3.1", "deepseek-v3.1-terminus-syn", "2", "-->") in edges


def test_dot_names_every_edge_with_styles_and_a_legend(graph_text):
    """DOT output quotes dotted ids, styles disabled nodes and downgrade/inert edges."""
    text = graph_text("--env", "staging", "--format", "dot")
    nodes, edges = parse_dot(text)
    r = resolver.load("staging")
    expected = {(s, t) for s, targets in r.fallbacks.items() for t in targets}
    assert set(edges) == expected
    assert set(nodes) == {i for edge in expected for i in edge}
    assert "dashed" in edges[("kimi-k2-thinking-syn", "kimi-k2-instruct")]
    assert "dotted" in edges[("qwen3-235b-thinking-syn", "qwen3-235b-instruct")]  # inert
    assert "style" not in edges[("kimi-k2.5-syn", "kimi-k2-instruct")]
    assert "filled" in nodes["qwen3-235b-thinking-syn"]
    assert "SYNTHETIC_API_KEY unset" in nodes["kimi-k2.5-syn"]
    assert "subgraph cluster_legend" in text


def test_graph_lists_nodes_and_edges_in_sorted_order(graph_text):
    """Nodes and edges come out sorted by id, so the graph can be committed and diffed."""
    nodes, edges = parse_dot(graph_text("--env", "staging", "--format", "dot"))
    assert list(nodes) == sorted(nodes)
    assert list(edges) == sorted(edges)
