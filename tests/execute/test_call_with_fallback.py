"""call_with_fallback / acall_with_fallback with users' own functions, on real composed configs."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from datetime import UTC

import pytest
from conftest import BACKUP, PRIMARY

import resolver
from resolver import (
    ConfigError,
    Event,
    FallbackExhausted,
    ModelUnavailable,
    Provider,
    ProviderError,
    acall_with_fallback,
    call_with_fallback,
)
from resolver.testing import make_resolver

KEYS = {"SYNTHETIC_API_KEY": "k1", "TOGETHER_API_KEY": "k2"}


def failing_on(*ids: str, error: BaseException | None = None):
    """A user's fn that fails on the given provider ids and returns the model string elsewhere."""
    calls: list[str] = []

    def fn(provider: Provider) -> str:
        calls.append(provider.id)
        if provider.id in ids:
            raise error or ProviderError("server", "boom", 500)
        return provider.model

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


class VendorDown(Exception):
    pass


def test_provider_error_from_own_fn_falls_back(shipped):
    """Raising ProviderError from your own fn moves the call to the backup, and the outcome
    says who served while attribution stays with the requested model."""
    fn = failing_on(PRIMARY)

    outcome = call_with_fallback(PRIMARY, fn, environ=KEYS, resolver=shipped)

    assert outcome.value == shipped.providers[BACKUP].model
    assert (outcome.requested, outcome.served_by, outcome.fallback_used) == (PRIMARY, BACKUP, True)
    assert [(a.provider_id, a.error_class, a.status) for a in outcome.attempts] == [
        (PRIMARY, "server", 500),
        (BACKUP, None, None),
    ]


def test_classify_keyword_names_the_class_of_own_exceptions(shipped):
    """classify= maps a user's own exception type to an error class, which then falls back."""
    fn = failing_on(PRIMARY, error=VendorDown("vendor down"))

    outcome = call_with_fallback(
        PRIMARY,
        fn,
        resolver=shipped,
        environ=KEYS,
        classify=lambda exc: "server" if isinstance(exc, VendorDown) else None,
    )

    assert outcome.served_by == BACKUP
    assert outcome.attempts[0].message == "vendor down"


def test_unknown_exception_is_reraised_without_trying_backup(shipped):
    """An exception the library cannot classify (a bug in fn) is re-raised unchanged at once."""
    fn = failing_on(PRIMARY, error=KeyError("oops"))

    with pytest.raises(KeyError):
        call_with_fallback(PRIMARY, fn, resolver=shipped, environ=KEYS)

    assert fn.calls == [PRIMARY]


def test_builtin_timeout_and_connection_errors_are_classified(shipped):
    """Python's TimeoutError and ConnectionError from your fn fall back as timeout and
    connection without any wrapping."""
    for error, expected in (
        (TimeoutError("slow"), "timeout"),
        (ConnectionResetError(), "connection"),
    ):
        outcome = call_with_fallback(
            PRIMARY, failing_on(PRIMARY, error=error), environ=KEYS, resolver=shipped
        )
        assert outcome.attempts[0].error_class == expected


def test_status_code_attribute_is_classified(shipped):
    """An SDK-style exception carrying status_code is classed by HTTP status."""

    class RateLimited(Exception):
        status_code = 429

    outcome = call_with_fallback(
        PRIMARY, failing_on(PRIMARY, error=RateLimited("429")), environ=KEYS, resolver=shipped
    )

    assert (outcome.attempts[0].error_class, outcome.attempts[0].status) == ("rate_limit", 429)


def test_edge_policy_narrows_what_falls_back():
    """edge_policy[source].fallback_on overrides the global list for failures of that source."""
    narrow = make_resolver(overrides=[f"++edge_policy={{{PRIMARY}: {{fallback_on: [server]}}}}"])
    limited = ProviderError("rate_limit", "slow down", 429)

    with pytest.raises(ProviderError) as caught:
        call_with_fallback(
            PRIMARY, failing_on(PRIMARY, error=limited), environ=KEYS, resolver=narrow
        )

    assert caught.value.error_class == "rate_limit"
    assert call_with_fallback(
        PRIMARY, failing_on(PRIMARY), environ=KEYS, resolver=narrow
    ).fallback_used


