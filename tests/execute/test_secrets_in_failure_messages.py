"""A key value in the text of a failure the user's call raised (a timeout, a dropped
connection, an httpx transport error, or an error the user's own classify hook names) is
masked in the attempt's message."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from conftest import BACKUP, PRIMARY

from resolver import (
    ErrorClass,
    FallbackExhausted,
    Provider,
    ProviderError,
    Resolver,
    call_with_fallback,
)

KEYS = {
    "SYNTHETIC_API_KEY": "sk-syn-4f9a1c0e7b2d4e8f9a6b3c5d",
    "TOGETHER_API_KEY": "tgp-v1-0d8e7c6b5a4f3e2d1c0b9a8f",
}


class VendorQuirk(Exception):
    """A user's own error, classified by the user's own hook."""


def user_classify(exc: BaseException) -> ErrorClass | None:
    return "server" if isinstance(exc, VendorQuirk) else None


ERRORS: dict[str, tuple[Callable[[str], Exception], ErrorClass]] = {
    "timeout": (lambda key: TimeoutError(f"read timed out, sent {key}"), "timeout"),
    "connection": (lambda key: ConnectionError(f"reset by peer, sent {key}"), "connection"),
    "httpx": (lambda key: httpx.ConnectError(f"cannot connect, sent {key}"), "connection"),
    "classify hook": (lambda key: VendorQuirk(f"odd reply to {key}"), "server"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_a_key_in_a_failures_text_is_masked(name: str, roomy: Resolver) -> None:
    """The primary fails with an error whose text holds its key; the attempt records the
    error's class and its text with the key masked."""
    make, error_class = ERRORS[name]

    def call(provider: Provider) -> str:
        if provider.id == PRIMARY:
            raise make(KEYS[provider.api_key_env])
        return "ok"

    outcome = call_with_fallback(
        PRIMARY, call, resolver=roomy, environ=KEYS, classify=user_classify
    )

    assert outcome.served_by == BACKUP
    attempt = outcome.attempts[0]
    assert attempt.error_class == error_class
    assert "sent ***" in attempt.message or "reply to ***" in attempt.message
    assert not any(key in repr(outcome.attempts) for key in KEYS.values())


class RateLimited(Exception):
    """A user's own 429 whose text echoes the key, with the vendor's response attached."""

    status_code = 429

    def __init__(self, key: str) -> None:
        super().__init__(f"slow down, {key}")
        self.response = httpx.Response(429, headers={"Retry-After": "7"})


def test_a_masked_failure_keeps_its_retry_after(roomy: Resolver) -> None:
    """When every provider fails with a 429 whose text holds the key, the masked error chained
    in its place keeps the class, the status and the vendor's Retry-After."""

    def call(provider: Provider) -> str:
        raise RateLimited(KEYS[provider.api_key_env])

    with pytest.raises(FallbackExhausted) as caught:
        call_with_fallback(PRIMARY, call, resolver=roomy, environ=KEYS)

    cause = caught.value.__cause__
    assert isinstance(cause, ProviderError)
    assert (cause.error_class, cause.status, cause.retry_after) == ("rate_limit", 429, 7.0)
    assert "slow down, ***" in str(cause)
