"""A vendor's Retry-After is read from an error whose response headers are a plain mapping,
with the names lowercase as HTTP/2 carries them or spelled as an HTTP/1.1 server sends them:
it decides the same-model retry."""

from __future__ import annotations

from pathlib import Path

import pytest

import resolver
from resolver import Provider, call_with_fallback

KEYS = {"OWN_TREE_KEY": "k-own"}


class RawResponse:
    """A client's response that keeps the header names as they came (lowercase on HTTP/2)."""

    def __init__(self, status_code: int, headers: dict[str, str]) -> None:
        self.status_code = status_code
        self.headers = headers


class VendorError(Exception):
    """A user's HTTP client's status error, carrying the response."""

    def __init__(self, response: RawResponse) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


@pytest.mark.parametrize("name", ["retry-after", "Retry-After", "RETRY-AFTER"])
def test_a_retry_after_in_a_plain_dict_sets_the_retry_wait(own_tree: Path, name: str) -> None:
    """With a 5 s backoff capped at 1 s (no retry without a hint), a 429 carrying
    Retry-After: 0 in a plain dict, however the name is spelled, is retried on the same
    model, which then serves."""
    r = resolver.load(
        config_path=own_tree,
        overrides=["policy.retries=1", "policy.retry_backoff_s=5", "policy.retry_max_wait_s=1"],
        environ=KEYS,
    )
    calls: list[str] = []

    def once_limited(provider: Provider) -> str:
        calls.append(provider.id)
        if len(calls) == 1:
            raise VendorError(RawResponse(429, {name: "0"}))
        return provider.id

    outcome = call_with_fallback("think", once_limited, resolver=r, environ=KEYS)
    assert calls == ["think", "think"]
    assert outcome.served_by == "think"
    assert outcome.attempts[0].error_class == "rate_limit"


def test_without_a_hint_the_capped_backoff_moves_on_to_the_backup(own_tree: Path) -> None:
    """The same policy and a 429 without Retry-After moves on to the backup at once, since the
    5 s backoff is over the 1 s cap."""
    r = resolver.load(
        config_path=own_tree,
        overrides=["policy.retries=1", "policy.retry_backoff_s=5", "policy.retry_max_wait_s=1"],
        environ=KEYS,
    )
    calls: list[str] = []

    def limited_once(provider: Provider) -> str:
        calls.append(provider.id)
        if len(calls) == 1:
            raise VendorError(RawResponse(429, {}))
        return provider.id

    outcome = call_with_fallback("think", limited_once, resolver=r, environ=KEYS)
    assert calls == ["think", "plain"]
    assert outcome.served_by == "plain"
