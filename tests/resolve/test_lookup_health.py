"""Lookups skip exactly the providers out of rotation, however health changed before."""

from __future__ import annotations

from conftest import BACKUP, PRIMARY

from resolver.testing import make_resolver, mark_unhealthy

KEYS = {"SYNTHETIC_API_KEY": "k1", "TOGETHER_API_KEY": "k2"}
OTHER = "kimi-k2-thinking-syn"


def test_lookup_skips_an_out_provider_until_it_is_back():
    """A backup out of rotation is skipped by lookups even after another provider recovers,
    and offered again once it is reset."""
    r = make_resolver(env="prod")
    assert r.get_fallback_provider(PRIMARY, environ=KEYS).id == BACKUP

    mark_unhealthy(r, BACKUP)
    mark_unhealthy(r, OTHER)
    r.health.record_success(OTHER)  # another provider's recovery leaves BACKUP out

    assert r.get_fallback_provider(PRIMARY, environ=KEYS) is None  # BACKUP is its only backup
    assert r.get_fallback_chain(PRIMARY, environ=KEYS) == ()

    r.health.reset(BACKUP)
    assert r.get_fallback_provider(PRIMARY, environ=KEYS).id == BACKUP
    assert r.get_fallback_chain(PRIMARY, environ=KEYS)[0].id == BACKUP


def test_a_failure_below_the_threshold_keeps_lookups_offering_it():
    """Failures short of failure_threshold leave the provider offered by lookups."""
    r = make_resolver(env="prod")
    r.health.record_failure(BACKUP, "server")
    assert r.get_fallback_provider(PRIMARY, environ=KEYS).id == BACKUP