def test_empty_edge_policy_list_means_never_fall_back():
    """edge_policy[source].fallback_on: [] turns fallbacks off for that source entirely."""
    never = make_resolver(overrides=[f"++edge_policy={{{PRIMARY}: {{fallback_on: []}}}}"])
    fn = failing_on(PRIMARY)

    with pytest.raises(ProviderError):
        call_with_fallback(PRIMARY, fn, environ=KEYS, resolver=never)

    assert fn.calls == [PRIMARY]


def test_context_window_needs_a_larger_backup():
    """A context_window failure moves only to a backup whose known context window is larger."""
    window = ProviderError("context_window", "too long", 400)

    def windows(primary: int, backup: int) -> str:
        patch = f"{PRIMARY}: {{context_window: {primary}}}, {BACKUP}: {{context_window: {backup}}}"
        return f"++models={{{patch}}}"

    smaller = make_resolver(overrides=[windows(128000, 64000)])
    larger = make_resolver(overrides=[windows(64000, 128000)])

    with pytest.raises(FallbackExhausted) as caught:
        call_with_fallback(
            PRIMARY, failing_on(PRIMARY, error=window), environ=KEYS, resolver=smaller
        )
    assert "not larger" in caught.value.skipped[0].reason
    assert call_with_fallback(
        PRIMARY, failing_on(PRIMARY, error=window), environ=KEYS, resolver=larger
    ).fallback_used


def test_max_attempts_bounds_the_call():
    """policy.max_attempts=1 means the requested model only: no backup is called."""
    single = make_resolver(overrides=["policy.max_attempts=1"])
    fn = failing_on(PRIMARY)

    with pytest.raises(FallbackExhausted) as caught:
        call_with_fallback(PRIMARY, fn, environ=KEYS, resolver=single)

    assert fn.calls == [PRIMARY]
    assert "max_attempts=1" in caught.value.reason


def test_never_the_same_provider_twice():
    """However the edges overlap, one call tries each provider at most once."""
    diamond = make_resolver(
        overrides=[
            f"++fallbacks={{{PRIMARY}: [{BACKUP}, kimi-k2-instruct], "
            f"{BACKUP}: [kimi-k2-instruct]}}",
            "policy.max_attempts=10",
        ]
    )
    fn = failing_on(PRIMARY, BACKUP, "kimi-k2-instruct")

    with pytest.raises(FallbackExhausted):
        call_with_fallback(PRIMARY, fn, environ=KEYS, resolver=diamond)

    assert fn.calls == [PRIMARY, BACKUP, "kimi-k2-instruct"]


def test_sync_deadline_stops_before_the_next_candidate(shipped):
    """Once the deadline has passed, no further candidate is started, and fn can read
    time_left() to cap its own timeout."""
    seen: list[float | None] = []

    def fn(provider: Provider) -> str:
        seen.append(resolver.time_left())
        import time

        time.sleep(0.15)
        raise TimeoutError("took too long")

    with pytest.raises(FallbackExhausted) as caught:
        call_with_fallback(PRIMARY, fn, environ=KEYS, deadline_s=0.1, resolver=shipped)

    assert len(seen) == 1
    assert seen[0] is not None
    assert 0 < seen[0] <= 0.1
    assert "deadline" in caught.value.reason


def test_async_fn_falls_back(shipped):
    """acall_with_fallback does the same for coroutine functions."""

    async def fn(provider: Provider) -> str:
        await asyncio.sleep(0)
        if provider.id == PRIMARY:
            raise ProviderError("timeout", "slow")
        return provider.id

    outcome = asyncio.run(acall_with_fallback(PRIMARY, fn, environ=KEYS, resolver=shipped))

    assert outcome.value == BACKUP


def test_unknown_and_disabled_models_are_refused(shipped):
    """Asking for an unknown or disabled model raises ModelUnavailable (a LookupError) with a
    hint, before fn is ever called."""
    fn = failing_on()
    with pytest.raises(ModelUnavailable, match="did you mean"):
        call_with_fallback("deepseek-r1-0528", fn, resolver=shipped)
    with pytest.raises(LookupError, match="disabled"):
        call_with_fallback("glm-4.6-syn", fn, resolver=shipped)
    assert fn.calls == []


