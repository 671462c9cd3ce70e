"""Per-edge triggers (edge_policy.<source>.backup_on): a backup listed with classes is taken
only after a failure of one of them, as LiteLLM's context-window and content-policy lists are."""

from __future__ import annotations

import pytest

import resolver
from resolver import ConfigError, FallbackExhausted
from resolver.testing import fail_calls

from .conftest import BACKUP, A, B

HI = [{"role": "user", "content": "hi"}]
SOURCE = "deepseek-v3-0324-syn"

EDGES = f"""
fallbacks:
  {SOURCE}: [{A}, {B}]
edge_policy:
  {SOURCE}:
    backup_on:
      {A}: [rate_limit, server, timeout, connection]
      {B}: [context_window]
"""


def test_a_context_window_edge_is_taken_only_on_context_window(grouped, keys):
    """A server error goes to the general backup and never to the context-window one; a
    context-window error goes to the context-window backup and skips the general one."""
    r = grouped(EDGES)
    with fail_calls(SOURCE, error_class="server"):
        served = resolver.chat(SOURCE, HI, environ=keys, resolver=r)
    assert served.served_by == A
    with (
        fail_calls(SOURCE, A, error_class="server"),
        pytest.raises(FallbackExhausted) as e,
    ):
        resolver.chat(SOURCE, HI, environ=keys, resolver=r.with_health())
    assert [a.provider_id for a in e.value.attempts] == [SOURCE, A]
    assert any(s.provider_id == B and "only on context_window" in s.reason for s in e.value.skipped)
    with fail_calls(SOURCE, error_class="context_window"):
        cw = resolver.chat(SOURCE, HI, environ=keys, resolver=r.with_health())
    assert cw.served_by == B
    assert cw.skipped[0].provider_id == A
    explained = str(r.explain(SOURCE, environ=keys))
    assert "taken only on context_window" in explained


def test_a_trigger_for_a_model_that_is_not_a_backup_is_refused(grouped):
    """backup_on naming a model that is not one of the source's backups, or an unknown class,
    is an error at its key."""
    with pytest.raises(ConfigError) as caught:
        grouped(
            f"""
            fallbacks:
              {SOURCE}: [{A}]
            edge_policy:
              {SOURCE}:
                backup_on:
                  {BACKUP}: [server]
                  {A}: [servers]
            """
        )
    by_code = {p.code: p for p in caught.value.errors}
    assert by_code["unknown-backup"].key == f"edge_policy.{SOURCE}.backup_on.{BACKUP}"
    assert by_code["bad-value"].key == f"edge_policy.{SOURCE}.backup_on.{A}"
