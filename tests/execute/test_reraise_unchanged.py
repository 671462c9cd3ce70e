"""A failure whose class does not fall back leaves the fallback call as the very exception
``fn`` raised, with its own chain intact: the error ``fn`` was handling when it raised stays
its ``__context__``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import resolver
from resolver import Provider, ProviderError, acall_with_fallback, call_with_fallback

KEYS = {"OWN_TREE_KEY": "k-own"}


def reject(raised: list[ProviderError]) -> None:
    """Raise a bad_request while handling the user's own lookup error, as a user's fn may."""
    try:
        {}["temperature"]
    except KeyError:
        raised.append(ProviderError("bad_request", "temperature is required", status=400))
        raise raised[-1]  # noqa: B904 - the implicit context is the point


def test_a_sync_call_reraises_a_bad_request_with_its_context(own_tree: Path) -> None:
    """call_with_fallback re-raises fn's bad_request as the same object, its KeyError context
    kept, and calls no backup."""
    r = resolver.load(config_path=own_tree, environ=KEYS)
    raised: list[ProviderError] = []
    calls: list[str] = []

    def fn(provider: Provider) -> str:
        calls.append(provider.id)
        reject(raised)
        return provider.id

    with pytest.raises(ProviderError) as caught:
        call_with_fallback("think", fn, resolver=r, environ=KEYS)
    assert caught.value is raised[0]
    assert isinstance(caught.value.__context__, KeyError)
    assert calls == ["think"]


def test_an_async_call_reraises_a_bad_request_with_its_context(own_tree: Path) -> None:
    """acall_with_fallback re-raises fn's bad_request as the same object, its KeyError
    context kept, and calls no backup."""
    r = resolver.load(config_path=own_tree, environ=KEYS)
    raised: list[ProviderError] = []
    calls: list[str] = []

    async def fn(provider: Provider) -> str:
        calls.append(provider.id)
        reject(raised)
        return provider.id

    with pytest.raises(ProviderError) as caught:
        asyncio.run(acall_with_fallback("think", fn, resolver=r, environ=KEYS))
    assert caught.value is raised[0]
    assert isinstance(caught.value.__context__, KeyError)
    assert calls == ["think"]
