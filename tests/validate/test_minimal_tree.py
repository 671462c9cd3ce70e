"""The smallest configuration is vendors and their models: a tree with no fallbacks, no model
patches, no edge policies and no policy loads, with no backups and the documented policy."""

from __future__ import annotations

import textwrap

import pytest

import resolver
from resolver.catalog import Policy


def test_a_tree_of_providers_alone_loads_with_the_default_policy(tmp_path) -> None:
    """A config tree that declares only a vendor and its model loads: the model has no backups
    and the policy is the documented default."""
    root = tmp_path / "tree"
    (root / "providers").mkdir(parents=True)
    (root / "config.yaml").write_text(
        "defaults:\n  - providers: [solo]\n  - _self_\n", encoding="utf-8"
    )
    (root / "providers" / "solo.yaml").write_text(
        textwrap.dedent(
            """\
            solo:
              base_url: http://127.0.0.1:9/v1
              api_key_env: null
              models:
                only: {model: o, tier: budget, pricing: {prompt: 1, completion: 2}}
            """
        ),
        encoding="utf-8",
    )
    r = resolver.load(config_path=root, environ={})
    assert list(r.providers) == ["only"]
    assert dict(r.fallbacks) == {}
    assert dict(r.edge_policy) == {}
    assert r.policy == Policy()


def test_a_tree_without_vendors_says_so(tmp_path) -> None:
    """A config tree that declares no vendor at all is one error asking for providers, not a
    crash."""
    root = tmp_path / "tree"
    root.mkdir()
    (root / "config.yaml").write_text("fallbacks: {}\n", encoding="utf-8")
    with pytest.raises(resolver.ConfigError) as info:
        resolver.load(config_path=root, environ={})
    assert [(p.code, p.key) for p in info.value.errors] == [("missing-field", "providers")]
