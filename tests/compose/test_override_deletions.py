"""A required key that a `~key` override removed is blamed on that override, not on the file
that has the key; a key no override touched is still blamed on its file."""

from __future__ import annotations

import pytest

import resolver
from resolver import ConfigError


@pytest.mark.parametrize(
    "key",
    [
        "providers.synthetic.base_url",
        "providers.together.models.kimi-k2-instruct.model",
    ],
)
def test_a_key_an_override_removed_names_the_override(key: str):
    """`~KEY`: the missing-field problem, and every other at or under KEY, names the
    override, not the vendor file that declares the key."""
    line = f"~{key}"
    with pytest.raises(ConfigError) as caught:
        resolver.load(overrides=[line], environ={})
    under = [p for p in caught.value.problems if p.key and p.key.startswith(key)]
    [missing] = [p for p in under if p.code == "missing-field"]
    assert missing.key == key
    for problem in under:
        assert problem.file == f"override {line!r}", problem


def test_a_missing_key_no_override_touched_names_its_file(config_tree):
    """A vendor file without base_url, and an unrelated deletion on the command line: the
    problem names the vendor file."""
    deploy = config_tree(
        {
            "providers/synthetic.yaml": """
                synthetic:
                  api_key_env: SYNTHETIC_API_KEY
                  models:
                    only: {model: o, tier: budget, pricing: {prompt: 1, completion: 1}}
                """,
            "fallbacks/seed.yaml": "{}\n",
        }
    )
    with pytest.raises(ConfigError) as caught:
        resolver.load(config_dirs=[deploy], overrides=["~providers.together.base_url"], environ={})
    by_key = {p.key: p for p in caught.value.problems if p.code == "missing-field"}
    assert str(by_key["providers.synthetic.base_url"].file).endswith("providers/synthetic.yaml")
    assert by_key["providers.together.base_url"].file == "override '~providers.together.base_url'"
