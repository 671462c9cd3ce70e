"""The same-model retry wait: the vendor's Retry-After decides it, not the default backoff.

Each case sets the default backoff and the header so far apart that the two lead to different
*outcomes* (a retry on the requested model, or a move to its backup), so a resolver that ignored
the header could not pass on timing luck.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from conftest import BACKUP, MESSAGES, PRIMARY

import resolver
from resolver import Outcome, Resolver
from resolver.http import ChatResult
from resolver.testing import ChatServer, make_resolver


def chat(mode: str, r: Resolver, **kwargs: Any) -> Outcome[ChatResult]:
    if mode == "sync":
        return resolver.chat(PRIMARY, MESSAGES, **kwargs, resolver=r)
    return asyncio.run(resolver.achat(PRIMARY, MESSAGES, **kwargs, resolver=r))


def retrying(server: ChatServer, backoff_s: float, max_wait_s: float) -> Resolver:
    return make_resolver(
        overrides=[
            *server.overrides(),
            "policy.retries=1",
            f"policy.retry_backoff_s={backoff_s}",
            f"policy.retry_max_wait_s={max_wait_s}",
        ]
    )


def test_a_short_retry_after_is_waited_for_though_the_backoff_is_over_the_cap(
    mode, server, chat_server, keys
):
    """A 429 whose Retry-After (0.05 s) is under the cap is retried on the requested model,
    even when the default backoff (30 s) alone would exceed the cap and move to the backup."""
    r = retrying(server, backoff_s=30, max_wait_s=1)
    chat_server.set_fault(r.providers[PRIMARY].model, "rate_limit", times=1, retry_after=0.05)

    outcome = chat(mode, r, environ=keys)

    assert outcome.served_by == PRIMARY
    assert [(a.provider_id, a.error_class) for a in outcome.attempts] == [
        (PRIMARY, "rate_limit"),
        (PRIMARY, None),
    ]


def test_a_long_retry_after_moves_to_the_backup_though_the_backoff_is_short(
    mode, server, chat_server, keys
):
    """A 429 whose Retry-After (30 s) is over the cap goes to the backup at once, even when the
    default backoff (0.01 s) would have allowed a retry on the requested model."""
    r = retrying(server, backoff_s=0.01, max_wait_s=1)
    chat_server.set_fault(r.providers[PRIMARY].model, "rate_limit", times=1, retry_after=30)

    outcome = chat(mode, r, environ=keys)

    assert outcome.served_by == BACKUP
    assert [a.provider_id for a in outcome.attempts] == [PRIMARY, BACKUP]


def test_the_retry_waits_the_retry_after_not_the_backoff(mode, server, chat_server, keys):
    """With a 0.01 s backoff and a 0.6 s Retry-After, the retry starts no sooner than 0.6 s
    after the 429."""
    r = retrying(server, backoff_s=0.01, max_wait_s=5)
    chat_server.set_fault(r.providers[PRIMARY].model, "rate_limit", times=1, retry_after=0.6)
    starts: list[float] = []

    def on_event(event: Any) -> None:
        if event.kind == "attempt":
            starts.append(time.monotonic() - event.seconds)

    outcome = chat(mode, r, environ=keys, on_event=on_event)

    assert outcome.served_by == PRIMARY
    first_ended = starts[0] + outcome.attempts[0].seconds
    assert starts[1] - first_ended >= 0.55  # a lower bound only: sleeps are never shorter
