"""The shipped environments, the default env, and per-model overrides from code."""

from __future__ import annotations

import dataclasses

import pytest

import resolver
from resolver.testing import make_resolver

NO_KEYS: dict[str, str] = {}
KEYS = {"TOGETHER_API_KEY": "t", "SYNTHETIC_API_KEY": "s"}


def test_default_env_is_prod() -> None:
    """With no env given, the resolver composes exactly the prod environment."""
    default, prod = resolver.load(), resolver.load(env="prod")
    assert default.env == prod.env == "prod"
    assert dict(default.providers) == dict(prod.providers)
    assert dict(default.fallbacks) == dict(prod.fallbacks)


def test_prod_has_the_seed_edges() -> None:
    """prod declares the three catalog edges and nothing else."""
    assert dict(resolver.load(env="prod").fallbacks) == {
        "deepseek-r1-0528-syn": ("deepseek-r1",),
        "kimi-k2-thinking-syn": ("kimi-k2-instruct",),
        "qwen3-235b-thinking-syn": ("qwen3-235b-instruct",),
    }


def test_staging_is_prod_plus_the_kimi_k25_trial() -> None:
    """staging enables kimi-k2.5-syn with kimi-k2-instruct as its backup; all else is prod."""
    prod, staging = resolver.load(env="prod"), resolver.load(env="staging")
    trial = staging.providers["kimi-k2.5-syn"]
    assert trial.enabled
    assert trial.disabled_reason is None
    assert staging.fallbacks["kimi-k2.5-syn"] == ("kimi-k2-instruct",)
    assert staging.get_fallback_provider("kimi-k2.5-syn", environ=KEYS).id == "kimi-k2-instruct"
    assert prod.get_fallback_provider("kimi-k2.5-syn", environ=KEYS) is None
    assert (
        dataclasses.replace(trial, enabled=False, disabled_reason="30 s timeouts")
        == (prod.providers["kimi-k2.5-syn"])
    )
    others = {k: v for k, v in staging.providers.items() if k != "kimi-k2.5-syn"}
    assert others == {k: v for k, v in prod.providers.items() if k != "kimi-k2.5-syn"}
    assert {k: v for k, v in staging.fallbacks.items() if k != "kimi-k2.5-syn"} == dict(
        prod.fallbacks
    )


def test_dev_points_every_provider_at_a_local_server() -> None:
    """dev sends every call to a local server that needs no key; edges are prod's."""
    dev, prod = resolver.load(env="dev"), resolver.load(env="prod")
    assert {p.base_url for p in dev.providers.values()} == {"http://127.0.0.1:8000/v1"}
    assert {p.api_key_env for p in dev.providers.values()} == {None}
    assert dict(dev.fallbacks) == dict(prod.fallbacks)
    # no key needed, so the seed edges are usable with an empty environment
    assert dev.get_fallback_provider("deepseek-r1-0528-syn", environ=NO_KEYS).id == "deepseek-r1"
    local = {
        k: dataclasses.replace(v, base_url="", api_key_env=None) for k, v in dev.providers.items()
    }
    assert local == {
        k: dataclasses.replace(v, base_url="", api_key_env=None) for k, v in prod.providers.items()
    }


def test_dev_server_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """RESOLVER_DEV_BASE_URL moves dev's local server."""
    monkeypatch.setenv("RESOLVER_DEV_BASE_URL", "http://127.0.0.1:9999/v1")
    dev = resolver.load(env="dev")
    assert {p.base_url for p in dev.providers.values()} == {"http://127.0.0.1:9999/v1"}


def test_resolver_env_selects_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """RESOLVER_ENV picks the env of the module-level lookups; env= answers for another."""
    monkeypatch.setenv("TOGETHER_API_KEY", "t")
    assert resolver.get_fallback_provider("kimi-k2.5-syn") is None
    assert resolver.get_fallback_provider("kimi-k2.5-syn", env="staging").id == "kimi-k2-instruct"
    monkeypatch.setenv("RESOLVER_ENV", "staging")
    assert resolver.get_fallback_provider("kimi-k2.5-syn").id == "kimi-k2-instruct"
    assert resolver.default_resolver().env == "staging"
    assert resolver.default_resolver(env="prod").env == "prod"


def test_default_resolver_is_cached_per_env() -> None:
    """The module-level functions build one resolver per env and reuse it."""
    assert resolver.default_resolver("dev") is resolver.default_resolver("dev")
    assert resolver.default_resolver("dev") is not resolver.default_resolver("prod")


def test_resolver_config_dirs_adds_a_deployment(
    monkeypatch: pytest.MonkeyPatch, config_tree
) -> None:
    """RESOLVER_CONFIG_DIRS adds deployment trees (and their envs) to the default resolver."""
    root = config_tree(
        {
            "env/canary.yaml": """
                # @package _global_
                fallbacks:
                  glm-4.6-syn: [gpt-oss-20b]
                models:
                  glm-4.6-syn: {enabled: true}
            """
        }
    )
    monkeypatch.setenv("RESOLVER_CONFIG_DIRS", str(root))
    monkeypatch.setenv("RESOLVER_ENV", "canary")
    monkeypatch.setenv("TOGETHER_API_KEY", "t")
    assert resolver.get_fallback_provider("glm-4.6-syn").id == "gpt-oss-20b"
    assert resolver.default_resolver().origins["glm-4.6-syn"].endswith("env/canary.yaml")


DOTTED = ["kimi-k2.5-syn", "deepseek-v3.1-terminus-syn", "deepseek-v3.1", "qwen2.5-7b-turbo"]


