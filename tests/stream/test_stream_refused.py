"""``stream=True`` through chat/achat is refused before any request, and an event stream that
answers how *we* asked is never charged to the provider."""

from __future__ import annotations

import asyncio

import pytest
from conftest import BACKUP, MESSAGES, PRIMARY

import resolver
from resolver import ProviderError, UnsupportedParameter, call_with_fallback
from resolver.http import Client


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stream_true_is_refused_before_any_request(mode, roomy, chat_server, keys):
    """chat/achat with stream=True raise UnsupportedParameter naming the parameter; the server
    sees no request and no provider's health or counts change."""

    def ask() -> object:
        if mode == "sync":
            return resolver.chat(PRIMARY, MESSAGES, environ=keys, stream=True, resolver=roomy)
        return asyncio.run(
            resolver.achat(PRIMARY, MESSAGES, environ=keys, stream=True, resolver=roomy)
        )

    with pytest.raises(UnsupportedParameter) as caught:
        ask()

    assert caught.value.param == "stream=True"
    assert "nothing was sent" in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert chat_server.requests == []
    assert roomy.health.state(PRIMARY).failures == 0
    assert all(s.calls == 0 for s in roomy.stats().values())


def test_stream_false_passes_through(roomy, chat_server, keys):
    """stream=False is an ordinary request: it is sent as it is and served."""
    outcome = resolver.chat(PRIMARY, MESSAGES, environ=keys, stream=False, resolver=roomy)

    assert outcome.value.content == f"ok from {roomy.providers[PRIMARY].model}"
    assert chat_server.requests[0].body["stream"] is False


def test_event_stream_answer_is_the_requests_fault(roomy, chat_server, keys):
    """When a request made with the built-in client asks for streaming and the vendor answers
    with an event stream, the failure is a bad_request: it does not fall back, and however
    often it happens the provider stays in rotation."""
    with Client() as client:
        for _ in range(roomy.policy.health.failure_threshold + 1):
            with pytest.raises(ProviderError) as caught:
                call_with_fallback(
                    PRIMARY,
                    lambda p: client.call(p, MESSAGES, {"stream": True}, keys),
                    resolver=roomy,
                    environ=keys,
                )
            assert caught.value.error_class == "bad_request"
            assert "event stream" in caught.value.message

    assert roomy.health.state(PRIMARY).in_rotation
    assert roomy.health.state(PRIMARY).failures == 0
    assert chat_server.requests_for(roomy.providers[BACKUP].model) == []


def test_unsupported_parameter_is_public():
    """UnsupportedParameter is exported and is a ResolverError."""
    assert "UnsupportedParameter" in resolver.__all__
    assert issubclass(resolver.UnsupportedParameter, resolver.ResolverError)
