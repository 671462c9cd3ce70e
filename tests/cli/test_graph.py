"""`fallback-resolver graph`: the Mermaid and DOT texts name the right nodes and edges."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from resolver.cli import main


@pytest.fixture
def graph_text(capsys, tmp_path, monkeypatch):
    """Runs `graph` in an empty cwd with only TOGETHER_API_KEY set; returns stdout."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("TOGETHER_API_KEY", "x")
    monkeypatch.delenv("SYNTHETIC_API_KEY", raising=False)
    monkeypatch.delenv("RESOLVER_ENV", raising=False)

    def run(*args: str) -> str:
        assert main(["graph", *args]) == 0
        out, _ = capsys.readouterr()
        assert list(work.iterdir()) == []
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


def test_mermaid_names_every_edge_and_marks_disabled_unset_key_and_downgrade(graph_text, own_tree):
    """Mermaid output has each configured edge, downgrades and inert edges dotted, and classes
    for disabled models and unset key variables."""
    nodes, edges = parse_mermaid(graph_text("--config-path", str(own_tree)))
    assert edges == {
        ("think", "plain", "1 downgrade", "-.->"),
        ("think", "spare", "2 downgrade", "-.->"),
        ("retired", "spare", "1", "-.->"),  # inert: its source is disabled
    }
    classes = {model_id: cls for model_id, (cls, _) in nodes.items()}
    assert classes == {"think": "nokey", "plain": "nokey", "spare": "ok", "retired": "disabled"}
    assert "legend" in graph_text()


def test_mermaid_draws_a_plain_edge_solid(graph_text, own_tree):
    """An edge that is neither a downgrade nor inert is drawn as a solid arrow."""
    _, edges = parse_mermaid(
        graph_text("--config-path", str(own_tree), "--fallback", "plain=spare")
    )
    assert ("plain", "spare", "1", "-->") in edges


def test_mermaid_node_names_stay_distinct_for_dotted_ids(graph_text):
    """Ids that differ only in dots and dashes get distinct Mermaid node names."""
    nodes, edges = parse_mermaid(
        graph_text("--fallback", "deepseek-v3.1=deepseek-v3-0324-syn,deepseek-v3.1-terminus-syn")
    )
    names = [name for _, name in nodes.values()]
    assert len(names) == len(set(names))
    assert ("deepseek-v3.1", "deepseek-v3.1-terminus-syn", "2", "-->") in edges


def test_dot_names_every_edge_with_styles_and_a_legend(graph_text, own_tree):
    """DOT output quotes ids, styles disabled nodes, unset keys and downgrade/inert edges."""
    text = graph_text(
        "--config-path", str(own_tree), "--format", "dot", "--fallback", "plain=spare"
    )
    nodes, edges = parse_dot(text)
    assert set(nodes) == {"think", "plain", "spare", "retired"}
    assert set(edges) == {
        ("think", "plain"),
        ("think", "spare"),
        ("retired", "spare"),
        ("plain", "spare"),
    }
    assert "style=dashed" in edges[("think", "plain")]  # downgrade
    assert "style=dotted" in edges[("retired", "spare")]  # inert
    assert "style" not in edges[("plain", "spare")]
    assert "filled" in nodes["retired"]
    assert "OWN_TREE_KEY unset" in nodes["think"]
    assert "unset" not in nodes["spare"]
    assert "subgraph cluster_legend" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed")
def test_graphviz_reads_the_dot_output_as_written(graph_text, own_tree):
    """Graphviz itself parses `graph --format dot` into the expected nodes, edges and styles."""
    text = graph_text("--config-path", str(own_tree), "--format", "dot")
    done = subprocess.run(["dot", "-Tjson"], input=text, capture_output=True, text=True, check=True)
    data = json.loads(done.stdout)
    names = [o["name"] for o in data["objects"]]
    edges = {
        (names[e["tail"]], names[e["head"]]): (e.get("label"), e.get("style"))
        for e in data["edges"]
        if not names[e["tail"]].startswith("legend:")
    }
    assert edges == {
        ("think", "plain"): ("1 downgrade", "dashed"),
        ("think", "spare"): ("2 downgrade", "dashed"),
        ("retired", "spare"): ("1", "dotted"),
    }
    styles = {o["name"]: o.get("style") for o in data["objects"] if "legend" not in o["name"]}
    assert styles["retired"] == "rounded,dashed,filled"
    assert styles["spare"] == "rounded"


def test_graph_lists_nodes_and_edges_in_sorted_order(graph_text):
    """Nodes and edges come out sorted by id, so the graph can be committed and diffed."""
    nodes, edges = parse_dot(graph_text("--env", "staging", "--format", "dot"))
    assert list(nodes) == sorted(nodes)
    assert list(edges) == sorted(edges)
