"""``fallback=False`` on the non-streaming calls: the requested model alone, never a backup."""

from __future__ import annotations

import asyncio

import pytest
from conftest import BACKUP, MESSAGES, PRIMARY

from resolver import FallbackExhausted
from resolver.http import achat, chat


def test_achat_without_fallback_never_calls_the_backup(chat_server, roomy, keys):
    """achat(fallback=False) on a failing primary raises FallbackExhausted naming only the
    primary, and the backup gets no request."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "server")

    with pytest.raises(FallbackExhausted) as caught:
        asyncio.run(achat(PRIMARY, MESSAGES, resolver=roomy, environ=keys, fallback=False))

    assert [a.provider_id for a in caught.value.attempts] == [PRIMARY]
    assert "fallback=False" in str(caught.value)
    assert chat_server.requests_for(roomy.providers[BACKUP].model) == []


def test_chat_without_fallback_still_serves_from_a_healthy_primary(chat_server, roomy, keys):
    """chat(fallback=False) on a healthy primary serves from it, as with fallback on."""
    outcome = chat(PRIMARY, MESSAGES, resolver=roomy, environ=keys, fallback=False)

    assert outcome.served_by == PRIMARY
    assert not outcome.fallback_used


def test_chat_with_fallback_on_serves_from_the_backup(chat_server, roomy, keys):
    """The same failing primary with fallback on is served by the backup: the opt-out is what
    stopped it."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "server")

    outcome = chat(PRIMARY, MESSAGES, resolver=roomy, environ=keys)

    assert outcome.served_by == BACKUP
