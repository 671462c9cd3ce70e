"""A config dir or a config file that is not what it seems is named as such, never taken for
"there is no env" or for a deployment that changes nothing: a directory (or a link to nothing,
or a link loop) in place of a file, and a --config-dir that holds no config tree (one level too
high names the level below)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import resolver
from resolver import ConfigError
from resolver.cli import main


def _env_dir(tmp_path: Path) -> Path:
    env = tmp_path / "deploy" / "env"
    env.mkdir(parents=True)
    return env


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: os.symlink(p.name, p), "symbolic link to 'case.yaml'"),  # itself: a loop
        (lambda p: os.symlink("nowhere.yaml", p), "symbolic link to 'nowhere.yaml'"),
    ],
    ids=["directory", "link-loop", "dangling-link"],
)
def test_an_env_file_that_cannot_be_read_says_why(tmp_path: Path, make, said: str, capsys):
    """env/case.yaml there but no file: exit 2, unreadable-config naming the file and what it
    is, and no "there is no env" and no traceback."""
    env = _env_dir(tmp_path)
    (env / "other.yaml").write_text("# @package _global_\n", encoding="utf-8")
    make(env / "case.yaml")
    code = main(["validate", "--env", "case", "--config-dir", str(tmp_path / "deploy")])
    out = "".join(capsys.readouterr())
    assert code == 2
    assert "unreadable-config" in out
    assert "env/case.yaml" in out
    assert said in out
    assert "there is no env" not in out
    assert "Traceback" not in out


def test_a_config_dir_one_level_too_high_names_the_one_below(tmp_path: Path):
    """--config-dir pointing at the folder that holds the deployment's tree: bad-config-dir,
    and the hint names the tree's own folder, instead of the shipped config loading."""
    env = _env_dir(tmp_path)
    (env / "prod.yaml").write_text("# @package _global_\npolicy: {max_depth: 1}\n", "utf-8")
    with pytest.raises(ConfigError) as caught:
        resolver.load("prod", config_dirs=[tmp_path], environ={})
    [problem] = caught.value.problems
    assert problem.code == "bad-config-dir"
    assert str(tmp_path) in problem.message
    assert problem.hint is not None
    assert str(tmp_path / "deploy") in problem.hint


def test_an_empty_config_dir_is_refused_naming_the_groups(tmp_path: Path):
    """An empty deployment dir would change nothing: refused, the hint listing the folders a
    config dir holds."""
    with pytest.raises(ConfigError) as caught:
        resolver.load(config_dirs=[tmp_path], environ={})
    [problem] = caught.value.problems
    assert problem.code == "bad-config-dir"
    assert problem.hint is not None
    assert "env/" in problem.hint
    assert "providers/" in problem.hint


def test_a_config_dir_with_only_a_primary_config_is_a_tree(tmp_path: Path):
    """A dir holding only config.yaml (which shadows the shipped one) is read."""
    shipped = resolver.compose.shipped_config_dir() / "config.yaml"
    (tmp_path / "config.yaml").write_text(shipped.read_text(encoding="utf-8"), "utf-8")
    assert resolver.load(config_dirs=[tmp_path], environ={}).env == "prod"


def test_an_env_file_that_is_a_named_pipe_is_refused_without_waiting(tmp_path: Path, capsys):
    """env/pipe.yaml a FIFO: exit 2 at once, unreadable-config saying what it is."""
    env = _env_dir(tmp_path)
    os.mkfifo(env / "pipe.yaml")
    code = main(["validate", "--env", "pipe", "--config-dir", str(tmp_path / "deploy")])
    out = "".join(capsys.readouterr())
    assert code == 2
    assert "not a regular file" in out
