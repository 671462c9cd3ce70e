"""How a model's settings are put together: its vendor's connection settings unless it sets its
own, per-model patches on top (a price patch keeps the other price), and its id as the name
shown when it has no display name."""

from __future__ import annotations

import pytest

import resolver
from resolver.catalog import Pricing


def load(own_tree, *overrides: str) -> resolver.Resolver:
    return resolver.load(config_path=own_tree, overrides=list(overrides), environ={})


def test_a_model_takes_its_vendors_settings_unless_it_sets_its_own(own_tree) -> None:
    """Each model has its vendor's URL, key variable, timeouts and shared cap; a model's own
    URL and timeout win for that model alone."""
    r = load(
        own_tree,
        "providers.keyed.base_url=https://keyed.example/v1",
        "providers.keyed.timeout_s=7",
        "++providers.keyed.first_token_timeout_s=3",
        "++providers.keyed.max_concurrency=4",
        "++providers.keyed.models.plain.base_url=https://plain.example/v1",
        "++providers.keyed.models.plain.timeout_s=2",
    )
    think, plain, spare = r.providers["think"], r.providers["plain"], r.providers["spare"]
    assert (think.base_url, think.api_key_env) == ("https://keyed.example/v1", "OWN_TREE_KEY")
    assert (think.timeout_s, think.first_token_timeout_s) == (7, 3)
    assert (think.vendor_max_concurrency, think.max_concurrency) == (4, None)
    assert (plain.base_url, plain.timeout_s, plain.first_token_timeout_s) == (
        "https://plain.example/v1",
        2,
        3,
    )
    assert plain.vendor_max_concurrency == 4
    assert (spare.base_url, spare.api_key_env, spare.timeout_s) == (
        "http://127.0.0.1:9/v1",
        None,
        5,
    )
    assert spare.vendor_max_concurrency is None


def test_a_price_patch_keeps_the_price_it_does_not_set(own_tree) -> None:
    """A per-model patch that sets only the prompt price keeps the completion price of the
    vendor file."""
    r = load(own_tree, "++models={think: {pricing: {prompt: 3}}}")
    assert r.providers["think"].pricing == Pricing(prompt=3, completion=6)


def test_a_model_without_a_display_name_is_shown_by_its_id(own_tree) -> None:
    """A model with no display name is shown by its id; one with a display name by that."""
    r = load(own_tree, "++providers.open.models.spare.display_name=Spare tyre")
    assert r.providers["think"].display_name == "think"
    assert r.providers["spare"].display_name == "Spare tyre"


def test_a_patch_may_give_the_whole_price_of_a_model_declared_without_one(own_tree) -> None:
    """A model declared without pricing loads when a per-model patch gives its whole price."""
    r = load(
        own_tree,
        "~providers.open.models.spare.pricing",
        "++models={spare: {pricing: {prompt: 4, completion: 8}}}",
    )
    assert r.providers["spare"].pricing == Pricing(prompt=4, completion=8)


def test_a_model_written_as_text_is_a_wrong_type(own_tree) -> None:
    """A model entry written as text instead of its settings is one wrong-type error at it."""
    with pytest.raises(resolver.ConfigError) as info:
        load(own_tree, "providers.open.models.spare=oops")
    assert [(p.code, p.key) for p in info.value.errors] == [
        ("wrong-type", "providers.open.models.spare")
    ]
