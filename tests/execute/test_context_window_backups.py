"""A context_window failure moves only to a backup with a strictly larger window."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import resolver
from resolver import FallbackExhausted, Provider, ProviderError

WINDOWS = """
    # @package _global_
    providers:
      local:
        base_url: http://127.0.0.1:9/v1
        api_key_env: null
        models:
          alpha: {model: a, tier: budget, context_window: 8192, pricing: {prompt: 1, completion: 1}}
          same: {model: s, tier: budget, context_window: 8192, pricing: {prompt: 1, completion: 1}}
          bigger:
            {model: b, tier: budget, context_window: 8193, pricing: {prompt: 1, completion: 1}}
    policy:
      max_attempts: 3
    fallbacks:
      alpha: [same, bigger]
    """


@pytest.fixture
def windows(config_tree: Callable[[dict[str, str]], Path]) -> resolver.Resolver:
    root = config_tree({"env/windows.yaml": WINDOWS})
    return resolver.load("windows", config_dirs=[root], environ={})


def too_long_on(*ids: str) -> Callable[[Provider], str]:
    def fn(provider: Provider) -> str:
        if provider.id in ids:
            raise ProviderError("context_window", "prompt too long", 400)
        return provider.id

    return fn


def test_a_backup_with_an_equal_window_is_skipped(windows):
    """After a context_window failure on an 8192-token model, a backup of 8192 tokens is passed
    over (it would fail the same way) and one of 8193 serves."""
    outcome = resolver.call_with_fallback(
        "alpha", too_long_on("alpha"), environ={}, resolver=windows
    )

    assert outcome.served_by == "bigger"
    assert [a.provider_id for a in outcome.attempts] == ["alpha", "bigger"]
    assert [s.provider_id for s in outcome.skipped] == ["same"]
    assert "context window 8192 is not larger than alpha's 8192" in outcome.skipped[0].reason


def test_only_equal_windows_left_exhausts_without_calling_them(config_tree):
    """When every backup's window equals the failed model's, none is called."""
    root = config_tree(
        {"env/windows.yaml": WINDOWS.replace("context_window: 8193", "context_window: 8192")}
    )
    r = resolver.load("windows", config_dirs=[root], environ={})
    calls: list[str] = []

    def fn(provider: Provider) -> str:
        calls.append(provider.id)
        raise ProviderError("context_window", "prompt too long", 400)

    with pytest.raises(FallbackExhausted) as caught:
        resolver.call_with_fallback("alpha", fn, environ={}, resolver=r)

    assert calls == ["alpha"]
    assert [s.provider_id for s in caught.value.skipped] == ["same", "bigger"]


def test_other_failures_still_reach_a_backup_with_an_equal_window(windows):
    """The window rule is for context_window failures only: after a server error the backup of
    equal window serves."""

    def fn(provider: Provider) -> str:
        if provider.id == "alpha":
            raise ProviderError("server", "boom", 500)
        return provider.id

    assert (
        resolver.call_with_fallback("alpha", fn, environ={}, resolver=windows).served_by == "same"
    )
