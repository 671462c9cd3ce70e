"""Bad input gets a clear error with its code and location, and nothing half-loaded."""

from __future__ import annotations

import pytest

import resolver
from resolver import ConfigError, Problem


def problems_of(**kwargs) -> tuple[Problem, ...]:
    with pytest.raises(ConfigError) as info:
        resolver.load(**kwargs)
    return info.value.problems


def only(problems: tuple[Problem, ...], code: str) -> Problem:
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, [str(p) for p in problems]
    return found[0]


EXTRA_VENDOR = """
    extra:
      base_url: http://127.0.0.1:1/v1
      api_key_env: EXTRA_API_KEY
      models:
        {models}
"""


def vendor_file(models: str) -> str:
    return EXTRA_VENDOR.format(models=models.strip().replace("\n", "\n        "))


def with_extra(config_tree, models: str) -> dict:
    root = config_tree({"providers/extra.yaml": vendor_file(models)})
    return {"config_dirs": [root], "overrides": ["providers=[synthetic,together,extra]"]}


def test_unknown_target_names_the_file_key_and_a_close_id(config_tree) -> None:
    """An unknown backup id is an error at its file and list position, with a did-you-mean."""
    root = config_tree(
        {
            "env/broken.yaml": """
                # @package _global_
                fallbacks:
                  deepseek-r1-0528-syn: [deepseek-r2]
            """
        }
    )
    p = only(problems_of(env="broken", config_dirs=[root]), "unknown-target")
    assert p.severity == "error"
    assert p.key == "fallbacks.deepseek-r1-0528-syn[0]"
    assert p.file is not None
    assert p.file.endswith("env/broken.yaml")
    assert p.hint == "did you mean 'deepseek-r1'?"
    assert "'deepseek-r2'" in p.message


def test_unknown_source_is_reported() -> None:
    """Backups declared for a model no vendor has are an error naming the override."""
    p = only(problems_of(overrides=["++fallbacks={deepseek-r9: [deepseek-r1]}"]), "unknown-source")
    assert p.key == "fallbacks.deepseek-r9"
    assert p.file == "override '++fallbacks={deepseek-r9: [deepseek-r1]}'"


def test_self_loop() -> None:
    """A model listed as its own backup is a self-loop error."""
    p = only(problems_of(overrides=["++fallbacks={deepseek-r1: [deepseek-r1]}"]), "self-loop")
    assert p.key == "fallbacks.deepseek-r1[0]"


def test_two_model_cycle_is_printed() -> None:
    """A two-model cycle is one error that shows the cycle."""
    p = only(problems_of(overrides=["++fallbacks={deepseek-r1: [deepseek-r1-0528-syn]}"]), "cycle")
    assert "deepseek-r1-0528-syn -> deepseek-r1 -> deepseek-r1-0528-syn" in p.message
    assert p.key in {"fallbacks.deepseek-r1", "fallbacks.deepseek-r1-0528-syn"}


def test_three_model_cycle_is_printed() -> None:
    """A three-model cycle is reported once, with every model on it."""
    edges = "++fallbacks={deepseek-r1: [deepseek-v3.1], deepseek-v3.1: [deepseek-r1-0528-syn]}"
    p = only(problems_of(overrides=[edges]), "cycle")
    assert (
        "deepseek-r1-0528-syn -> deepseek-r1 -> deepseek-v3.1 -> deepseek-r1-0528-syn" in p.message
    )


def test_same_id_under_two_vendors(config_tree) -> None:
    """One model id under two vendors is an error naming both vendors and files."""
    models = "deepseek-r1: {model: x/y, tier: premium, pricing: {prompt: 1, completion: 1}}"
    p = only(problems_of(**with_extra(config_tree, models)), "duplicate-id")
    assert p.key == "providers.extra.models.deepseek-r1"
    assert p.file.endswith("providers/extra.yaml")
    assert "'together' and 'extra'" in p.message
    assert "providers/together.yaml" in p.hint


def test_price_given_as_text(config_tree) -> None:
    """A quoted price is a wrong-type error at the price's key."""
    models = 'new-model: {model: x/y, tier: budget, pricing: {prompt: "3.00", completion: 1}}'
    p = only(problems_of(**with_extra(config_tree, models)), "wrong-type")
    assert p.key == "providers.extra.models.new-model.pricing.prompt"
    assert p.file.endswith("providers/extra.yaml")
    assert "text '3.00'" in p.message
    assert "without quotes" in p.hint


