"""What a fallback call reports as it runs: events, log lines, attempt durations, health's last
error; and the async path honouring health and a user's classify= like the sync one."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import pytest
from conftest import BACKUP, PRIMARY

import resolver
from resolver import Event, FallbackExhausted, Provider, ProviderError
from resolver.testing import make_resolver, mark_unhealthy

KEYS = {"SYNTHETIC_API_KEY": "k1", "TOGETHER_API_KEY": "k2"}


@pytest.fixture
def fresh() -> resolver.Resolver:
    return make_resolver()


def failing_on(provider_id: str, error: Exception) -> Any:
    def fn(provider: Provider) -> str:
        if provider.id == provider_id:
            raise error
        return provider.id

    return fn


async def afailing_on(provider_id: str, error: Exception, provider: Provider) -> str:
    await asyncio.sleep(0)
    if provider.id == provider_id:
        raise error
    return provider.id


def test_a_skipped_backup_is_reported_as_a_skip_event(fresh):
    """A backup passed over (its key variable unset) reaches on_event as a skip event naming
    the call, the backup and why, with the time since the call began."""
    events: list[Event] = []
    with pytest.raises(FallbackExhausted):
        resolver.call_with_fallback(
            PRIMARY,
            failing_on(PRIMARY, ProviderError("server", "down", 500)),
            environ={"SYNTHETIC_API_KEY": "k1"},
            on_event=events.append,
            resolver=fresh,
        )
    (skip,) = [e for e in events if e.kind == "skip"]
    assert (skip.requested, skip.provider_id) == (PRIMARY, BACKUP)
    assert skip.message == "key variable TOGETHER_API_KEY is not set"
    assert isinstance(skip.elapsed_s, float)
    assert 0 <= skip.elapsed_s < 60


def test_every_step_is_logged_in_words_an_operator_can_read(fresh, caplog):
    """The resolver logger says which attempt failed (class, HTTP status, message), which one
    served, where the call fell back to, and what was skipped."""
    caplog.set_level(logging.DEBUG, logger="resolver")
    resolver.call_with_fallback(
        PRIMARY,
        failing_on(PRIMARY, ProviderError("server", "boom", 503)),
        environ=KEYS,
        resolver=fresh,
    )
    resolver.call_with_fallback(
        PRIMARY, failing_on(PRIMARY, TimeoutError("slow")), environ=KEYS, resolver=fresh
    )
    mark_unhealthy(fresh, BACKUP)
    with pytest.raises(FallbackExhausted):
        resolver.call_with_fallback(
            PRIMARY, failing_on(PRIMARY, ProviderError("server", "x")), environ=KEYS, resolver=fresh
        )
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    patterns = [
        ("INFO", rf"{PRIMARY}: attempt on {PRIMARY} failed: server \(HTTP 503\) after "
         r"\d+\.\d{3}s: boom"),
        ("WARNING", rf"{PRIMARY}: falling back from {PRIMARY} to {BACKUP} after server "
         r"\(\d+\.\d{3}s elapsed\)"),
        ("DEBUG", rf"{PRIMARY}: attempt on {BACKUP} served in \d+\.\d{{3}}s"),
        ("INFO", rf"{PRIMARY}: attempt on {PRIMARY} failed: timeout after \d+\.\d{{3}}s: slow"),
        ("DEBUG", rf"{PRIMARY}: skipping {BACKUP}: out of rotation for \d+ s after 3 failures "
         r"\(last: server\)"),
        ("INFO", rf"{PRIMARY}: attempt on {PRIMARY} failed: server after \d+\.\d{{3}}s: x"),
    ]  # fmt: skip
    for level, pattern in patterns:
        assert any(lv == level and re.fullmatch(pattern, text) for lv, text in lines), (
            pattern,
            lines,
        )


def test_an_attempt_lasts_as_long_as_the_call_took(fresh):
    """An attempt's seconds is the time its fn ran: at least a 0.05 s sleep, not a clock value."""

    def slow_failure(provider: Provider) -> str:
        if provider.id == PRIMARY:
            time.sleep(0.05)
            raise ProviderError("server", "late", 500)
        return provider.id

    outcome = resolver.call_with_fallback(PRIMARY, slow_failure, environ=KEYS, resolver=fresh)

    assert 0.05 <= outcome.attempts[0].seconds < 30


