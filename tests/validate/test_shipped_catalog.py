"""The seed's own checks, on the shipped configuration with no overrides."""

from __future__ import annotations

import dataclasses

import pytest

import resolver
from resolver import Provider

SEED = {"deepseek-r1-0528-syn": "deepseek-r1", "kimi-k2-thinking-syn": "kimi-k2-instruct"}


def test_model_fallbacks_is_the_seed_mapping() -> None:
    """MODEL_FALLBACKS lists exactly the two active seed edges, whatever keys are set."""
    assert resolver.MODEL_FALLBACKS == SEED


def test_model_fallbacks_is_a_copy() -> None:
    """Mutating MODEL_FALLBACKS cannot change what the resolver answers."""
    resolver.MODEL_FALLBACKS["deepseek-r1-0528-syn"] = "gemma-3n-e4b"
    assert resolver.MODEL_FALLBACKS == SEED


@pytest.mark.parametrize(("model", "backup"), SEED.items())
def test_backup_served_when_key_is_set(
    monkeypatch: pytest.MonkeyPatch, model: str, backup: str
) -> None:
    """With TOGETHER_API_KEY set, each seed source falls back to its Together twin."""
    monkeypatch.setenv("TOGETHER_API_KEY", "test-key")
    found = resolver.get_fallback_provider(model)
    assert found is not None
    assert found.id == backup
    assert found.vendor == "together"


@pytest.mark.parametrize("model", ["unknown-model", "glm-4.6-syn", "qwen3-235b-thinking-syn"])
def test_no_backup_without_a_usable_edge(monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    """Unknown models, models without edges and disabled sources have no fallback."""
    monkeypatch.setenv("TOGETHER_API_KEY", "test-key")
    assert resolver.get_fallback_provider(model) is None


def test_no_backup_for_any_model_without_the_key() -> None:
    """With TOGETHER_API_KEY unset, no model has a usable fallback."""
    r = resolver.default_resolver()
    assert all(resolver.get_fallback_provider(model) is None for model in r.providers)
    assert resolver.get_fallback_chain("deepseek-r1-0528-syn") == ()


@pytest.mark.parametrize("model", SEED)
def test_explain_names_the_unset_key_variable(model: str) -> None:
    """explain says the backup is skipped because TOGETHER_API_KEY is not set."""
    explanation = resolver.explain(model)
    assert explanation.chosen is None
    (step,) = explanation.steps
    assert step.provider_id == SEED[model]
    assert step.status == "skipped"
    assert "TOGETHER_API_KEY is not set" in step.reason
    assert "TOGETHER_API_KEY is not set" in str(explanation)


def test_all_providers_are_the_enabled_models() -> None:
    """ALL_PROVIDERS holds every enabled provider of the default configuration and no disabled
    one, each with the fields of DESIGN.md."""
    providers = resolver.ALL_PROVIDERS
    configured = resolver.load().providers
    assert sorted(p.id for p in providers) == sorted(
        model_id for model_id, p in configured.items() if p.enabled
    )
    assert all(isinstance(p, Provider) and p.enabled for p in providers)
    names = {f.name for f in dataclasses.fields(Provider)}
    assert names >= {
        "id", "vendor", "model", "display_name", "base_url", "api_key_env", "enabled",
        "disabled_reason", "tier", "reasoning", "pricing", "context_window", "timeout_s",
    }  # fmt: skip
    assert {p.vendor for p in providers} == {"synthetic", "together"}


def test_catalog_facts_are_encoded() -> None:
    """The shipped catalog carries all 42 models (36 enabled) with their vendor data, prices
    and states. The one test of the catalog's numbers: the others assert properties."""
    r = resolver.load()
    assert len(r.providers) == 42
    assert len(resolver.ALL_PROVIDERS) == 36
    r1 = r.providers["deepseek-r1-0528-syn"]
    assert (r1.model, r1.tier, r1.reasoning) == ("hf:deepseek-ai/DeepSeek-R1-0528", "premium", True)
    assert (r1.pricing.prompt, r1.pricing.completion) == (3.0, 7.0)
    assert r1.base_url == "https://api.synthetic.new/openai/v1"
    assert r1.api_key_env == "SYNTHETIC_API_KEY"
    glm = r.providers["glm-4.6-syn"]
    assert not glm.enabled
    assert glm.disabled_reason == "30 s timeouts"
    scout = r.providers["llama-4-scout"]
    assert (scout.model, scout.api_key_env) == (
        "meta-llama/Llama-4-Scout-17B-16E-Instruct",
        "TOGETHER_API_KEY",
    )
    disabled = sorted(p.id for p in r.providers.values() if not p.enabled)
    assert disabled == [
        "deepseek-v3.2-syn", "glm-4.6-syn", "glm-4.7-syn", "gpt-oss-120b-syn",
        "kimi-k2.5-syn", "qwen3-235b-thinking-syn",
    ]  # fmt: skip


def test_repr_names_the_key_variable_never_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider's repr shows which variable holds the key, never the key itself."""
    monkeypatch.setenv("TOGETHER_API_KEY", "sk-very-secret")
    found = resolver.get_fallback_provider("deepseek-r1-0528-syn")
    assert "TOGETHER_API_KEY" in repr(found)
    assert "sk-very-secret" not in repr(found)