def test_missing_model_string(config_tree) -> None:
    """A model without its model string is a missing-field error."""
    models = "new-model: {tier: budget, pricing: {prompt: 1, completion: 1}}"
    p = only(problems_of(**with_extra(config_tree, models)), "missing-field")
    assert p.key == "providers.extra.models.new-model.model"
    assert p.file.endswith("providers/extra.yaml")


def test_misspelt_field_in_a_provider_file(config_tree) -> None:
    """A misspelt field is an unknown-key error suggesting the right name."""
    models = (
        "new-model: {model: x/y, tier: budget, pricing: {prompt: 1, completion: 1}, reasonig: true}"
    )
    p = only(problems_of(**with_extra(config_tree, models)), "unknown-key")
    assert p.key == "providers.extra.models.new-model.reasonig"
    assert p.hint == "did you mean 'reasoning'?"


def test_unknown_key_added_with_plus() -> None:
    """A key that slips past Hydra with + is still rejected, located at the override."""
    p = only(problems_of(overrides=["+policy.max_dept=3"]), "unknown-key")
    assert p.key == "policy.max_dept"
    assert p.file == "override '+policy.max_dept=3'"
    assert p.hint == "did you mean 'max_depth'?"


def test_unknown_key_without_plus_suggests_the_closest_key() -> None:
    """Overriding a key that does not exist suggests the closest key, never adding it."""
    p = only(problems_of(overrides=["policy.max_dept=3"]), "unknown-key")
    assert p.file == "override 'policy.max_dept=3'"
    assert p.hint == "did you mean 'policy.max_depth'?"
    assert "+" not in p.message


def test_unknown_env() -> None:
    """An unknown env lists the known ones and suggests the closest."""
    p = only(problems_of(env="prdo"), "unknown-env")
    assert "dev, prod, staging" in p.message
    assert "did you mean 'prod'?" in p.hint


def test_malformed_yaml_names_file_and_line(config_tree) -> None:
    """Malformed YAML is reported with the file and line, for every malformed file composed
    at once."""
    root = config_tree(
        {
            "env/bad.yaml": "# @package _global_\nfallbacks:\n  deepseek-r1: [a, b\n",
            "providers/also_bad.yaml": "x: {y: 1\n",
        }
    )
    composed = ["providers=[synthetic,together,also_bad]"]
    found = problems_of(env="bad", overrides=composed, config_dirs=[root])
    assert {p.code for p in found} == {"malformed-yaml"}
    files = sorted(p.file.rsplit("/deploy/", 1)[1] for p in found)
    assert files == ["env/bad.yaml", "providers/also_bad.yaml"]
    assert any("line " in p.message for p in found)


@pytest.mark.parametrize("override", ["fallbacks.kimi-k2.5-syn=[kimi-k2-instruct]", "policy.x=["])
def test_malformed_override(override: str) -> None:
    """A malformed override is named in the error, with a hint on the dict-literal form."""
    p = only(problems_of(overrides=[override]), "malformed-override")
    assert p.file == f"override {override!r}"
    assert "++fallbacks={kimi-k2.5-syn: [kimi-k2-instruct]}" in p.hint


@pytest.mark.parametrize("override", ["=3", "hydra.searchpath=[/x]", "policy.max_depth=1,2"])
def test_overrides_the_resolver_cannot_use(override: str) -> None:
    """Overrides with no key, for Hydra's own settings, or sweeps are refused by name."""
    p = only(problems_of(overrides=[override]), "malformed-override")
    assert p.file == f"override {override!r}"
    assert p.hint


def test_every_malformed_override_in_one_pass() -> None:
    """Several malformed overrides and a missing dir are all reported together."""
    found = problems_of(
        overrides=["a=[", "b=]"], config_dirs=["/nonexistent/one", "/nonexistent/two"]
    )
    assert [p.code for p in found].count("malformed-override") == 2
    assert [p.code for p in found].count("missing-config-dir") == 2


