"""Values that used to load silently wrong are located errors: an empty --config-dir (the
working directory), an empty vendor model name, and ids or names holding control or invisible
characters (an escape sequence, a bidirectional override), which a terminal would obey."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import resolver
from resolver import ConfigError
from resolver.cli import main


@pytest.mark.parametrize("argv", [["--config-dir", ""], ["--config-dir", "  "]])
def test_an_empty_config_dir_is_refused_not_taken_as_the_working_directory(
    argv, tmp_path, monkeypatch, capsys
):
    """With a stray env/prod.yaml in the working directory, an empty --config-dir is exit 2
    naming it, and the stray file is never read."""
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "prod.yaml").write_text("# @package _global_\nstray: [\n")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", *argv]) == 2
    out = "".join(capsys.readouterr())
    assert "bad-config-dir" in out
    assert "config_dirs[0] is empty" in out
    assert "Traceback" not in out


def test_an_empty_config_path_is_refused():
    """load(config_path='') is the same error, named config_path."""
    with pytest.raises(ConfigError) as caught:
        resolver.load(config_path="")
    assert [(p.code, p.key) for p in caught.value.errors] == [("bad-config-dir", "config_path")]


def test_an_empty_vendor_model_name_is_refused():
    """models: {id: {model: ''}} is a bad-value on that key, not a model called nothing."""
    with pytest.raises(ConfigError) as caught:
        resolver.load(overrides=["++models={deepseek-r1: {model: ''}}"])
    [problem] = caught.value.errors
    assert problem.key == "models.deepseek-r1.model"
    assert "is empty" in problem.message


HIDDEN = st.sampled_from(["\x1b[31m", "\u202e", "\u2066", "\u200b", "\x07", "\x00", "\x7f"])


@settings(max_examples=40, deadline=None)
@given(
    before=st.text("abcxyz-.", min_size=1, max_size=8),
    hidden=HIDDEN,
    after=st.text("abcxyz-.", max_size=8),
)
def test_a_model_id_with_a_hidden_character_is_refused_and_shown_escaped(
    tmp_path_factory, before, hidden, after
):
    """An id holding an escape sequence, a bidirectional mark, a zero-width space or another
    control character is a bad-model-id naming the code point, and the message holds the
    character only escaped."""
    tree = tmp_path_factory.mktemp("tree")
    (tree / "env").mkdir()
    model_id = before + hidden + after
    (tree / "env" / "prod.yaml").write_text(
        "# @package _global_\nproviders:\n  synthetic:\n    models:\n"
        f'      "{model_id.encode("unicode_escape").decode()}":'
        " {model: m, tier: budget, pricing: {prompt: 1, completion: 1}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        resolver.load(config_dirs=[tree], environ={})
    text = str(caught.value)
    assert any(p.code == "bad-model-id" for p in caught.value.errors)
    assert f"U+{ord(hidden[0]):04X}" in text
    assert hidden[0] not in text


def test_a_vendor_model_name_with_an_escape_sequence_is_refused(tmp_path: Path):
    """The vendor's model name is held to the same rule as ids, and shown escaped."""
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "prod.yaml").write_text(
        '# @package _global_\nmodels:\n  deepseek-r1: {model: "m\\e[2J"}\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        resolver.load(config_dirs=[tmp_path], environ={})
    [problem] = caught.value.errors
    assert problem.key == "models.deepseek-r1.model"
    assert "U+001B" in problem.message
    assert "\x1b" not in str(caught.value)
