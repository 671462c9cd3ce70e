"""The details of how a fallback call ends: refusals, the served attempt, the exhausted reason,
counts, forced failures, listeners that raise, and what a value reports."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import BACKUP, PRIMARY

import resolver
from resolver import Event, FallbackExhausted, ModelUnavailable, Provider, ProviderError
from resolver.testing import fail_calls, make_resolver

KEYS = {"SYNTHETIC_API_KEY": "k1", "TOGETHER_API_KEY": "k2"}


def served(provider: Provider) -> str:
    return provider.id


def test_calling_an_unknown_or_disabled_model_is_refused_with_the_reason():
    """An unknown id (with no close match) and a disabled model are refused before any call,
    naming the model and why."""
    r = make_resolver()
    with pytest.raises(ModelUnavailable) as unknown:
        resolver.call_with_fallback("zzzz-no-such-model", served, environ=KEYS, resolver=r)
    assert (unknown.value.model_id, unknown.value.reason) == ("zzzz-no-such-model", "unknown model")

    off = make_resolver(overrides=["++models={deepseek-r1: {enabled: false}}"])
    with pytest.raises(ModelUnavailable) as disabled:
        resolver.call_with_fallback(BACKUP, served, environ=KEYS, resolver=off)
    assert (disabled.value.model_id, disabled.value.reason) == (
        BACKUP,
        "disabled (no reason given)",
    )


def test_the_attempt_that_served_is_recorded_and_reported():
    """The serving attempt is kept as 'ok' with its duration and the value's status, and its
    event carries the same."""

    @dataclass
    class Reply:
        status: int

    events: list[Event] = []
    outcome = resolver.call_with_fallback(
        PRIMARY,
        lambda p: Reply(201),
        environ=KEYS,
        on_event=events.append,
        resolver=make_resolver(),
    )

    (attempt,) = outcome.attempts
    assert (attempt.provider_id, attempt.error_class, attempt.status, attempt.message) == (
        PRIMARY,
        None,
        201,
        "ok",
    )
    assert isinstance(attempt.seconds, float)
    (event,) = events
    assert (event.kind, event.provider_id, event.status, event.message) == (
        "attempt",
        PRIMARY,
        201,
        "ok",
    )
    assert isinstance(event.elapsed_s, float)


def test_a_failed_attempts_event_carries_its_duration_and_elapsed_time():
    """The event of a failed attempt has the attempt's duration and the time since the call
    began, as floats."""
    events: list[Event] = []

    def fn(provider: Provider) -> str:
        if provider.id == PRIMARY:
            raise ProviderError("server", "down", 500)
        return provider.id

    resolver.call_with_fallback(
        PRIMARY, fn, environ=KEYS, on_event=events.append, resolver=make_resolver()
    )

    failed = events[0]
    assert (failed.kind, failed.error_class) == ("attempt", "server")
    assert isinstance(failed.seconds, float)
    assert isinstance(failed.elapsed_s, float)


def test_a_status_that_is_not_an_int_is_not_reported():
    """A value whose status is a bool (or anything but an int) reports no status."""

    @dataclass
    class Reply:
        status: Any

    for odd in (True, "200"):
        outcome = resolver.call_with_fallback(
            PRIMARY, lambda p, odd=odd: Reply(odd), environ=KEYS, resolver=make_resolver()
        )
        assert outcome.attempts[0].status is None


def test_an_exhausted_call_says_every_candidate_failed():
    """When every candidate was called and failed, the reason says so."""
    with pytest.raises(FallbackExhausted) as caught, fail_calls(PRIMARY, BACKUP):
        resolver.call_with_fallback(PRIMARY, served, environ=KEYS, resolver=make_resolver())
    assert caught.value.reason == "every candidate failed"


def test_forced_failures_say_where_they_come_from():
    """A failure made by fail_calls is a ProviderError naming the provider and fail_calls."""
    events: list[Event] = []
    with fail_calls(PRIMARY):
        resolver.call_with_fallback(
            PRIMARY, served, environ=KEYS, on_event=events.append, resolver=make_resolver()
        )
    first = events[0]
    assert (first.provider_id, first.error_class) == (PRIMARY, "server")
    assert first.message == "failure forced by resolver.testing.fail_calls"


def test_a_failure_that_does_not_fall_back_is_counted_as_failed():
    """A call ended by an error nobody can class is counted as failed for the model asked."""
    r = make_resolver()

    def fn(provider: Provider) -> str:
        raise ValueError("a bug in fn")

    with pytest.raises(ValueError, match="a bug in fn"):
        resolver.call_with_fallback(PRIMARY, fn, environ=KEYS, resolver=r)

    stats = r.stats()[PRIMARY]
    assert (stats.calls, stats.failed) == (1, 1)


def test_a_listener_that_raises_is_logged_and_the_others_still_hear(caplog):
    """An on_event listener that raises is logged with its name, and the call and the other
    listeners go on; listeners added with add_listener hear calls without on_event too."""
    heard: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    def remove_after(event: Event) -> None:
        heard.append(event.kind)

    remove = resolver.add_listener(remove_after)
    caplog.set_level(logging.ERROR, logger="resolver")
    try:
        outcome = resolver.call_with_fallback(
            PRIMARY, served, environ=KEYS, on_event=broken, resolver=make_resolver()
        )
        resolver.call_with_fallback(
            PRIMARY, served, environ=KEYS, resolver=make_resolver()
        )  # no on_event
    finally:
        remove()

    assert outcome.served_by == PRIMARY
    assert heard == ["attempt", "attempt"]
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == f"resolver event listener {broken!r} failed"


def test_a_cost_needs_both_token_counts():
    """A value reporting prompt tokens but not completion tokens gets no cost."""

    @dataclass
    class Reply:
        prompt_tokens: Any
        completion_tokens: Any

    outcome = resolver.call_with_fallback(
        PRIMARY, lambda p: Reply(100, None), environ=KEYS, resolver=make_resolver()
    )
    assert (outcome.cost_usd, outcome.requested_cost_usd) == (None, None)
