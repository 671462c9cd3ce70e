"""Same-model retries under the policy's bounds: the backoff doubling, the cap on one wait,
the deadline, and max_attempts; and the fallback event that announces a move to a backup.

Waits are chosen so that the rule under test changes the *outcome* (retry or backup), and the
only time checks are lower bounds (a sleep is never shorter than asked).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import BACKUP, PRIMARY

import resolver
from resolver import Event, FallbackExhausted, Provider, ProviderError
from resolver.testing import make_resolver

KEYS = {"SYNTHETIC_API_KEY": "k1", "TOGETHER_API_KEY": "k2"}


def failing_first(times: int, error: ProviderError) -> tuple[Any, list[tuple[str, float]]]:
    """A user's fn whose first ``times`` calls to the requested model fail with ``error``;
    returns it and the (provider id, start time) of every call."""
    calls: list[tuple[str, float]] = []

    def fn(provider: Provider) -> str:
        calls.append((provider.id, time.monotonic()))
        if provider.id == PRIMARY and sum(c[0] == PRIMARY for c in calls) <= times:
            raise error
        return provider.id

    return fn, calls


def test_a_failure_without_retry_after_is_retried_after_the_backoff():
    """A retryable failure that names no wait is retried on the same model after the default
    backoff."""
    r = make_resolver(overrides=["policy.retries=1", "policy.retry_backoff_s=0.2"])
    fn, calls = failing_first(1, ProviderError("server", "hiccup", 500))

    outcome = resolver.call_with_fallback(PRIMARY, fn, environ=KEYS, resolver=r)

    assert [c[0] for c in calls] == [PRIMARY, PRIMARY]
    assert outcome.served_by == PRIMARY
    assert calls[1][1] - calls[0][1] >= 0.2


def test_the_backoff_doubles_with_each_retry_up_to_the_cap():
    """With a 0.2 s backoff the retries wait 0.2 s then 0.4 s; a cap of 0.5 s lets both
    happen (a growth faster than doubling would pass it and go to the backup)."""
    r = make_resolver(
        overrides=[
            "policy.retries=2",
            "policy.max_attempts=3",
            "policy.retry_backoff_s=0.2",
            "policy.retry_max_wait_s=0.5",
        ]
    )
    fn, calls = failing_first(2, ProviderError("server", "hiccup", 500))

    outcome = resolver.call_with_fallback(PRIMARY, fn, environ=KEYS, resolver=r)

    assert [c[0] for c in calls] == [PRIMARY, PRIMARY, PRIMARY]
    assert outcome.served_by == PRIMARY
    assert calls[1][1] - calls[0][1] >= 0.2
    assert calls[2][1] - calls[1][1] >= 0.4


def test_a_wait_equal_to_the_cap_is_still_waited():
    """retry_max_wait_s is inclusive: a Retry-After of exactly the cap is waited for."""
    r = make_resolver(overrides=["policy.retries=1", "policy.retry_max_wait_s=0.3"])
    fn, calls = failing_first(1, ProviderError("rate_limit", "slow down", 429, retry_after=0.3))

    assert resolver.call_with_fallback(PRIMARY, fn, environ=KEYS, resolver=r).served_by == PRIMARY
    assert [c[0] for c in calls] == [PRIMARY, PRIMARY]


def test_a_wait_past_the_deadline_goes_to_the_backup_instead():
    """A Retry-After that would outlast the call's deadline is not waited for: the backup is
    called at once and serves within the deadline."""
    r = make_resolver(overrides=["policy.retries=1"])
    fn, calls = failing_first(1, ProviderError("rate_limit", "slow down", 429, retry_after=2))

    outcome = resolver.call_with_fallback(PRIMARY, fn, environ=KEYS, deadline_s=1, resolver=r)

    assert [c[0] for c in calls] == [PRIMARY, BACKUP]
    assert outcome.served_by == BACKUP


def test_no_retry_wait_once_max_attempts_is_reached():
    """A backup reached with the last attempt fails retryably: the call ends at once, with no
    backoff slept (here 5 s) for a retry that could never be made."""
    r = make_resolver(
        overrides=[
            "policy.max_attempts=2",
            f"++models={{{BACKUP}: {{retries: 1}}}}",
            "policy.retry_backoff_s=5",
            "policy.retry_max_wait_s=10",
        ]
    )
    calls: list[str] = []

    def fn(provider: Provider) -> str:
        calls.append(provider.id)
        raise ProviderError("server", "hiccup", 500)

    started = time.monotonic()

    with pytest.raises(FallbackExhausted) as caught:
        resolver.call_with_fallback(PRIMARY, fn, environ=KEYS, resolver=r)

    assert time.monotonic() - started < 4  # far from a tight bound: the backoff is 5 s
    assert calls == [PRIMARY, BACKUP]
    assert len(caught.value.attempts) == 2


def test_the_fallback_event_says_where_the_call_goes_and_why():
    """A move to a backup is announced once, naming the failed model, its class, status and
    message, the backup, and the time since the call began."""
    r = make_resolver()
    events: list[Event] = []
    fn, _ = failing_first(1, ProviderError("server", "vendor down", 502))

    resolver.call_with_fallback(PRIMARY, fn, environ=KEYS, on_event=events.append, resolver=r)

    (moved,) = [e for e in events if e.kind == "fallback"]
    assert (
        moved.requested,
        moved.provider_id,
        moved.target_id,
        moved.error_class,
        moved.status,
        moved.message,
    ) == (PRIMARY, PRIMARY, BACKUP, "server", 502, "vendor down")
    assert isinstance(moved.seconds, float)
    assert isinstance(moved.elapsed_s, float)
    assert 0 <= moved.elapsed_s < 60


def test_no_fallback_is_announced_when_no_attempt_is_left():
    """With max_attempts=1 a failure on the requested model announces no fallback: the call
    ends there."""
    r = make_resolver(overrides=["policy.max_attempts=1"])
    events: list[Event] = []
    fn, _ = failing_first(1, ProviderError("server", "down", 500))

    with pytest.raises(FallbackExhausted):
        resolver.call_with_fallback(PRIMARY, fn, environ=KEYS, on_event=events.append, resolver=r)

    assert [e.kind for e in events] == ["attempt"]
