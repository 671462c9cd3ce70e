"""How deep the built-in rules look for a known failure down an exception's ``__cause__``
chain: SDKs wrap their transport's errors two or three deep, and the search stops after the
eighth link (a bound against pathological chains), so a failure found there falls back and one
found deeper is re-raised unchanged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import resolver
from resolver import Provider, call_with_fallback

KEYS = {"OWN_TREE_KEY": "k-own"}


class Wrapper(Exception):
    """A user's own wrapper: no rule knows it."""


def wrapped_timeout(links: int) -> Wrapper:
    """A Wrapper whose ``links``-th link down the cause chain is a TimeoutError."""
    error: BaseException = TimeoutError("read timed out")
    for depth in range(links - 1, 0, -1):
        outer = Wrapper(f"wrapper {depth}")
        outer.__cause__ = error
        error = outer
    assert isinstance(error, Wrapper)
    return error


def fails_with(links: int) -> Callable[[Provider], str]:
    def fn(provider: Provider) -> str:
        if provider.id == "think":
            raise wrapped_timeout(links)
        return provider.id

    return fn


@pytest.mark.parametrize("links", [2, 8])
def test_a_timeout_up_to_eight_links_down_the_cause_chain_falls_back(
    own_tree: Path, links: int
) -> None:
    """A TimeoutError chained (raise ... from) under up to seven wrappers is a timeout: the
    call falls back and the attempt says timeout."""
    r = resolver.load(config_path=own_tree, environ=KEYS)
    outcome = call_with_fallback("think", fails_with(links), resolver=r, environ=KEYS)
    assert outcome.served_by == "plain"
    assert outcome.attempts[0].error_class == "timeout"


def test_a_timeout_nine_links_down_is_not_looked_for(own_tree: Path) -> None:
    """A TimeoutError under eight wrappers is past the bound: the outer wrapper is re-raised
    unchanged and no backup is called."""
    r = resolver.load(config_path=own_tree, environ=KEYS)
    with pytest.raises(Wrapper, match=r"^wrapper 1$"):
        call_with_fallback("think", fails_with(9), resolver=r, environ=KEYS)
