"""Per-deployment rpm and tpm limits: a member at its limit is passed over, never charged to
health, and a call that finds every candidate limited ends with a class of its own."""

from __future__ import annotations

import collections

import pytest

import resolver
from resolver import FallbackExhausted

from .conftest import BACKUP, A, B

HI = [{"role": "user", "content": "hi"}]


def test_a_member_at_its_rpm_limit_is_passed_over_without_health_cost(grouped, keys):
    """With rpm: 3 on the first member, the fourth call of the minute goes to the second, and the
    first member's health counts no failure."""
    r = grouped(
        f"""
        groups:
          o: [{A}, {B}]
        models:
          {A}: {{rpm: 3}}
        """
    )
    served = [resolver.chat("o", HI, environ=keys, resolver=r) for _ in range(5)]
    assert [o.served_by for o in served] == [A, A, A, B, B]
    assert served[3].skipped[0].limited
    assert "rpm limit" in served[3].skipped[0].reason
    assert r.health.state(A).failures == 0


def test_every_candidate_limited_is_its_own_class(grouped, keys):
    """When every member and backup is at its limit, nothing is sent: FallbackExhausted says so
    and is marked limited, and a fallback event of class ``limited`` led to the backup."""
    r = grouped(
        f"""
        groups:
          o: [{A}]
        fallbacks:
          o: [{BACKUP}]
        models:
          {A}: {{rpm: 1}}
          {BACKUP}: {{rpm: 1}}
        """
    )
    events = []
    resolver.chat("o", HI, environ=keys, resolver=r)
    second = resolver.chat("o", HI, environ=keys, resolver=r, on_event=events.append)
    assert second.served_by == BACKUP
    assert [(e.kind, e.error_class) for e in events if e.kind == "fallback"] == [
        ("fallback", "limited")
    ]
    with pytest.raises(FallbackExhausted) as caught:
        resolver.chat("o", HI, environ=keys, resolver=r)
    assert caught.value.limited
    assert caught.value.attempts == ()
    assert "rpm/tpm limit" in caught.value.reason


def test_tpm_counts_the_tokens_responses_report(grouped, chat_server, keys):
    """A member whose responses used up its tpm is passed over until the minute has gone."""
    r = grouped(
        f"""
        groups:
          o: [{A}, {B}]
        models:
          {A}: {{tpm: 1}}
        """
    )
    served = collections.Counter(
        resolver.chat("o", HI, environ=keys, resolver=r).served_by for _ in range(3)
    )
    assert served == {A: 1, B: 2}
