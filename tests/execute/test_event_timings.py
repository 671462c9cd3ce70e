"""The timings an event reports are real: an attempt's ``seconds`` is how long it took, and
every event's ``elapsed_s`` is the time since the fallback call began."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import resolver
from resolver import Event, Provider, ProviderError, call_with_fallback

NAP = 0.06  # each slow step sleeps this long; events must report at least 0.05 s for it
KEYS = {"OWN_TREE_KEY": "k-own"}


def test_events_report_the_time_attempts_took_and_the_time_since_the_call_began(
    own_tree: Path,
) -> None:
    """A call whose requested model fails after 60 ms with context_window, passes over an
    equal-window backup and is served by a larger one after 60 ms more, reports those times."""
    windows = (
        "++models={think: {context_window: 8000}, plain: {context_window: 8000},"
        " spare: {context_window: 32000}}"
    )
    r = resolver.load(config_path=own_tree, overrides=[windows], environ=KEYS)
    events: list[Event] = []

    def slow(provider: Provider) -> str:
        time.sleep(NAP)
        if provider.id == "think":
            raise ProviderError("context_window", "prompt is too long")
        return provider.id

    outcome = call_with_fallback("think", slow, resolver=r, environ=KEYS, on_event=events.append)

    assert outcome.served_by == "spare"
    failed, skipped, moved, served = events
    assert (failed.kind, failed.provider_id, failed.error_class) == (
        "attempt",
        "think",
        "context_window",
    )
    assert failed.seconds >= 0.05
    assert failed.elapsed_s >= 0.05
    assert (skipped.kind, skipped.provider_id) == ("skip", "plain")
    assert skipped.elapsed_s >= 0.05
    assert (moved.kind, moved.provider_id, moved.target_id) == ("fallback", "think", "spare")
    assert moved.elapsed_s >= 0.05
    assert moved.seconds >= 0.05
    assert (served.kind, served.provider_id, served.error_class) == ("attempt", "spare", None)
    assert served.seconds >= 0.05
    assert served.elapsed_s >= 0.1  # both attempts' naps since the call began
    assert [a.seconds >= 0.05 for a in outcome.attempts] == [True, True]


def test_a_failed_attempt_reports_its_own_duration_apart_from_the_time_since_the_start(
    own_tree: Path,
) -> None:
    """The second failed attempt of a call, which failed at once after a first attempt of
    60 ms, reports a shorter duration than the time since the call began."""
    r = resolver.load(config_path=own_tree, environ=KEYS)
    events: list[Event] = []

    def first_slow(provider: Provider) -> str:
        if provider.id == "think":
            time.sleep(NAP)
        raise ProviderError("server", "upstream broke")

    with pytest.raises(resolver.FallbackExhausted):
        call_with_fallback("think", first_slow, resolver=r, environ=KEYS, on_event=events.append)
    attempts = [e for e in events if e.kind == "attempt"]
    assert [e.provider_id for e in attempts] == ["think", "plain", "spare"]
    second = attempts[1]
    assert second.elapsed_s >= 0.05
    assert second.seconds < second.elapsed_s
