"""An env is chosen by name, whatever the name looks like to YAML: `--env 2024`, `--env true`
and `--env null` name env files, and `env=2024` on the command line is refused naming the
override, with the quoting that chooses the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import resolver
from resolver import ConfigError


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(["2024", "1.5", "true", "no", "null", "on", "1e3", "0x1F", "inf"]))
def test_an_env_named_like_a_yaml_scalar_loads_by_name(tmp_path_factory, name):
    """env/NAME.yaml is composed for --env NAME, whatever YAML would read NAME as."""
    tree = tmp_path_factory.mktemp("tree")
    (tree / "env").mkdir()
    (tree / "env" / f"{name}.yaml").write_text("# @package _global_\npolicy:\n  max_depth: 2\n")
    r = resolver.load(name, config_dirs=[tree], environ={})
    assert r.env == name
    assert r.policy.max_depth == 2


@pytest.mark.parametrize(("line", "kind"), [("env=2024", "a number"), ("env=true", "a boolean")])
def test_an_unquoted_env_override_is_named_with_the_fix(tmp_path: Path, line, kind):
    """The override is named as the file of the problem, and the hint quotes the name."""
    with pytest.raises(ConfigError) as caught:
        resolver.load(overrides=[line], environ={})
    [problem] = caught.value.errors
    assert problem.file == f"override {line!r}"
    assert kind in problem.message
    value = line.partition("=")[2]
    assert problem.hint is not None
    assert f"env='{value}'" in problem.hint
