"""An async call plans its chain as a sync call does: the same backups passed over, for the same
reasons, in the same order, whichever providers are out of rotation and whichever keys are
set; and it reads a health store only through the store's async methods."""

from __future__ import annotations

import asyncio
import itertools

import pytest

import resolver
from resolver import (
    Event,
    FallbackExhausted,
    HealthState,
    MemoryHealthStore,
    Provider,
    Resolver,
    acall_with_fallback,
    call_with_fallback,
)
from resolver.health import Permit
from resolver.testing import mark_unhealthy

KEY = {"OWN_TREE_KEY": "k"}
MODELS = ("think", "plain", "spare")


def _story(events: list[Event], ended: str) -> list[tuple[str, str, str]]:
    """What a listener saw, without the timings, and how the call ended."""
    return [(e.kind, e.provider_id, e.message) for e in events] + [("end", ended, "")]


def _sync_story(r: Resolver, model_id: str, environ: dict[str, str]) -> list[tuple[str, str, str]]:
    events: list[Event] = []
    try:
        outcome = call_with_fallback(
            model_id, lambda p: p.id, resolver=r, environ=environ, on_event=events.append
        )
    except FallbackExhausted:
        return _story(events, "exhausted")
    return _story(events, f"served by {outcome.value}")


def _async_story(r: Resolver, model_id: str, environ: dict[str, str]) -> list[tuple[str, str, str]]:
    events: list[Event] = []

    async def served_by(provider: Provider) -> str:
        return provider.id

    try:
        outcome = asyncio.run(
            acall_with_fallback(
                model_id, served_by, resolver=r, environ=environ, on_event=events.append
            )
        )
    except FallbackExhausted:
        return _story(events, "exhausted")
    return _story(events, f"served by {outcome.value}")


@pytest.mark.parametrize("environ", [KEY, {}], ids=["key set", "no key"])
def test_an_async_call_passes_over_what_a_sync_call_passes_over(own_tree, environ) -> None:
    """For every set of providers out of rotation, an async call reports the same backups
    passed over, with the same reasons, at the same moments, and is served by the same
    provider as a sync call, for a model with backups and for one without."""
    loaded = resolver.load(config_path=own_tree, environ=KEY)
    for n in range(len(MODELS) + 1):
        for out in itertools.combinations(MODELS, n):
            r = loaded.with_health()
            for model_id in out:
                mark_unhealthy(r, model_id, detail="503")
            for requested in ("think", "spare"):
                sync = _sync_story(r, requested, environ)
                assert _async_story(r, requested, environ) == sync, (out, requested)


def test_a_backup_out_of_rotation_is_reported_before_the_first_attempt(own_tree) -> None:
    """When the requested model serves at once, an async call still reports the backup that
    is out of rotation as passed over, with its health as the reason."""
    r = resolver.load(config_path=own_tree, environ=KEY).with_health()
    mark_unhealthy(r, "plain", detail="503")
    story = _async_story(r, "think", KEY)
    assert story[0][:2] == ("skip", "plain")
    assert story[0][2].startswith("out of rotation for 60 s after 3 failures (last: server 503)")
    assert story[1:] == [("attempt", "think", "ok"), ("end", "served by think", "")]


class AsyncOnlyStore:
    """A user's own store that does I/O, so (as the HealthStore protocol asks) an event loop
    must use its async methods: its sync methods refuse to run inside one. It keeps its state
    in a MemoryHealthStore."""

    def __init__(self, policy: resolver.HealthPolicy) -> None:
        self.policy = policy
        self._kept = MemoryHealthStore(policy)

    @property
    def all_in_rotation(self) -> bool:
        return self._kept.all_in_rotation

    def _sync(self) -> MemoryHealthStore:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._kept
        raise AssertionError("a sync health method was called inside the event loop")

    def state(self, provider_id: str) -> HealthState:
        return self._sync().state(provider_id)

    def in_rotation(self, provider_id: str) -> bool:
        return self._sync().in_rotation(provider_id)

    def acquire(self, provider_id: str) -> Permit:
        return self._sync().acquire(provider_id)

    def record_success(self, provider_id: str) -> None:
        self._sync().record_success(provider_id)

    def record_failure(self, provider_id: str, error_class: str, detail: str = "") -> HealthState:
        return self._sync().record_failure(provider_id, error_class, detail)

    def reset(self, provider_id: str | None = None) -> None:
        self._sync().reset(provider_id)

    async def astate(self, provider_id: str) -> HealthState:
        return self._kept.state(provider_id)

    async def ain_rotation(self, provider_id: str) -> bool:
        return self._kept.in_rotation(provider_id)

    async def aacquire(self, provider_id: str) -> Permit:
        return self._kept.acquire(provider_id)

    async def arecord_success(self, provider_id: str) -> None:
        self._kept.record_success(provider_id)

    async def arecord_failure(
        self, provider_id: str, error_class: str, detail: str = ""
    ) -> HealthState:
        return self._kept.record_failure(provider_id, error_class, detail)


@pytest.mark.parametrize("out", [(), ("plain",)], ids=["all in rotation", "plain out"])
def test_an_async_call_reads_health_only_through_async_methods(own_tree, out) -> None:
    """An async call never calls a health store's sync methods, with every provider in
    rotation and with a backup out, and still honours what the store says."""
    loaded = resolver.load(config_path=own_tree, environ=KEY)
    r = loaded.with_health(AsyncOnlyStore(loaded.policy.health))
    for model_id in out:
        mark_unhealthy(r, model_id, detail="503")
    story = _async_story(r, "think", KEY)
    assert [step[:2] for step in story] == [
        *(("skip", model_id) for model_id in out),
        ("attempt", "think"),
        ("end", "served by think"),
    ]
