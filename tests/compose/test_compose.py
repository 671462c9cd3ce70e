"""Composition merges files as plain data: the result must be exactly what Hydra's own
composition (OmegaConf nodes, ``hydra.compose``) gives for the same files and overrides."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import resolver
from resolver.compose import compose as compose_plain
from resolver.compose import shipped_config_dir

CASES = [
    ("prod", []),
    ("staging", []),
    ("dev", []),  # interpolations: ${oc.env:...}
    ("prod", ["policy.max_depth=1", "++models={glm-4.6-syn: {enabled: true}}"]),
    ("staging", ["++fallbacks={glm-4.6-syn: [deepseek-v3.1]}", "~edge_policy"]),
    ("prod", ["+extra.x=1", "policy.cost.max_ratio=3", "++providers.together.timeout_s=5"]),
    ("prod", ["policy.max_depth=${policy.max_attempts}"]),  # an override's interpolation
]


@pytest.mark.parametrize(("env", "overrides"), CASES)
def test_composition_equals_hydra_compose(env, overrides) -> None:
    """Every env and override case composes to the same data as Hydra's public compose."""
    with initialize_config_dir(config_dir=str(shipped_config_dir()), version_base=None):
        cfg = compose(config_name="config", overrides=[f"env={env}", *overrides])
    expected = OmegaConf.to_container(cfg, resolve=True)
    ours = compose_plain(env=env, overrides=overrides, config_dirs=(), config_path=None)
    assert ours.data == expected


def test_overlay_changes_do_not_leak_into_the_files_they_patch() -> None:
    """An env overlay's edge is attributed to the overlay, the shipped ones stay with seed.yaml,
    and composing the overlay does not change what the next composition reads."""
    staging = resolver.load(env="staging")
    assert staging.origins["kimi-k2.5-syn"].endswith("env/staging.yaml")
    assert staging.origins["deepseek-r1-0528-syn"].endswith("fallbacks/seed.yaml")
    assert "kimi-k2.5-syn" not in resolver.load(env="prod").fallbacks


def test_duplicate_key_is_malformed_yaml(config_tree) -> None:
    """A key given twice in one file is refused, as OmegaConf's YAML loader refuses it."""
    root = config_tree(
        {
            "env/twice.yaml": """
                # @package _global_
                fallbacks:
                  deepseek-r1-0528-syn: [deepseek-r1]
                  deepseek-r1-0528-syn: [kimi-k2-instruct]
            """
        }
    )
    with pytest.raises(resolver.ConfigError) as e:
        resolver.load(env="twice", config_dirs=[root])
    (problem,) = e.value.problems
    assert problem.code == "malformed-yaml"
    assert "duplicate key" in problem.message
    assert problem.file.endswith("env/twice.yaml")


def test_mapping_over_a_list_is_a_compose_error(config_tree) -> None:
    """A file giving a mapping where an earlier file has a list fails, naming the file."""
    root = config_tree(
        {"env/shape.yaml": "# @package _global_\nfallbacks:\n  deepseek-r1-0528-syn: {a: 1}\n"}
    )
    with pytest.raises(resolver.ConfigError) as e:
        resolver.load(env="shape", config_dirs=[root])
    (problem,) = e.value.problems
    assert problem.code == "compose-failed"
    assert problem.file.endswith("env/shape.yaml")


def test_missing_value_does_not_replace_a_set_one(config_tree) -> None:
    """An overlay's ``???`` leaves the value below it in place, as OmegaConf merges it."""
    root = config_tree({"env/hole.yaml": "# @package _global_\npolicy:\n  max_depth: '???'\n"})
    assert resolver.load(env="hole", config_dirs=[root]).policy.max_depth == 2


def test_deployment_tree_equals_hydra_compose(config_tree) -> None:
    """A deployment env with its own defaults list, nulls, a new model under a shipped vendor
    and a `???` value composes to the same data as Hydra's compose with that search path."""
    root = config_tree(
        {
            "env/canary.yaml": """
                # @package _global_
                defaults:
                  - /fallbacks@extra_edges: seed
                providers:
                  together:
                    timeout_s: 30
                    models:
                      canary-model: {model: org/canary, tier: budget,
                                     pricing: {prompt: 1.0, completion: 2.0}}
                policy:
                  deadline_s: null
                  max_depth: ???
                fallbacks:
                  kimi-k2-thinking-syn: null
            """
        }
    )
    searchpath = f"hydra.searchpath=[file://{root}]"
    with initialize_config_dir(config_dir=str(shipped_config_dir()), version_base=None):
        cfg = compose(config_name="config", overrides=["env=canary", searchpath])
    expected = OmegaConf.to_container(cfg, resolve=True)
    ours = compose_plain(env="canary", overrides=[], config_dirs=[root], config_path=None)
    assert ours.data == expected
    assert ours.data["extra_edges"]["fallbacks"]["deepseek-r1-0528-syn"] == ["deepseek-r1"]
    assert ours.data["fallbacks"]["kimi-k2-thinking-syn"] is None
