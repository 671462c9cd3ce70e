"""A model whose price is missing is reported once, as missing: it is not taken as free, so no
backup of it or to it is also reported over the cost cap."""

from __future__ import annotations

from pathlib import Path

import pytest

import resolver
from resolver import ConfigError


@pytest.mark.parametrize("model", ["think", "plain"])
def test_a_missing_price_is_one_problem_not_a_cost_warning(own_tree: Path, model: str) -> None:
    """Without `pricing`, the model's problem is the missing price alone, whether it is the
    source of an edge (think -> plain) or its target."""
    vendor = own_tree / "providers" / "keyed.yaml"
    text = vendor.read_text(encoding="utf-8")
    prices = {
        "think": ", pricing: {prompt: 2, completion: 6}",
        "plain": ", pricing: {prompt: 1, completion: 2}",
    }
    assert prices[model] in text
    vendor.write_text(text.replace(prices[model], ""), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        resolver.load(config_path=own_tree)
    problems = info.value.problems
    assert [p.key for p in problems if p.severity == "error"] == [
        f"providers.keyed.models.{model}.pricing"
    ]
    assert not [p for p in problems if p.code == "cost-over-cap"]
