"""Streams route through groups: a member failing before its first token hands over to the next
member, the outcome names the group, and a latency group ranks streams by time to first token."""

from __future__ import annotations

import resolver

from .conftest import A, B, model_of

HI = [{"role": "user", "content": "hi"}]


def test_a_stream_to_a_group_hands_over_to_the_next_member_before_content(
    grouped, chat_server, keys
):
    """With the first member answering 500, the stream is served whole by the second member,
    attributed to the group, and not counted as a fallback."""
    r = grouped(f"groups:\n  o: [{A}, {B}]\n")
    chat_server.set_fault(model_of(r, A), "server")
    with resolver.chat_stream("o", HI, environ=keys, resolver=r) as stream:
        text = "".join(chunk.content or "" for chunk in stream)
    outcome = stream.outcome
    assert text
    assert (outcome.served_by, outcome.group, outcome.fallback_used) == (B, "o", False)
    assert [a.provider_id for a in outcome.attempts] == [A, B]


def test_a_latency_group_ranks_streams_by_time_to_first_token(grouped, keys):
    """A served stream reports its time to first token, and a latency group's load keeps it."""
    r = grouped(f"groups:\n  lat: {{strategy: latency, members: [{A}, {B}]}}\n")
    with resolver.chat_stream("lat", HI, environ=keys, resolver=r) as stream:
        for _ in stream:
            pass
    outcome = stream.outcome
    first_token = outcome.value.first_token_s
    assert first_token is not None
    assert first_token >= 0
    assert r.load.latency(outcome.served_by) == first_token
