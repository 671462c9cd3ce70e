"""Overrides pasted from a document, and `+` on a key that is there: the problem points at
what to change (the curled quote's column, the form that works), on the command line as in
``load(overrides=...)``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import resolver
from resolver import ConfigError
from resolver.cli import main

CURLED = "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a\uff02\uff07"


@given(
    st.sampled_from(["policy.max_attempts", "fallbacks.kimi-k2", "policy.fallback_on"]),
    st.sampled_from(CURLED),
    st.sampled_from(CURLED),
    st.text("abc123-", min_size=1, max_size=6),
)
def test_a_curled_quote_is_named_with_its_column(key: str, left: str, right: str, value: str):
    """Any curled quote around a value: one malformed-override problem naming the override,
    the quote's code point and its column."""
    line = f"{key}={left}{value}{right}"
    with pytest.raises(ConfigError) as caught:
        resolver.load(overrides=[line], environ={})
    [problem] = [p for p in caught.value.problems if p.code == "malformed-override"]
    assert problem.file == f"override {line!r}"
    assert f"U+{ord(left):04X}) at column {len(key) + 2}" in problem.message
    assert "straight quotes" in problem.message


def test_a_curled_quote_on_the_command_line_exits_2_pointing_at_it(capsys):
    """`validate policy.max_attempts=“3”` exits 2 and says where the quote is, no lexer
    exception's name."""
    assert main(["validate", "--env", "prod", "policy.max_attempts=\u201c3\u201d"]) == 2
    out = "".join(capsys.readouterr())
    assert "typographic quote \u201c (U+201C) at column 21" in out
    assert "LexerNoViableAltException" not in out


def test_plus_on_a_key_that_is_there_gives_both_forms_that_work():
    """`+policy.max_attempts=1`: the hint gives `policy.max_attempts=1` and
    `++policy.max_attempts=1`, and the second form loads."""
    with pytest.raises(ConfigError) as caught:
        resolver.load(overrides=["+policy.max_attempts=1"], environ={})
    [problem] = [p for p in caught.value.problems if p.code == "bad-override"]
    assert problem.hint is not None
    assert "'policy.max_attempts=1'" in problem.hint
    assert "'++policy.max_attempts=1'" in problem.hint
    assert resolver.load(overrides=["++policy.max_attempts=1"], environ={}).policy.max_attempts == 1
