"""Each strategy against real upstreams on 127.0.0.1: the upstreams' own request counts are
the split a group made."""

from __future__ import annotations

import asyncio
import collections

import pytest

import resolver

from .conftest import BACKUP, A, B, C, model_of

HI = [{"role": "user", "content": "hi"}]


def test_weighted_picks_honour_the_weights_within_one_percent(grouped, keys):
    """Over 100,000 picks with every member healthy, each member's share is within 1% of its
    weight's share."""
    r = grouped(
        f"""
        groups:
          w:
            strategy: weighted
            members: {{{A}: {{weight: 5}}, {B}: {{weight: 3}}, {C}: {{weight: 2}}}}
        """
    )
    picks = collections.Counter(r.pick("w", environ=keys).id for _ in range(100_000))
    for member, share in ((A, 0.5), (B, 0.3), (C, 0.2)):
        assert abs(picks[member] / 100_000 - share) < 0.01, picks


def test_weighted_group_served_through_achat_splits_by_weight(grouped, chat_server, keys):
    """2,000 calls to a 3:1 weighted group through achat reach the two upstreams about 3:1
    (within 3%), and each outcome names the group and the deployment that served."""
    r = grouped(
        f"groups:\n  w: {{strategy: weighted, members: {{{A}: {{weight: 3}}, {B}: {{}}}}}}\n"
    )

    async def burst():
        return await asyncio.gather(
            *(resolver.achat("w", HI, environ=keys, resolver=r) for _ in range(2000))
        )

    outcomes = asyncio.run(burst())
    assert {o.group for o in outcomes} == {"w"}
    assert not any(o.fallback_used for o in outcomes)
    counted = collections.Counter(q.model for q in chat_server.requests)
    assert sum(counted.values()) == 2000
    assert abs(counted[model_of(r, A)] / 2000 - 0.75) < 0.03, counted
    served = collections.Counter(o.served_by for o in outcomes)
    assert served[A] == counted[model_of(r, A)]


def test_ordered_takes_members_by_order_then_the_groups_backup(grouped, chat_server, keys):
    """An ordered group serves from its lowest order; when that member fails the next member
    serves (not a fallback); when every member fails the group's own backup serves."""
    r = grouped(
        f"""
        groups:
          o: {{members: {{{A}: {{order: 2}}, {B}: {{order: 1}}}}}}
        fallbacks:
          o: [{BACKUP}]
        """
    )
    first = resolver.chat("o", HI, environ=keys, resolver=r)
    assert (first.served_by, first.group, first.fallback_used) == (B, "o", False)
    chat_server.set_fault(model_of(r, B), "server")
    second = resolver.chat("o", HI, environ=keys, resolver=r)
    assert (second.served_by, second.group, second.fallback_used) == (A, "o", False)
    assert [a.provider_id for a in second.attempts] == [B, A]
    chat_server.set_fault(model_of(r, A), "server")
    third = resolver.chat("o", HI, environ=keys, resolver=r.with_health())
    assert (third.served_by, third.group, third.fallback_used) == (BACKUP, None, True)


def test_a_member_out_of_rotation_is_skipped_and_named(grouped, chat_server, keys):
    """Health gates membership: a member taken out of rotation is passed over, with its reason
    in the outcome and in explain, and the other member serves."""
    r = grouped(f"groups:\n  o: [{A}, {B}]\n")
    chat_server.set_fault(model_of(r, A), "server")
    for _ in range(3):  # the shipped failure_threshold
        resolver.chat("o", HI, environ=keys, resolver=r)
    assert not r.health.in_rotation(A)
    chat_server.clear()
    outcome = resolver.chat("o", HI, environ=keys, resolver=r)
    assert outcome.served_by == B
    assert [s.provider_id for s in outcome.skipped] == [A]
    explained = r.explain("o", environ=keys)
    assert [(m.provider_id, m.status) for m in explained.members] == [
        (A, "skipped"),
        (B, "chosen"),
    ]
    assert "out of rotation" in explained.members[0].reason


def test_least_busy_sends_concurrent_calls_to_the_idle_member(grouped, chat_server, keys):
    """With one member's calls slow and in flight, least-busy sends the next calls to the
    members with none in flight, so 30 concurrent calls spread evenly over three members."""
    r = grouped(f"groups:\n  lb: {{strategy: least-busy, members: [{A}, {B}, {C}]}}\n")
    for member in (A, B, C):
        chat_server.set_fault(model_of(r, member), "slow", delay_s=0.3)

    async def burst():
        return await asyncio.gather(
            *(resolver.achat("lb", HI, environ=keys, resolver=r) for _ in range(30))
        )

    outcomes = asyncio.run(burst())
    served = collections.Counter(o.served_by for o in outcomes)
    assert sorted(served.values()) == [10, 10, 10], served
    assert r.load.in_flight == {}  # every call ended is no longer counted


def test_latency_prefers_the_member_that_answers_faster(grouped, chat_server, keys):
    """After each member has answered once, a latency group sends calls to the member whose
    moving average is lowest: the fast upstream gets nearly all of them."""
    r = grouped(f"groups:\n  lat: {{strategy: latency, members: [{A}, {B}]}}\n")
    chat_server.set_fault(model_of(r, A), "slow", delay_s=0.15)
    served = collections.Counter(
        resolver.chat("lat", HI, environ=keys, resolver=r).served_by for _ in range(12)
    )
    assert served[B] >= 10, served
    assert r.load.latency(A) > r.load.latency(B)


@pytest.mark.parametrize("strategy", ["ordered", "weighted", "least-busy", "latency"])
def test_a_group_with_every_member_out_falls_back_on_its_edges(grouped, keys, strategy):
    """When no member is left, the group's fallback edges apply, whatever the strategy."""
    r = grouped(
        f"""
        groups:
          g: {{strategy: {strategy}, members: [{A}, {B}]}}
        fallbacks:
          g: [{BACKUP}]
        """
    )
    with resolver.testing.fail_calls(A, B):
        outcome = resolver.chat("g", HI, environ=keys, resolver=r)
    assert outcome.served_by == BACKUP
    assert outcome.fallback_used
    assert {a.provider_id for a in outcome.attempts[:2]} == {A, B}


def test_an_edge_to_a_group_reaches_its_members(grouped, keys):
    """A model falling back to a group is served by the group's members, attributed to both."""
    r = grouped(
        f"""
        groups:
          g: {{members: [{A}, {B}]}}
        fallbacks:
          deepseek-v3-0324-syn: [g]
        """
    )
    assert r.get_fallback_provider("deepseek-v3-0324-syn", environ=keys).id == A
    with resolver.testing.fail_calls("deepseek-v3-0324-syn", A):
        outcome = resolver.chat("deepseek-v3-0324-syn", HI, environ=keys, resolver=r)
    assert (outcome.served_by, outcome.group, outcome.fallback_used) == (B, "g", True)
    assert r.stats()["deepseek-v3-0324-syn"].served_by_fallback == {B: 1}
