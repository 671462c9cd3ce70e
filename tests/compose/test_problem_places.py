"""Every composition problem points at the place to fix: the file (or override) that wrote the
bad value, the key, and a hint that fixes it rather than moving the error elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

import resolver


def problem_of(**kwargs) -> resolver.Problem:
    with pytest.raises(resolver.ConfigError) as e:
        resolver.load(**kwargs)
    (problem,) = e.value.errors
    return problem


def names(problem: resolver.Problem, root: Path, rel: str) -> bool:
    return problem.file is not None and Path(problem.file).resolve() == (root / rel).resolve()


def test_a_bad_value_from_a_model_patch_is_the_patch_files(config_tree) -> None:
    """A per-model patch in an env file that sets a bad price is reported against the env
    file, not the vendor file that declares the model."""
    root = config_tree(
        {
            "env/cheap.yaml": "# @package _global_\n"
            "models:\n  deepseek-v3.1:\n    pricing: {prompt: -1}\n"
        }
    )
    problem = problem_of(env="cheap", config_dirs=[root])
    assert problem.code == "bad-value"
    assert problem.key.endswith("deepseek-v3.1.pricing.prompt")
    assert names(problem, root, "env/cheap.yaml")


def test_a_null_is_its_writers(config_tree) -> None:
    """A value nulled by an env file is the env file's problem, not the file it replaced."""
    root = config_tree(
        {
            "env/shared.yaml": "# @package _global_\n"
            "policy:\n  health:\n    store: redis\n    url: null\n"
        }
    )
    problem = problem_of(env="shared", config_dirs=[root])
    assert problem.key == "policy.health.url"
    assert names(problem, root, "env/shared.yaml")


@pytest.mark.parametrize(
    ("defaults", "code"),
    [
        ("  - _self_\n  - _self_\n", "duplicate-self"),
        ("  - /providers@extra: nope\n  - _self_\n", "unknown-option"),
        ("  - override /providers: [together]\n  - /fallbacks@x: seed\n", "bad-defaults"),
    ],
    ids=["self-twice", "missing-option", "override-first"],
)
def test_defaults_list_mistakes_name_the_file(config_tree, defaults: str, code: str) -> None:
    """A mistake in an env file's defaults list has its own code and names that file."""
    root = config_tree({"env/listed.yaml": f"# @package _global_\ndefaults:\n{defaults}"})
    problem = problem_of(env="listed", config_dirs=[root])
    assert problem.code == code
    assert names(problem, root, "env/listed.yaml")


def test_an_interpolation_error_names_the_file_and_key(config_tree) -> None:
    """An interpolation to a key that does not exist names the file that wrote it."""
    root = config_tree(
        {"env/ref.yaml": "# @package _global_\npolicy:\n  retries: ${policy.nope}\n"}
    )
    problem = problem_of(env="ref", config_dirs=[root])
    assert problem.code == "bad-interpolation"
    assert problem.key == "policy.retries"
    assert names(problem, root, "env/ref.yaml")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("policy:\n  retries: 1\n", "has no `# @package _global_` line"),
        ("# canary env\n# @package _global_\npolicy:\n  retries: 1\n", "not at the top"),
    ],
    ids=["missing", "under-a-comment"],
)
def test_an_env_without_its_header_says_how_to_fix_it(config_tree, text: str, says: str) -> None:
    """An env file whose package header is missing, or hidden under a comment line, gets one
    problem saying so and how to fix it, not an unknown key 'env'."""
    root = config_tree({"env/canary.yaml": text})
    problem = problem_of(env="canary", config_dirs=[root])
    assert problem.code == "env-without-header"
    assert says in problem.message
    assert "first line" in problem.hint
    assert names(problem, root, "env/canary.yaml")


def test_a_yml_env_is_told_its_extension(config_tree) -> None:
    """`env/canary.yml` is reported as the wrong extension, not as an unknown env."""
    root = config_tree({"env/canary.yml": "# @package _global_\n"})
    problem = problem_of(env="canary", config_dirs=[root])
    assert problem.code == "wrong-extension"
    assert "canary.yml" in problem.message
    assert problem.hint == "rename it to env/canary.yaml"


def test_a_malformed_header_line_names_the_file(config_tree) -> None:
    """A `# @package` line without a package is reported against its file."""
    root = config_tree({"env/half.yaml": "# @package\npolicy:\n  retries: 1\n"})
    problem = problem_of(env="half", config_dirs=[root])
    assert problem.code == "bad-header"
    assert names(problem, root, "env/half.yaml")


@pytest.mark.parametrize(
    ("override", "hint"),
    [
        ("policy.max_dept=1", "did you mean 'policy.max_depth'?"),
        ("polcy.max_depth=1", "did you mean 'policy.max_depth'?"),
        (
            "fallbacks.deepseek-v3.1=[kimi-k2-instruct]",
            "write '++fallbacks={deepseek-v3.1: [kimi-k2-instruct]}'",
        ),
        (
            "models.deepseek-v3.1.enabled=false",
            "write '++models={deepseek-v3.1: {enabled: false}}'",
        ),
    ],
)
def test_an_override_of_a_missing_key_gets_the_key_meant(override: str, hint: str) -> None:
    """An override of a key that does not exist suggests the key meant, or the dict-literal
    form for a dotted id, and never adding the key with `+`."""
    problem = problem_of(overrides=[override])
    assert problem.code == "unknown-key"
    assert problem.file == f"override {override!r}"
    assert hint in problem.hint
    assert "+" + override not in f"{problem.message} {problem.hint}"


@pytest.mark.parametrize(
    ("variable", "value", "code"),
    [
        ("RESOLVER_ENV", "../elsewhere", "bad-env-name"),
        ("RESOLVER_ENV", "prdo", "unknown-env"),
        ("RESOLVER_CONFIG_DIRS", "no/such/dir", "missing-config-dir"),
    ],
)
def test_a_bad_value_from_a_variable_names_it(monkeypatch, variable, value, code) -> None:
    """An env or config dir the default resolver took from RESOLVER_ENV or
    RESOLVER_CONFIG_DIRS is reported as coming from that variable."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(resolver.ConfigError) as e:
        resolver.get_fallback_provider("deepseek-r1-0528-syn")
    (problem,) = e.value.errors
    assert problem.code == code
    assert f"({variable} holds it)" in problem.message
