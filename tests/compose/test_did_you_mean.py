"""Did-you-mean hints see what a reader sees: letter case, fullwidth forms and look-alike
characters (Cyrillic letters, typographic dashes) are no difference, on every surface that
suggests a name (a model id, an env, an override's key)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import resolver
from resolver.cli import main
from resolver.errors import closest

SHIPPED = resolver.load(environ={})
IDS = sorted(SHIPPED.nodes)


@pytest.mark.parametrize(
    "typed",
    [
        "GPT-OSS-20B",
        "Gpt-Oss-20b",
        "gpt\u2010oss\u201020b",  # typographic hyphens
        "g\u0440t-oss-20b",  # a Cyrillic er
        "\uff47\uff50\uff54-oss-20b",  # fullwidth letters
    ],
)
def test_a_model_id_in_another_case_or_with_look_alikes_is_suggested(typed: str, capsys):
    """`explain` of the id in capitals, with a typographic dash, a Cyrillic er or fullwidth
    letters: exit 2, and the hint names gpt-oss-20b."""
    assert main(["explain", typed]) == 2
    assert "did you mean 'gpt-oss-20b'?" in capsys.readouterr().err


def test_an_env_in_capitals_is_suggested(capsys):
    """`--env PROD`: the known env 'prod' is suggested."""
    assert main(["validate", "--env", "PROD"]) == 2
    assert "did you mean 'prod'?" in "".join(capsys.readouterr())


def test_an_override_key_in_capitals_is_suggested_as_the_whole_path(capsys):
    """`POLICY.max_attempts=2`: the hint is the whole corrected path."""
    assert main(["validate", "--env", "prod", "POLICY.max_attempts=2"]) == 2
    assert "did you mean 'policy.max_attempts'?" in "".join(capsys.readouterr())


def test_a_name_close_to_nothing_gets_no_suggestion():
    """A name unlike every option suggests nothing, and an exact name suggests nothing."""
    assert closest("zzzz", IDS) is None
    assert closest(IDS[0], IDS) is None


@given(st.sampled_from(IDS), st.data())
def test_any_case_change_of_a_known_id_finds_it(model_id: str, data: st.DataObject):
    """Whatever letters of a known id are upper-cased, the suggestion is that id."""
    flips = data.draw(st.lists(st.booleans(), min_size=len(model_id), max_size=len(model_id)))
    typed = "".join(c.upper() if f else c for c, f in zip(model_id, flips, strict=True))
    if typed != model_id:
        assert closest(typed, IDS) == model_id
