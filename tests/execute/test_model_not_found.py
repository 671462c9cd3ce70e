"""A model missing at one vendor (404 model_not_found) is the route's fault: it falls back and
counts against the provider's health, unlike a bad request."""

from __future__ import annotations

import asyncio

import pytest
from conftest import BACKUP, MESSAGES, PRIMARY

import resolver
from resolver import ProviderError
from resolver.testing import make_resolver


def run_chat(mode, r, **kwargs):
    if mode == "sync":
        return resolver.chat(PRIMARY, MESSAGES, **kwargs, resolver=r)
    return asyncio.run(resolver.achat(PRIMARY, MESSAGES, **kwargs, resolver=r))


def test_model_not_found_falls_back_to_the_backup(mode, roomy, chat_server, keys):
    """A 404 model_not_found on the requested model is served by its backup on the other
    vendor, and the attempt is recorded as not_found with status 404."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "not_found")

    outcome = run_chat(mode, roomy, environ=keys)

    assert outcome.served_by == BACKUP
    first, second = outcome.attempts
    assert (first.provider_id, first.error_class, first.status) == (PRIMARY, "not_found", 404)
    assert "does not exist" in first.message
    assert second.ok


def test_model_not_found_counts_against_health(roomy, chat_server, keys):
    """After failure_threshold not_found failures the model leaves rotation, and the next call
    goes straight to the backup without calling it."""
    primary = roomy.providers[PRIMARY].model
    chat_server.set_fault(primary, "not_found")
    threshold = roomy.policy.health.failure_threshold

    for _ in range(threshold):
        resolver.chat(PRIMARY, MESSAGES, environ=keys, resolver=roomy)
    assert not roomy.health.state(PRIMARY).in_rotation

    outcome = resolver.chat(PRIMARY, MESSAGES, environ=keys, resolver=roomy)

    assert outcome.served_by == BACKUP
    assert len(chat_server.requests_for(primary)) == threshold


def test_bad_request_still_never_falls_back_nor_counts(roomy, chat_server, keys):
    """A 400 bad request, which any backup would reject too, is raised as it is and leaves the
    model's health untouched, next to not_found which does both."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "bad_request")

    with pytest.raises(ProviderError) as caught:
        resolver.chat(PRIMARY, MESSAGES, environ=keys, resolver=roomy)

    assert caught.value.error_class == "bad_request"
    assert roomy.health.state(PRIMARY).failures == 0
    assert chat_server.requests_for(roomy.providers[BACKUP].model) == []


def test_shipped_policy_lists_not_found():
    """not_found is a documented error class, and the shipped policy falls back on it and
    counts it against health, while bad_request does neither."""
    policy = resolver.load().policy

    assert "not_found" in resolver.ERROR_CLASSES
    assert "not_found" in policy.fallback_on
    assert "not_found" in policy.health.counts
    assert "bad_request" not in policy.fallback_on
    assert "bad_request" not in policy.health.counts


def test_edge_policy_can_turn_not_found_fallback_off(chat_server, keys):
    """A source whose edge policy leaves not_found out of fallback_on raises the 404 as it is."""
    r = make_resolver(
        env="prod",
        overrides=[
            *chat_server.overrides(),
            f"++edge_policy={{{PRIMARY}: {{fallback_on: [server]}}}}",
        ],
    )
    chat_server.set_fault(r.providers[PRIMARY].model, "not_found")

    with pytest.raises(ProviderError) as caught:
        resolver.chat(PRIMARY, MESSAGES, environ=keys, resolver=r)

    assert (caught.value.error_class, caught.value.status) == ("not_found", 404)
