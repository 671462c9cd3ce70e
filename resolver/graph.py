"""The effective fallback graph as Mermaid or Graphviz DOT text, and rendered by Graphviz.

Nodes are the models that take part in an edge. Disabled models, models whose key variable is
unset in the given environment, downgrade edges (reasoning -> non-reasoning) and inert edges
(into or out of a disabled model) are drawn distinctly, and a legend says which is which.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .catalog import Provider, is_downgrade
from .errors import ResolverError
from .resolve import Resolver

NodeState = Literal["ok", "disabled", "nokey"]
GRAPHVIZ_HELP = (
    "install Graphviz so that `dot` is on PATH (Debian/Ubuntu: apt-get install graphviz; "
    "macOS: brew install graphviz; others: https://graphviz.org/download/), "
    "or use --format mermaid or --format dot"
)


class GraphvizMissing(ResolverError):
    """svg/png output was asked for and Graphviz's ``dot`` is not on PATH."""


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    state: NodeState
    detail: str  # what the state means for this node, e.g. the unset variable's name


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    order: int  # 1 for the first backup
    downgrade: bool
    inert: bool  # never used: one end is disabled
    member: bool = False  # not a fallback: the target is one of the source group's members
    label: str = ""  # a member's weight, or its group's strategy


def edges_and_nodes(r: Resolver, environ: Mapping[str, str]) -> tuple[list[Node], list[Edge]]:
    """The graph's parts, sorted by id so that two runs print the same text."""
    edges: list[Edge] = []
    ids: set[str] = set()
    for source_id in sorted(r.fallbacks):
        source = r.nodes[source_id]
        for order, target_id in enumerate(r.fallbacks[source_id], 1):
            target = r.nodes[target_id]
            inert = not (source.enabled and target.enabled)
            edges.append(Edge(source_id, target_id, order, is_downgrade(source, target), inert))
            ids.update((source_id, target_id))
    # Every group, with a line to each member (a member weight where the strategy reads one).
    for group_id, group in sorted(r.groups.items()):
        ids.add(group_id)
        for member in group.members:
            ids.add(member.id)
            label = f"w {member.weight:g}" if group.strategy == "weighted" else group.strategy
            inert = not r.providers[member.id].enabled
            edges.append(Edge(group_id, member.id, 0, False, inert, member=True, label=label))
    nodes = [_node(r.nodes[i], environ) for i in sorted(ids)]
    return nodes, edges


def _node(p: Provider, environ: Mapping[str, str]) -> Node:
    if not p.enabled:
        return Node(p.id, "disabled", "disabled")
    if p.api_key_env is not None and not environ.get(p.api_key_env):
        return Node(p.id, "nokey", f"{p.api_key_env} unset")
    return Node(p.id, "ok", "")


def to_mermaid(r: Resolver, environ: Mapping[str, str]) -> str:
    nodes, edges = edges_and_nodes(r, environ)
    names = _mermaid_names([n.id for n in nodes])
    lines = ["flowchart LR", f"  %% fallback graph of env {r.env}"]
    for n in nodes:
        label = n.id if not n.detail else f"{n.id}<br/><i>{n.detail}</i>"
        cls = "" if n.state == "ok" else f":::{n.state}"
        lines.append(f'  {names[n.id]}["{_mermaid_text(label)}"]{cls}')
    inert = []
    for i, e in enumerate(edges):
        label = e.label if e.member else f"{e.order} downgrade" if e.downgrade else str(e.order)
        arrow = "---" if e.member else "-.->" if e.downgrade or e.inert else "-->"
        lines.append(f'  {names[e.source]} {arrow}|"{label}"| {names[e.target]}')
        if e.inert:
            inert.append(str(i))
    lines += [
        '  subgraph legend ["Legend"]',
        '    legend_ok["enabled, usable"]',
        '    legend_nokey["key variable unset"]:::nokey',
        '    legend_disabled["disabled"]:::disabled',
        '    legend_reasoning["reasoning model"] -.->|"downgrade"| legend_plain["loses reasoning"]',
        '    legend_a["any model"] -.->|"inert: one end disabled"| legend_b["backup"]',
        *(
            ['    legend_group["group"] ---|"member"| legend_member["deployment"]']
            if r.groups
            else []
        ),
        "  end",
        "  classDef disabled fill:#eeeeee,stroke:#999999,color:#777777,stroke-dasharray:4 3",
        "  classDef nokey fill:#fff7ed,stroke:#d97706,stroke-width:2px",
    ]
    inert.append(str(len(edges) + 1))  # the legend's inert example edge
    lines.append(f"  linkStyle {','.join(inert)} stroke:#aaaaaa,stroke-dasharray:2 4")
    return "\n".join(lines) + "\n"


