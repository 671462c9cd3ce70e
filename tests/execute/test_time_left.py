"""``time_left()`` inside a user's ``fn`` gives the seconds left of the call's deadline: the
policy's ``deadline_s`` when the call gives none, the call's own otherwise, in the sync and the
async call alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import resolver
from resolver import Provider, acall_with_fallback, call_with_fallback, time_left

KEYS = {"OWN_TREE_KEY": "k-own"}


def left_in(r: resolver.Resolver, **call: float) -> float | None:
    seen: list[float | None] = []

    def fn(provider: Provider) -> str:
        seen.append(time_left())
        return provider.id

    call_with_fallback("think", fn, resolver=r, environ=KEYS, **call)
    return seen[0]


def test_the_policy_deadline_bounds_a_call_that_gives_none(own_tree: Path) -> None:
    """With policy.deadline_s=5 and no deadline_s on the call, fn sees at most 5 s left."""
    r = resolver.load(config_path=own_tree, overrides=["policy.deadline_s=5"], environ=KEYS)
    left = left_in(r)
    assert left is not None
    assert 0 < left <= 5


def test_a_calls_own_deadline_wins_over_the_policys(own_tree: Path) -> None:
    """With policy.deadline_s=5, a call's deadline_s=30 gives fn more than 5 s."""
    r = resolver.load(config_path=own_tree, overrides=["policy.deadline_s=5"], environ=KEYS)
    left = left_in(r, deadline_s=30)
    assert left is not None
    assert 5 < left <= 30


def test_no_deadline_anywhere_leaves_time_left_none(own_tree: Path) -> None:
    """With no deadline in the policy or the call, fn sees time_left() None."""
    r = resolver.load(config_path=own_tree, environ=KEYS)
    assert left_in(r) is None


def test_an_async_fn_sees_the_time_left_of_its_call(own_tree: Path) -> None:
    """Inside acall_with_fallback(deadline_s=5), the coroutine fn sees at most 5 s left, and
    time_left() is None again once the call returned."""
    r = resolver.load(config_path=own_tree, environ=KEYS)
    seen: list[float | None] = []

    async def fn(provider: Provider) -> str:
        seen.append(time_left())
        return provider.id

    asyncio.run(acall_with_fallback("think", fn, resolver=r, environ=KEYS, deadline_s=5))
    (left,) = seen
    assert left is not None
    assert 0 < left <= 5
    assert time_left() is None
