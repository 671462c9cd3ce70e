"""The vendor registry (conf/registry/litellm.yaml): vendors named by LiteLLM prefix take their
base URL and key variable from it, prefixes that need another protocol are refused by name,
and a deployment can override or extend it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from resolver import ConfigError, load


def tree(tmp_path: Path, body: str) -> Path:
    root = tmp_path / "deploy"
    (root / "env").mkdir(parents=True, exist_ok=True)
    text = (
        "# @package _global_\ndefaults:\n  - override /registry: litellm\n"
        + textwrap.dedent(body).lstrip()
    )
    (root / "env" / "reg.yaml").write_text(text, encoding="utf-8")
    return root


MODEL = "{model: llama-3.3-70b-versatile, tier: budget, pricing: {prompt: 0.59, completion: 0.79}}"


def test_a_vendor_named_by_prefix_takes_base_url_and_key_from_the_registry(tmp_path):
    """`groq` with only its models loads with Groq's OpenAI-compatible base and GROQ_API_KEY;
    `registry:` names the entry for a vendor of another name."""
    root = tree(
        tmp_path,
        f"""
        providers:
          groq:
            models: {{llama-groq: {MODEL}}}
          fast:
            registry: together_ai
            models: {{llama-together: {MODEL}}}
        """,
    )
    r = load(env="reg", config_dirs=[root])
    groq = r.providers["llama-groq"]
    assert (groq.base_url, groq.api_key_env) == ("https://api.groq.com/openai/v1", "GROQ_API_KEY")
    assert r.providers["llama-together"].api_key_env == "TOGETHER_API_KEY"
    assert set(r.registry) == {"groq", "together_ai"}


def test_a_prefix_needing_another_protocol_is_refused_by_name(tmp_path):
    """bedrock (request signing) is refused with the registry's reason, at the vendor's key;
    a misspelt entry is refused with the closest one."""
    root = tree(
        tmp_path,
        f"""
        providers:
          bedrock:
            models: {{claude-bedrock: {MODEL}}}
          mine:
            registry: grok
            models: {{m: {MODEL}}}
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load(env="reg", config_dirs=[root])
    by_code = {p.code: p for p in caught.value.errors}
    refused = by_code["refused-vendor"]
    assert refused.key == "providers.bedrock"
    assert "bedrock" in refused.message
    assert refused.file.endswith("env/reg.yaml")
    assert "groq" in by_code["unknown-registry-entry"].hint


def test_an_entry_without_a_default_url_needs_the_deployments_own(tmp_path):
    """hosted_vllm has no default base URL: a vendor of it without base_url is told to give
    one; with one it loads."""
    root = tree(tmp_path, f"providers:\n  hosted_vllm:\n    models: {{v: {MODEL}}}\n")
    with pytest.raises(ConfigError) as caught:
        load(env="reg", config_dirs=[root])
    assert [(p.code, p.key) for p in caught.value.errors] == [
        ("missing-field", "providers.hosted_vllm.base_url")
    ]
    r = load(
        env="reg",
        config_dirs=[root],
        overrides=["++providers.hosted_vllm.base_url=http://127.0.0.1:8000/v1"],
    )
    assert r.providers["v"].api_key_env is None


def test_a_deployment_overrides_an_entry_from_the_command_line(tmp_path):
    """An override of the registry changes what a vendor taking from it gets."""
    root = tree(tmp_path, f"providers:\n  groq:\n    models: {{g: {MODEL}}}\n")
    r = load(
        env="reg",
        config_dirs=[root],
        overrides=["registry.groq.base_url=http://127.0.0.1:9/v1"],
    )
    assert r.providers["g"].base_url == "http://127.0.0.1:9/v1"


def test_every_shipped_registry_entry_is_valid():
    """The shipped registry validates whole: every entry has a base URL or says why not."""
    from resolver.compose import compose
    from resolver.fields import Findings
    from resolver.validate import registry_entries

    composed = compose(env=None, overrides=["registry=litellm"], config_dirs=(), config_path=None)
    find = Findings(composed.origins.of)
    entries = registry_entries(composed.data["registry"], find)
    assert find.problems == []
    assert len(entries) >= 30
    for name in ("openai", "azure", "anthropic", "gemini", "groq", "together_ai", "ollama",
                 "ollama_chat", "hosted_vllm", "deepseek", "mistral", "openrouter", "xai",
                 "cerebras", "deepinfra", "perplexity", "fireworks_ai"):  # fmt: skip
        assert entries[name].refused is None, name
    for name in ("bedrock", "vertex_ai", "sagemaker"):
        assert entries[name].refused, name
