"""A fallback call that ends without an answer says why in ``FallbackExhausted.reason``: the
deadline, ``fallback=False``, or every candidate having failed, in both the sync and async
calls and the streaming one."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import resolver
from resolver import (
    Event,
    FallbackExhausted,
    Provider,
    ProviderError,
    acall_with_fallback,
    call_with_fallback,
    stream_with_fallback,
)
from resolver.testing import fail_calls

KEYS = {"OWN_TREE_KEY": "k-own"}
ALONE = "fallback=False: no backup is tried"


def broken(provider: Provider) -> str:
    raise ProviderError("server", "upstream broke")


async def abroken(provider: Provider) -> str:
    raise ProviderError("server", "upstream broke")


def test_a_deadline_too_short_for_any_attempt_ends_the_call_before_calling(own_tree: Path) -> None:
    """A call given a 1 ms deadline calls nothing, says the deadline was reached, and chains no
    provider error."""
    r = resolver.load(config_path=own_tree, environ=KEYS)
    calls: list[str] = []

    def record(provider: Provider) -> str:
        calls.append(provider.id)
        return provider.id

    with pytest.raises(FallbackExhausted) as caught:
        call_with_fallback("think", record, resolver=r, environ=KEYS, deadline_s=0.001)
    assert calls == []
    assert caught.value.attempts == ()
    assert caught.value.reason == "deadline of 0.001s reached"
    assert caught.value.__cause__ is None


def test_a_deadline_passing_between_attempts_stops_before_the_backup(own_tree: Path) -> None:
    """When the deadline passes between a failed attempt and its backup (here inside a slow
    event listener), the backup is never called and the reason names the deadline."""
    r = resolver.load(config_path=own_tree, environ=KEYS)

    def slow_listener(event: Event) -> None:
        if event.kind == "fallback":
            time.sleep(0.3)

    with pytest.raises(FallbackExhausted) as caught:
        call_with_fallback(
            "think", broken, resolver=r, environ=KEYS, deadline_s=0.2, on_event=slow_listener
        )
    assert [a.provider_id for a in caught.value.attempts] == ["think"]
    assert caught.value.reason == "deadline of 0.2s reached"


def test_fallback_false_tries_the_requested_model_alone_and_says_so(own_tree: Path) -> None:
    """call_with_fallback(fallback=False) on a failing model calls no backup and gives
    'fallback=False: no backup is tried' as the reason."""
    r = resolver.load(config_path=own_tree, environ=KEYS)
    called: list[str] = []

    def fails(provider: Provider) -> str:
        called.append(provider.id)
        raise ProviderError("server", "upstream broke")

    with pytest.raises(FallbackExhausted) as caught:
        call_with_fallback("think", fails, resolver=r, environ=KEYS, fallback=False)
    assert called == ["think"]
    assert caught.value.reason == ALONE
    assert caught.value.skipped == ()
    assert f"({ALONE})" in str(caught.value)


def test_an_async_call_whose_candidates_all_fail_says_every_candidate_failed(
    own_tree: Path,
) -> None:
    """An acall_with_fallback whose three candidates all fail ends with 'every candidate
    failed', not the fallback=False wording."""
    r = resolver.load(config_path=own_tree, environ=KEYS)
    with pytest.raises(FallbackExhausted) as caught:
        asyncio.run(acall_with_fallback("think", abroken, resolver=r, environ=KEYS))
    assert [a.provider_id for a in caught.value.attempts] == ["think", "plain", "spare"]
    assert caught.value.reason == "every candidate failed"


def test_an_async_call_with_fallback_false_says_so(own_tree: Path) -> None:
    """acall_with_fallback(fallback=False) on a failing model ends with the fallback=False
    reason after one attempt."""
    r = resolver.load(config_path=own_tree, environ=KEYS)
    with pytest.raises(FallbackExhausted) as caught:
        asyncio.run(acall_with_fallback("think", abroken, resolver=r, environ=KEYS, fallback=False))
    assert [a.provider_id for a in caught.value.attempts] == ["think"]
    assert caught.value.reason == ALONE


def test_a_stream_whose_candidates_all_fail_says_every_candidate_failed(own_tree: Path) -> None:
    """A stream_with_fallback whose candidates all fail before any content ends with 'every
    candidate failed'."""
    r = resolver.load(config_path=own_tree, environ=KEYS)

    def chunks(provider: Provider, partial: str) -> list[str]:
        raise ProviderError("server", "upstream broke")

    with pytest.raises(FallbackExhausted) as caught:
        list(stream_with_fallback("think", chunks, resolver=r, environ=KEYS))
    assert [a.provider_id for a in caught.value.attempts] == ["think", "plain", "spare"]
    assert caught.value.reason == "every candidate failed"


async def served(provider: Provider) -> str:
    return provider.id


@pytest.mark.parametrize("run", ["sync", "async"])
def test_a_forced_failure_names_the_provider_in_the_chained_error(own_tree: Path, run: str) -> None:
    """Under resolver.testing.fail_calls, the provider error chained to FallbackExhausted names
    the provider whose forced call failed last."""
    r = resolver.load(config_path=own_tree, environ=KEYS)

    def call() -> object:
        if run == "sync":
            return call_with_fallback("think", lambda p: p.id, resolver=r, environ=KEYS)
        return asyncio.run(acall_with_fallback("think", served, resolver=r, environ=KEYS))

    with fail_calls("think", "plain", "spare"), pytest.raises(FallbackExhausted) as caught:
        call()
    cause = caught.value.__cause__
    assert isinstance(cause, ProviderError)
    assert cause.provider_id == "spare"
    assert str(cause).startswith("spare: server: failure forced by resolver.testing.fail_calls")
    assert caught.value.reason == "every candidate failed"