@pytest.mark.parametrize("model", [*DOTTED, "deepseek-r1"])
def test_any_model_can_be_disabled_by_override(model: str) -> None:
    """'++models={ID: {enabled: false}}' disables any model, dotted ids included."""
    r = resolver.load(
        overrides=[f"++models={{{model}: {{enabled: false, disabled_reason: test}}}}"]
    )
    assert not r.providers[model].enabled
    assert r.providers[model].disabled_reason == "test"
    assert model not in {p.id for p in r.get_fallback_chain("deepseek-r1-0528-syn", environ=KEYS)}


def test_disabling_a_backup_removes_the_fallback() -> None:
    """A disabled backup is skipped, and explain says so with the reason."""
    r = resolver.load(
        overrides=["++models={deepseek-r1: {enabled: false, disabled_reason: 'vendor outage'}}"]
    )
    assert r.get_fallback_provider("deepseek-r1-0528-syn", environ=KEYS) is None
    (step,) = r.explain("deepseek-r1-0528-syn", environ=KEYS).steps
    assert step.status == "skipped"
    assert "vendor outage" in step.reason


@pytest.mark.parametrize("model", ["kimi-k2.5-syn", "glm-4.6-syn", "deepseek-v3.2-syn"])
def test_any_model_can_be_enabled_and_given_backups(model: str) -> None:
    """A disabled dotted-id model can be enabled and given new backups from overrides."""
    r = resolver.load(
        overrides=[
            f"++models={{{model}: {{enabled: true, disabled_reason: null}}}}",
            f"++fallbacks={{{model}: [deepseek-v3.1, qwen2.5-7b-turbo]}}",
        ]
    )
    assert r.providers[model].enabled
    chain = r.get_fallback_chain(model, environ=KEYS)
    assert [p.id for p in chain] == ["deepseek-v3.1", "qwen2.5-7b-turbo"]
    assert r.origins[model].startswith("override '++fallbacks=")


def test_backups_can_be_replaced_and_removed() -> None:
    """'++fallbacks={ID: [...]}' replaces a model's backups and '[]' removes them."""
    r = resolver.load(
        overrides=[
            "++fallbacks={deepseek-r1-0528-syn: [deepseek-v3.1]}",
            "++fallbacks={kimi-k2-thinking-syn: []}",
        ]
    )
    assert r.fallbacks["deepseek-r1-0528-syn"] == ("deepseek-v3.1",)
    assert r.get_fallback_provider("kimi-k2-thinking-syn", environ=KEYS) is None
    assert r.explain("kimi-k2-thinking-syn").summary == "no fallbacks configured"


def test_chain_goes_breadth_first_up_to_max_depth() -> None:
    """A chain lists direct backups first, then their backups, within policy.max_depth."""
    edges = (
        "++fallbacks={deepseek-v3-0324-syn: [deepseek-v3.1, llama-4-scout],"
        " deepseek-v3.1: [qwen2.5-72b-turbo], qwen2.5-72b-turbo: [gemma-3n-e4b]}"
    )
    r = resolver.load(overrides=[edges, "policy.cost.max_ratio=10"])
    chain = [p.id for p in r.get_fallback_chain("deepseek-v3-0324-syn", environ=KEYS)]
    assert chain == ["deepseek-v3.1", "llama-4-scout", "qwen2.5-72b-turbo"]
    deeper = resolver.load(overrides=[edges, "policy.max_depth=3"])
    chain = [p.id for p in deeper.get_fallback_chain("deepseek-v3-0324-syn", environ=KEYS)]
    assert chain == ["deepseek-v3.1", "llama-4-scout", "qwen2.5-72b-turbo", "gemma-3n-e4b"]
    steps = deeper.explain("deepseek-v3-0324-syn", environ=KEYS).steps
    assert [(s.hop, s.via) for s in steps][-1] == (3, "qwen2.5-72b-turbo")


def test_cost_cap_with_skip_drops_expensive_backups() -> None:
    """With cost.action=skip a backup over the cap is never returned, and explain says why."""
    r = resolver.load(
        overrides=[
            "++fallbacks={deepseek-v3-0324-syn: [llama-3.1-405b-turbo, deepseek-v3.1]}",
            "policy.cost.action=skip",
        ]
    )
    assert r.get_fallback_provider("deepseek-v3-0324-syn", environ=KEYS).id == "deepseek-v3.1"
    first = r.explain("deepseek-v3-0324-syn", environ=KEYS).steps[0]
    assert first.status == "skipped"
    assert "over the cap of 2x" in first.reason


def test_make_resolver_does_not_touch_the_default() -> None:
    """resolver.testing.make_resolver builds a resolver that never becomes the default."""
    built = make_resolver(env="staging")
    assert built is not resolver.default_resolver()
    assert resolver.default_resolver().env == "prod"


def test_use_resolver_pins_the_module_level_answers() -> None:
    """Inside use_resolver, module-level lookups and MODEL_FALLBACKS answer from that resolver."""
    from resolver.testing import use_resolver

    staging = make_resolver(env="staging")
    with use_resolver(staging):
        assert resolver.MODEL_FALLBACKS["kimi-k2.5-syn"] == "kimi-k2-instruct"
        assert resolver.default_resolver() is staging
    assert "kimi-k2.5-syn" not in resolver.MODEL_FALLBACKS


pytest_plugins = ["resolver.pytest_plugin"]


def test_pytest_fixture_builds_and_pins(fallback_resolver_factory) -> None:
    """The fallback_resolver_factory fixture builds a resolver that the module functions use."""
    r = fallback_resolver_factory(overrides=["++fallbacks={glm-4.7-syn: [gpt-oss-20b]}"])
    assert resolver.default_resolver() is r
    assert r.fallbacks["glm-4.7-syn"] == ("gpt-oss-20b",)