def test_a_deadline_passed_during_an_attempt_ends_the_call_without_blaming_the_provider():
    """When the deadline passes while fn runs (sync), the call ends there: no backup is tried
    and the provider's health is not charged with the failure."""
    r = make_resolver()
    calls: list[str] = []

    def fn(provider: Provider) -> str:
        calls.append(provider.id)
        time.sleep(0.2)
        raise ProviderError("server", "late and failing", 500)

    with pytest.raises(FallbackExhausted) as caught:
        resolver.call_with_fallback(PRIMARY, fn, environ=KEYS, deadline_s=0.1, resolver=r)

    assert calls == [PRIMARY]
    assert "deadline of 0.1s reached" in caught.value.reason
    assert r.health.state(PRIMARY).failures == 0


def test_health_keeps_the_class_and_status_of_the_last_failure(fresh):
    """After a failed attempt, health's last error for the provider is its class and HTTP
    status."""
    resolver.call_with_fallback(
        PRIMARY,
        failing_on(PRIMARY, ProviderError("server", "down", 503)),
        environ=KEYS,
        resolver=fresh,
    )
    assert fresh.health.state(PRIMARY).last_error == "server 503"


def test_async_calls_skip_a_model_out_of_rotation(fresh):
    """acall_with_fallback passes over a requested model out of rotation (without calling it)
    and says why; the backup serves."""
    mark_unhealthy(fresh, PRIMARY, detail="503")
    called: list[str] = []

    async def fn(provider: Provider) -> str:
        called.append(provider.id)
        return provider.id

    outcome = asyncio.run(resolver.acall_with_fallback(PRIMARY, fn, environ=KEYS, resolver=fresh))

    assert called == [BACKUP]
    (skip,) = outcome.skipped
    assert skip.provider_id == PRIMARY
    assert skip.reason.startswith("out of rotation for ")
    assert skip.reason.endswith("after 3 failures (last: server 503)")


def test_async_calls_use_the_callers_classify(fresh):
    """acall_with_fallback classes an exception with the caller's classify=, as the sync call
    does: a ValueError classed as server falls back instead of propagating."""

    def classify(exc: BaseException) -> Any:
        return "server" if isinstance(exc, ValueError) else None

    outcome = asyncio.run(
        resolver.acall_with_fallback(
            PRIMARY,
            lambda p: afailing_on(PRIMARY, ValueError("bad payload"), p),
            environ=KEYS,
            classify=classify,
            resolver=fresh,
        )
    )

    assert outcome.served_by == BACKUP
    assert outcome.attempts[0].error_class == "server"


def test_async_attempts_report_duration_and_health_detail(fresh):
    """acall_with_fallback reports an attempt's real duration and gives health the failure's
    class and HTTP status, as the sync call does."""

    async def fn(provider: Provider) -> str:
        if provider.id == PRIMARY:
            await asyncio.sleep(0.05)
            raise ProviderError("server", "down", 503)
        return provider.id

    outcome = asyncio.run(resolver.acall_with_fallback(PRIMARY, fn, environ=KEYS, resolver=fresh))

    assert 0.05 <= outcome.attempts[0].seconds < 30
    assert fresh.health.state(PRIMARY).last_error == "server 503"


def test_an_async_success_clears_the_failures_in_a_row(fresh):
    """A model that failed and then serves an async call is back to no failures in a row."""
    asyncio.run(
        resolver.acall_with_fallback(
            PRIMARY,
            lambda p: afailing_on(PRIMARY, ProviderError("server", "x", 500), p),
            environ=KEYS,
            resolver=fresh,
        )
    )
    assert fresh.health.state(PRIMARY).failures == 1

    asyncio.run(
        resolver.acall_with_fallback(
            PRIMARY, lambda p: afailing_on("nobody", ValueError(), p), environ=KEYS, resolver=fresh
        )
    )

    assert fresh.health.state(PRIMARY).failures == 0
