"""What a new user trips over gets a straight answer: overrides anywhere on the command line,
`--env` as a comma list, the prometheus extra named, zero stats before the first call, and a
mistyped id in a lookup logged (or raised, with strict=True)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

import resolver
from resolver import ModelUnavailable
from resolver.cli import main
from resolver.stats import ModelStats

KEYS = {"TOGETHER_API_KEY": "t"}


def test_overrides_may_come_before_the_model(capsys, monkeypatch) -> None:
    """`lookup policy.max_depth=1 MODEL` and `diff OVERRIDE A B` take the words as MODEL/envs."""
    monkeypatch.setenv("TOGETHER_API_KEY", "t")
    assert main(["lookup", "policy.max_depth=1", "deepseek-r1-0528-syn"]) == 0
    assert capsys.readouterr().out == "deepseek-r1\n"
    assert main(["lookup", "deepseek-r1-0528-syn", "policy.max_depth=1"]) == 0
    assert capsys.readouterr().out == "deepseek-r1\n"
    assert main(["diff", "policy.max_depth=1", "prod", "staging"]) == 0
    assert "edge kimi-k2.5-syn -> kimi-k2-instruct" in capsys.readouterr().out


def test_env_given_space_separated_says_it_takes_a_comma_list(capsys) -> None:
    """`--env dev staging prod` exits 2 and shows the comma-list form."""
    assert main(["validate", "--env", "dev", "staging", "prod"]) == 2
    err = capsys.readouterr().err
    assert "--env dev,staging,prod" in err
    assert "comma" in err


def test_a_stray_word_is_not_taken_for_an_override(capsys) -> None:
    """A bare word where an override goes is a usage error, not a Hydra parse error."""
    assert main(["table", "prod"]) == 2
    assert "'prod'" in capsys.readouterr().err


def test_prometheus_without_its_extra_names_the_extra() -> None:
    """Importing resolver.prometheus without prometheus_client says which extra to install."""
    code = "import sys; sys.modules['prometheus_client'] = None; import resolver.prometheus"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    assert "pip install 'fallback-resolver[prometheus]'" in run.stderr.splitlines()[-1]


def test_stats_of_a_model_not_called_yet_are_zero() -> None:
    """stats()[model] of a declared model before any call is zero calls, not a KeyError; an
    undeclared id is still a KeyError."""
    r = resolver.load()
    assert r.stats()["deepseek-r1"] == ModelStats("deepseek-r1")
    assert r.stats()["deepseek-r1"].calls == 0
    assert "deepseek-r1" not in r.stats()
    with pytest.raises(KeyError, match="not a declared model"):
        r.stats()["deepseek-r2"]


def test_mistyped_id_logs_a_did_you_mean_once(caplog) -> None:
    """A lookup of an unknown id returns None and logs the closest id once per id."""
    r = resolver.load()
    with caplog.at_level(logging.WARNING, logger="resolver"):
        for _ in range(3):
            assert r.get_fallback_provider("deepseek-r1-0528", environ=KEYS) is None
        assert r.get_fallback_provider("minimax-m2-syn", environ=KEYS) is None  # known: silent
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "did you mean 'deepseek-r1-0528-syn'?" in record.getMessage()


def test_strict_lookup_raises_for_unknown_and_disabled_ids() -> None:
    """strict=True raises ModelUnavailable for an unknown or disabled id, and still returns
    None for a known model without a usable backup."""
    r = resolver.load()
    with pytest.raises(ModelUnavailable, match="did you mean 'deepseek-r1-0528-syn'"):
        r.get_fallback_provider("deepseek-r1-0528", strict=True)
    with pytest.raises(ModelUnavailable, match="disabled"):
        r.get_fallback_provider("kimi-k2.5-syn", strict=True)
    assert r.get_fallback_provider("minimax-m2-syn", strict=True) is None
    found = resolver.get_fallback_provider("deepseek-r1-0528-syn", strict=True, environ=KEYS)
    assert found is not None
    assert found.id == "deepseek-r1"


def test_a_bad_value_from_the_environment_names_the_variable(capsys, monkeypatch, tmp_path):
    """An unknown env from RESOLVER_ENV, or a missing dir from RESOLVER_CONFIG_DIRS, is
    reported with the variable's name."""
    monkeypatch.setenv("RESOLVER_ENV", "prdo")
    assert main(["table"]) == 2
    assert "env (from RESOLVER_ENV): there is no env 'prdo'" in capsys.readouterr().err
    monkeypatch.delenv("RESOLVER_ENV")
    monkeypatch.setenv("RESOLVER_CONFIG_DIRS", str(tmp_path / "missing"))
    assert main(["validate", "--json"]) == 2
    (problem,) = json.loads(capsys.readouterr().out)["envs"][0]["problems"]
    assert problem["key"] == "config_dirs[0] (from RESOLVER_CONFIG_DIRS)"


def test_a_single_config_dir_may_be_given_as_a_path(config_tree) -> None:
    """load(config_dirs="deploy/conf") takes the string as one dir, not its characters."""
    root = config_tree({"env/one.yaml": "# @package _global_\npolicy: {max_depth: 1}\n"})
    for given in (str(root), root):
        assert resolver.load(env="one", config_dirs=given).policy.max_depth == 1
