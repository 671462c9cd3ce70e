"""A fallback call given no ``environ`` reads the process environment: backups whose key is set
there are used, and those keys are masked in the errors the call raises."""

from __future__ import annotations

from pathlib import Path

import pytest

import resolver
from resolver import FallbackExhausted, Provider, ProviderError, call_with_fallback

SECRET = "sk-own-tree-0123456789abcdef"


def test_keys_from_the_process_environment_are_used_and_masked(
    own_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With OWN_TREE_KEY set in os.environ and no environ= given, every candidate is called,
    and a vendor error echoing that key never shows it in the error raised."""
    monkeypatch.setenv("OWN_TREE_KEY", SECRET)
    r = resolver.load(config_path=own_tree)
    called: list[str] = []

    def echoes_key(provider: Provider) -> str:
        called.append(provider.id)
        raise ProviderError("auth", f"invalid api key {SECRET}", status=401)

    with pytest.raises(FallbackExhausted) as caught:
        call_with_fallback("think", echoes_key, resolver=r)
    assert called == ["think", "plain", "spare"]
    assert SECRET not in str(caught.value)
    assert all(SECRET not in a.message for a in caught.value.attempts)
    assert SECRET not in str(caught.value.__cause__)
