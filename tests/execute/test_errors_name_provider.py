"""The provider error chained to ``FallbackExhausted`` names the provider it stands for, also
when the library made it up itself: a deadline reached while an async attempt ran, and a call
that waited in our own queue until its deadline."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import PRIMARY

from resolver import (
    FallbackExhausted,
    Provider,
    ProviderError,
    Resolver,
    acall_with_fallback,
    call_with_fallback,
)
from resolver.testing import ChatServer, make_resolver


def test_an_async_deadline_timeout_names_the_provider_still_answering(
    roomy: Resolver, keys: dict[str, str]
) -> None:
    """An async call whose fn outlives its 0.2 s deadline chains a timeout ProviderError that
    names the provider, as '<id>: timeout: deadline of 0.2s reached'."""

    async def slow(provider: Provider) -> None:
        await asyncio.sleep(5)

    with pytest.raises(FallbackExhausted) as caught:
        asyncio.run(
            acall_with_fallback(PRIMARY, slow, resolver=roomy, environ=keys, deadline_s=0.2)
        )
    cause = caught.value.__cause__
    assert isinstance(cause, ProviderError)
    assert cause.provider_id == PRIMARY
    assert str(cause) == f"{PRIMARY}: timeout: deadline of 0.2s reached"


def test_a_call_never_sent_names_the_provider_it_waited_for(
    chat_server: ChatServer, keys: dict[str, str]
) -> None:
    """A sync call queued behind the only max_concurrency slot until its 0.2 s deadline chains
    a 'local' ProviderError naming the provider it waited for."""
    r = make_resolver(
        env="prod",
        overrides=[*chat_server.overrides(), f"++models={{{PRIMARY}: {{max_concurrency: 1}}}}"],
    )
    holding, release = threading.Event(), threading.Event()

    def hold(provider: Provider) -> str:
        holding.set()
        release.wait(10)
        return provider.id

    with ThreadPoolExecutor(1) as threads:
        first = threads.submit(call_with_fallback, PRIMARY, hold, resolver=r, environ=keys)
        assert holding.wait(10)
        try:
            with pytest.raises(FallbackExhausted) as caught:
                call_with_fallback(PRIMARY, hold, resolver=r, environ=keys, deadline_s=0.2)
        finally:
            release.set()
        first.result()
    cause = caught.value.__cause__
    assert isinstance(cause, ProviderError)
    assert cause.provider_id == PRIMARY
    assert str(cause).startswith(f"{PRIMARY}: local: never sent:")
