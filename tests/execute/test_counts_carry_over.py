"""Resolver.counting_on: a newly loaded config takes over the call counts of the one it
replaces, both keep adding to them, and only the models the new config declares show."""

from __future__ import annotations

from conftest import BACKUP, PRIMARY

import resolver
from resolver import Provider
from resolver.testing import make_resolver

KEYS = {"SYNTHETIC_API_KEY": "k", "TOGETHER_API_KEY": "k"}


def served(provider: Provider) -> str:
    return provider.id


def test_a_new_config_keeps_counting_where_the_old_one_was(config_tree):
    """Calls through the old config before and after the swap (a call in flight) and through
    the new one all count once in the new config's stats; a model only the old config declared
    is not shown."""
    deploy = config_tree(
        {
            "env/wide.yaml": """
                # @package _global_
                defaults:
                  - override /providers: [synthetic, together, extra]
                """,
            "providers/extra.yaml": """
                extra:
                  base_url: http://127.0.0.1:9/v1
                  api_key_env: null
                  models:
                    gone-soon: {model: g, tier: budget, pricing: {prompt: 1, completion: 2}}
                """,
        }
    )
    old = make_resolver(env="wide", config_dirs=[deploy])
    for model in (PRIMARY, PRIMARY, "gone-soon"):
        resolver.call_with_fallback(model, served, environ=KEYS, resolver=old)

    new = make_resolver(env="prod").counting_on(old)
    resolver.call_with_fallback(PRIMARY, served, environ=KEYS, resolver=old)  # in flight
    resolver.call_with_fallback(BACKUP, served, environ=KEYS, resolver=new)

    stats = new.stats()
    assert (stats[PRIMARY].calls, stats[BACKUP].calls) == (3, 1)
    assert "gone-soon" not in stats
    assert old.stats()["gone-soon"].calls == 1