def test_events_reach_callbacks_listeners_and_the_log(shipped, caplog):
    """Each attempt and each fallback is one log record on the 'resolver' logger and one event
    for on_event and for listeners added with add_listener."""
    mine: list[Event] = []
    everyone: list[Event] = []
    remove = resolver.add_listener(everyone.append)
    caplog.set_level(logging.DEBUG, logger="resolver")
    try:
        call_with_fallback(
            PRIMARY, failing_on(PRIMARY), environ=KEYS, on_event=mine.append, resolver=shipped
        )
    finally:
        remove()
    call_with_fallback(PRIMARY, failing_on(), environ=KEYS, resolver=shipped)

    kinds = [(e.kind, e.provider_id, e.error_class) for e in mine]
    assert kinds == [
        ("attempt", PRIMARY, "server"),
        ("fallback", PRIMARY, "server"),
        ("attempt", BACKUP, None),
    ]
    assert mine[1].target_id == BACKUP
    assert len(everyone) == 3  # the second call ran after the listener was removed
    records = [r for r in caplog.records if r.name == "resolver"]
    assert len(records) == 4
    assert all(r.resolver_event.requested == PRIMARY for r in records)


def test_retry_policy_keys_are_validated():
    """Bad values of the retry policy keys are configuration errors naming the key."""
    with pytest.raises(ConfigError) as caught:
        make_resolver(
            overrides=[
                "policy.retries=-1",
                "policy.retry_on=[sever]",
                "policy.retry_backoff_s=fast",
            ]
        )

    found = {(p.code, p.key) for p in caught.value.errors}
    assert found == {
        ("bad-value", "policy.retries"),
        ("bad-value", "policy.retry_on"),
        ("wrong-type", "policy.retry_backoff_s"),
    }


def test_exhausted_and_provider_errors_pickle(shipped):
    """FallbackExhausted and ProviderError survive pickling (worker pools send them back)."""
    import pickle

    with pytest.raises(FallbackExhausted) as caught:
        call_with_fallback(PRIMARY, failing_on(PRIMARY, BACKUP), environ=KEYS, resolver=shipped)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.attempts == caught.value.attempts
    error = pickle.loads(pickle.dumps(ProviderError("auth", "no", 401, provider_id="x")))
    assert (error.error_class, error.status, error.provider_id) == ("auth", 401, "x")


def test_provider_error_rejects_unknown_class():
    """A misspelt error class is a ValueError at the raise site, not a silent non-fallback."""
    with pytest.raises(ValueError, match="rate_limit"):
        ProviderError("ratelimit", "x")  # type: ignore[arg-type]


def test_import_stays_light():
    """import resolver loads neither Hydra nor httpx; chat is resolved on first use."""
    code = (
        "import sys, resolver; assert 'hydra' not in sys.modules and 'httpx' not in sys.modules;"
        "resolver.achat; assert 'httpx' in sys.modules and 'hydra' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (429, "", "rate_limit"),
        (401, "", "auth"),
        (403, "", "auth"),
        (408, "", "timeout"),
        (504, "", "timeout"),
        (413, "", "context_window"),
        (400, "This model's maximum context length is 8192 tokens", "context_window"),
        (400, "Your prompt was flagged by our moderation system", "content_policy"),
        (500, "", "server"),
        (503, "", "server"),
        (400, "missing field 'messages'", "bad_request"),
        (404, "model not found", "not_found"),
    ],
)
def test_http_statuses_get_their_documented_class(status, message, expected):
    """Vendor statuses and error messages map to the documented error classes."""
    from resolver.classify import classify_status

    assert classify_status(status, message) == expected


def test_retry_after_reads_seconds_and_http_dates():
    """Retry-After is read as delta-seconds or as an HTTP date, never negative."""
    from datetime import datetime, timedelta
    from email.utils import format_datetime

    from resolver.classify import parse_retry_after

    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= parse_retry_after(later) <= 30
