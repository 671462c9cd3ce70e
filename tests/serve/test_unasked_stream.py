"""A vendor that answers with an event stream when nothing asked for one is at fault: the call
falls back (counted against it), and what the gateway says is true."""

from __future__ import annotations

from gateway_support import gateway_for, sdk, serving

import resolver

PRIMARY, BACKUP = "deepseek-r1-0528-syn", "deepseek-r1"
HI = [{"role": "user", "content": "hi"}]


def test_an_unasked_stream_falls_back_and_counts_against_the_vendor(roomy, chat_server, keys):
    """The built-in client names it bad_response, the backup serves, and the primary's health
    counts the failure."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "unasked_stream")
    outcome = resolver.chat(PRIMARY, HI, environ=keys, resolver=roomy)
    assert outcome.served_by == BACKUP
    first = outcome.attempts[0]
    assert first.error_class == "bad_response"
    assert "nothing in the request asked for" in first.message
    assert roomy.health.state(PRIMARY).failures == 1


def test_the_gateway_serves_the_backup_instead(roomy, chat_server, keys):
    """Through the gateway the SDK gets the backup's answer; no message blames the request."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "unasked_stream")
    with serving(gateway_for(roomy, keys)) as url:
        raw = sdk(url).chat.completions.with_raw_response.create(model=PRIMARY, messages=HI)
    assert raw.headers["x-fallback-served-by"] == BACKUP
    assert raw.parse().model == BACKUP
