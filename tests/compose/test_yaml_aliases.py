"""YAML aliases cannot make a config file cost more than it holds: nested aliases (the "billion
laughs") are refused in well under a second, naming the file, on every surface that reads YAML
(a composed config file, the LiteLLM import); an alias inside its own block is refused too; and
a file that shares a few blocks by alias loads as it always did."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import resolver
from resolver import ConfigError
from resolver.cli import main
from resolver.configfile import ALIAS_EXPANSION_LIMIT, alias_problem


def laughs(levels: int, fan: int) -> str:
    """``levels`` of lists, each holding ``fan`` aliases of the one before: fan**levels nodes."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]")
    return "\n".join(lines) + "\n"


def test_nested_aliases_in_a_vendor_file_are_refused_quickly_naming_the_file(own_tree: Path):
    """9 levels of 9 aliases in a vendor file (387 million nodes expanded): one located
    problem, yaml-too-large, in well under a second."""
    vendor = own_tree / "providers" / "open.yaml"
    vendor.write_text(vendor.read_text(encoding="utf-8") + laughs(9, 9), encoding="utf-8")
    began = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        resolver.load(config_path=own_tree)
    assert time.monotonic() - began < 5
    [problem] = [p for p in caught.value.problems if p.code == "yaml-too-large"]
    assert problem.file is not None
    assert problem.file.endswith("providers/open.yaml")
    assert "aliases" in problem.message


def test_an_alias_inside_its_own_block_is_refused(own_tree: Path, capsys):
    """``a: &a [*a]`` would never end: validate exits 2 naming the file and the cycle."""
    env = own_tree / "env" / "prod.yaml"
    env.write_text(env.read_text(encoding="utf-8") + "loop: &loop [1, *loop]\n", "utf-8")
    assert main(["validate", "--config-path", str(own_tree)]) == 2
    err = "".join(capsys.readouterr())
    assert "yaml-alias-cycle" in err
    assert "env/prod.yaml" in err
    assert "Traceback" not in err


def test_blocks_shared_by_alias_still_load(own_tree: Path):
    """Forty models sharing one pricing block by alias load, each with the shared prices."""
    models = "\n".join(
        f"    shared-{i}: {{model: s{i}, tier: budget, pricing: *price}}" for i in range(1, 40)
    )
    first = "    shared-0: {model: s0, tier: budget, pricing: &price {prompt: 1, completion: 2}}\n"
    vendor = own_tree / "providers" / "open.yaml"
    text = vendor.read_text(encoding="utf-8")
    vendor.write_text(text + first + models + "\n", "utf-8")
    loaded = resolver.load(config_path=own_tree)
    assert loaded.providers["shared-39"].pricing.completion == 2


def test_the_litellm_import_refuses_nested_aliases(tmp_path: Path, capsys):
    """A LiteLLM config with nested aliases is refused by `import` quickly, with exit 2 and
    the code, and nothing is written."""
    source = tmp_path / "litellm.yaml"
    source.write_text(
        "model_list:\n  - model_name: a\n    litellm_params: {model: openai/gpt-4o}\n"
        + laughs(9, 9),
        encoding="utf-8",
    )
    began = time.monotonic()
    code = main(["import", "--from", "litellm", str(source), "-o", str(tmp_path / "out")])
    assert time.monotonic() - began < 5
    assert code == 2
    assert "yaml-too-large" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def expanded(node: Any) -> int:
    """The oracle: nodes after expanding every alias, counted the slow way."""
    if isinstance(node, dict):
        return 1 + sum(expanded(v) for v in node.values())
    if isinstance(node, list):
        return 1 + sum(expanded(v) for v in node)
    return 1


def held(text: str) -> int:
    """Nodes the file holds: the distinct nodes of PyYAML's node graph, keys aside."""
    seen: set[int] = set()

    def walk(node: yaml.Node) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for _, value in node.value:
                walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for value in node.value:
                walk(value)

    walk(yaml.compose(text))
    return len(seen)


@settings(max_examples=200, deadline=None)
@given(levels=st.integers(1, 5), fan=st.integers(1, 10))
def test_the_expansion_rule_agrees_with_counting_the_slow_way(levels: int, fan: int):
    """For nested aliases of any shape, the file is refused exactly when expanding it adds
    more than the limit of nodes to the ones it holds (the slow count is the oracle)."""
    text = laughs(levels, fan)
    data = yaml.safe_load(text)
    added = expanded(data) - held(text)
    found = alias_problem(data)
    if added > ALIAS_EXPANSION_LIMIT:
        assert found is not None
        assert found[0] == "yaml-too-large"
        assert f"{added:,}" in found[1]
    else:
        assert found is None
