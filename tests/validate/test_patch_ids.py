"""A model id under ``models:`` (the per-model patches) that is not plain text is reported
where it is written: the file and the key, with what is wrong and how to write it."""

from __future__ import annotations

import pytest

import resolver
from resolver import ConfigError


def test_bad_ids_of_model_patches_are_named_at_their_key(config_tree) -> None:
    """Each bad id among the model patches is one bad-model-id error at models.<id> in the
    file that declares it, with its hint."""
    deploy = config_tree(
        {
            "env/prod.yaml": """
                # @package _global_
                models:
                  " kimi-k2-instruct": {enabled: false}
                  7: {enabled: false}
                """
        }
    )
    with pytest.raises(ConfigError) as caught:
        resolver.load(config_dirs=[deploy])
    errors = [p for p in caught.value.problems if p.severity == "error"]
    assert [(p.code, p.key, p.file, p.message, p.hint) for p in errors] == [
        (
            "bad-model-id",
            "models. kimi-k2-instruct",
            str(deploy / "env" / "prod.yaml"),
            "model id ' kimi-k2-instruct' has spaces around it",
            "write it as 'kimi-k2-instruct'",
        ),
        (
            "bad-model-id",
            "models[7]",
            str(deploy / "env" / "prod.yaml"),
            "model id 7 is a number, not text",
            "quote the id",
        ),
    ]