def test_missing_config_dir() -> None:
    """A config dir that does not exist is an error naming it."""
    p = only(problems_of(config_dirs=["/nonexistent/deploy"]), "missing-config-dir")
    assert "/nonexistent/deploy" in p.message
    assert p.key == "config_dirs[0]"


def test_config_path_without_primary_config(tmp_path) -> None:
    """Replacing the tree with one that has no config.yaml says what is missing."""
    p = only(problems_of(config_path=tmp_path), "missing-primary-config")
    assert "config.yaml" in p.message


def test_edge_into_disabled_model_is_a_warning() -> None:
    """An edge into a disabled model warns but loads, and strict turns it into an error."""
    override = "++fallbacks={deepseek-v3-0324-syn: [deepseek-v3.2-syn]}"
    r = resolver.load(overrides=[override])
    p = only(r.warnings, "edge-into-disabled")
    assert p.severity == "warning"
    assert p.key == "fallbacks.deepseek-v3-0324-syn[0]"
    assert "parse failure" in p.message
    strict = problems_of(overrides=[override], strict=True)
    assert only(strict, "edge-into-disabled").severity == "error"


def test_shipped_warnings_are_the_known_ones() -> None:
    """The shipped prod config's known downgrade and inert edges are accepted with a reason,
    so it warns only of the key variables the environment lacks."""
    r = resolver.load(environ={"TOGETHER_API_KEY": "t"})
    assert r.warnings == ()
    accepted = {
        (source, a.warning, a.backup)
        for source, policy in r.edge_policy.items()
        for a in policy.accept
        if a.reason
    }
    assert accepted == {
        ("kimi-k2-thinking-syn", "downgrade", "kimi-k2-instruct"),
        ("qwen3-235b-thinking-syn", "inert-edge", None),
    }
    unset = resolver.load(environ={})
    assert [p.code for p in unset.warnings] == ["key-unset", "key-unset"]


def test_cost_over_cap_warns() -> None:
    """A backup costing more than the cap times its source is a cost warning."""
    r = resolver.load(overrides=["++fallbacks={gemma-3n-e4b: [deepseek-r1]}"])
    p = only(r.warnings, "cost-over-cap")
    assert "over the cap of 2x" in p.message


def test_all_problems_in_one_pass(config_tree) -> None:
    """Errors across files and overrides are all reported by a single load."""
    root = config_tree(
        {
            "env/many.yaml": """
                # @package _global_
                fallbacks:
                  deepseek-r1-0528-syn: [deepseek-r2, deepseek-r1-0528-syn]
                  no-such-model: [deepseek-r1]
                models:
                  glm-4.6-syn: {enabled: maybe}
                policy:
                  max_depth: 0
                  fallback_on: [rate_limit, explosion]
            """
        }
    )
    found = problems_of(env="many", config_dirs=[root])
    codes = sorted(p.code for p in found if p.severity == "error")
    assert codes == sorted(
        ["unknown-target", "self-loop", "unknown-source", "wrong-type", "bad-value", "bad-value"]
    )
    assert all(p.file.endswith("env/many.yaml") for p in found if p.severity == "error")


def test_error_message_is_readable() -> None:
    """str(ConfigError) is a readable list of problems, errors before warnings."""
    with pytest.raises(ConfigError) as info:
        resolver.load(overrides=["++fallbacks={deepseek-r1: [deepseek-r1]}"])
    text = str(info.value)
    first, second = text.splitlines()[:2]
    assert first.startswith("invalid fallback configuration (env 'prod'): 1 error")
    assert second.strip().startswith("error [self-loop] override")


def test_a_rejected_override_does_not_hide_other_problems() -> None:
    """An override Hydra rejects is reported together with the rest of the config's errors."""
    found = problems_of(
        overrides=["policy.max_dept=3", "++fallbacks={glm-4.6-syn: [deepseek-r2]}", "~fallbacks.x"]
    )
    by_code = sorted((p.code, p.key) for p in found if p.severity == "error")
    assert by_code == [
        ("bad-override", "fallbacks.x"),
        ("unknown-key", "policy.max_dept"),
        ("unknown-target", "fallbacks.glm-4.6-syn[0]"),
    ]
    assert only(found, "unknown-target").hint == "did you mean 'deepseek-r1'?"