def _mermaid_names(ids: list[str]) -> dict[str, str]:
    # Mermaid node ids cannot hold dots or dashes, and words like `end` are keywords; the
    # m_ prefix avoids both, and a suffix separates ids that only differ in punctuation.
    names: dict[str, str] = {}
    taken: set[str] = set()
    for model_id in ids:
        base = "m_" + re.sub(r"\W", "_", model_id)
        name, n = base, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        names[model_id] = name
    return names


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def to_dot(r: Resolver, environ: Mapping[str, str]) -> str:
    nodes, edges = edges_and_nodes(r, environ)
    lines = [
        "digraph fallbacks {",
        f"  label={_q(f'fallback graph of env {r.env}')}; labelloc=t;",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for n in nodes:
        # \n in a DOT label is a line break; the parts are escaped, the break is not.
        label = "\\n".join(_esc(part) for part in (n.id, n.detail) if part)
        lines.append(f'  {_q(n.id)} [label="{label}"{_DOT_NODE[n.state]}];')
    for e in edges:
        label = e.label if e.member else f"{e.order} downgrade" if e.downgrade else str(e.order)
        # An inert edge is never used, so being a downgrade matters less than being inert.
        style = ", arrowhead=none, style=bold" if e.member else ""
        if e.inert:
            style = ', style=dotted, color="#aaaaaa"'
        elif e.downgrade:
            style = ', style=dashed, color="#dc2626"'
        lines.append(f"  {_q(e.source)} -> {_q(e.target)} [label={_q(label)}{style}];")
    lines += [
        "  subgraph cluster_legend {",
        '    label="Legend"; style=dashed;',
        '    "legend:ok" [label="enabled, usable"];',
        f'    "legend:nokey" [label="key variable unset"{_DOT_NODE["nokey"]}];',
        f'    "legend:disabled" [label="disabled"{_DOT_NODE["disabled"]}];',
        '    "legend:reasoning" [label="reasoning model"];',
        '    "legend:plain" [label="loses reasoning"];',
        '    "legend:reasoning" -> "legend:plain" [label="downgrade", style=dashed, '
        'color="#dc2626"];',
        '    "legend:a" [label="any model"]; "legend:b" [label="backup"];',
        '    "legend:a" -> "legend:b" [label="inert: one end disabled", style=dotted, '
        'color="#aaaaaa"];',
        *(
            [
                '    "legend:group" [label="group"]; "legend:member" [label="deployment"];',
                '    "legend:group" -> "legend:member" [label="member", arrowhead=none, '
                "style=bold];",
            ]
            if r.groups
            else []
        ),
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


_DOT_NODE: dict[NodeState, str] = {
    "ok": "",
    "nokey": ', color="#d97706", penwidth=2',
    "disabled": ', style="rounded,dashed,filled", fillcolor="#eeeeee", fontcolor="#777777"',
}


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _q(text: str) -> str:
    return f'"{_esc(text)}"'


def render(dot_text: str, fmt: Literal["svg", "png"]) -> bytes:
    """Run Graphviz on DOT text; :class:`GraphvizMissing` when it is not installed."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing(
            f"--format {fmt} needs Graphviz's `dot`, which is not on PATH: {GRAPHVIZ_HELP}"
        )
    done = subprocess.run(
        [dot, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        raise ResolverError(f"Graphviz failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout
