"""Generated LiteLLM configs of the shapes real ones have (groups, vendor prefixes, os.environ/
references, weights and limits, three fallback lists, aliases, wildcards, cycles): the import
names every deployment it does not carry, and what it carries always loads."""

from __future__ import annotations

import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolver import ConfigError, load
from resolver.export.from_litellm import from_litellm, write

from .conftest import variables

pytestmark = pytest.mark.slow  # a long property run: `pytest -m slow`, and CI

NAMES = ["gpt-4o", "claude", "llama", "small", "big", "*", "a.b"]
PREFIXES = [
    "openai/gpt-4o",
    "azure/dep-1",
    "anthropic/claude-3-5",
    "gemini/gemini-2.0-flash",
    "groq/llama-3.1-8b",
    "together_ai/meta/llama",
    "ollama/llama3",
    "ollama_chat/qwen",
    "hosted_vllm/m",
    "bedrock/anthropic.claude",
    "vertex_ai/gemini-pro",
    "nosuch/model",
    "gpt-4o-mini",
    "command-r",
    "openai/*",
    "os.environ/MODEL_X",
    "openai/os.environ/MODEL_Y",
]
ODD = st.one_of(st.none(), st.booleans(), st.integers(-2, 5), st.text(max_size=5))
counts = st.one_of(st.integers(0, 10_000), st.sampled_from(["100", "os.environ/RPM"]), ODD)
params = st.fixed_dictionaries(
    {"model": st.sampled_from(PREFIXES)},
    optional={
        "api_base": st.sampled_from(
            ["http://127.0.0.1:11434", "https://x.openai.azure.com", "os.environ/BASE_URL"]
        ),
        "api_key": st.sampled_from(["os.environ/KEY_A", "sk-literal-0123456789", "none"]),
        "weight": st.one_of(st.integers(0, 5), st.floats(0, 3), ODD),
        "order": st.one_of(st.integers(0, 3), ODD),
        "rpm": counts,
        "tpm": counts,
        "timeout": st.one_of(st.integers(1, 60), ODD),
        "num_retries": counts,
        "max_tokens": counts,
        "extra_body": st.just({"x": 1}),
    },
)
deployment = st.fixed_dictionaries(
    {"model_name": st.sampled_from(NAMES), "litellm_params": params},
    optional={
        "model_info": st.fixed_dictionaries(
            {},
            optional={
                "id": st.sampled_from(["dep-a", "dep-b", "gpt-4o"]),
                "input_cost_per_token": st.one_of(st.floats(0, 1e-4), ODD),
                "max_input_tokens": st.one_of(st.integers(1, 10**6), ODD),
                "mode": st.just("chat"),
            },
        )
    },
)
chain = st.dictionaries(st.sampled_from(NAMES), st.lists(st.sampled_from(NAMES), max_size=3))
lists = st.lists(chain, max_size=3)
settings_ = st.fixed_dictionaries(
    {},
    optional={
        "fallbacks": lists,
        "context_window_fallbacks": lists,
        "content_policy_fallbacks": lists,
        "default_fallbacks": st.lists(st.sampled_from(NAMES), max_size=2),
        "model_group_alias": st.dictionaries(
            st.sampled_from(["alias", "gpt-4o", "fast"]), st.sampled_from(NAMES), max_size=2
        ),
        "routing_strategy": st.sampled_from(
            ["simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing"]
        ),
        "num_retries": st.integers(0, 3),
        "allowed_fails": st.integers(0, 3),
        "enable_pre_call_checks": st.booleans(),
    },
)
configs = st.fixed_dictionaries(
    {"model_list": st.lists(deployment, min_size=1, max_size=6)},
    optional={"router_settings": settings_, "litellm_settings": settings_},
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(config=configs)
def test_every_deployment_is_carried_or_named_and_what_is_carried_loads(config, tmp_path_factory):
    """The import accounts for each deployment (carried, or named with its position), never
    writes a key, and the tree it writes loads whenever it carried anything."""
    text = yaml.safe_dump(config)
    try:
        imported = from_litellm(text, source="gen.yaml", env="gen")
    except ConfigError as e:
        refused = e.problems
    else:
        refused = ()
    if refused:
        assert all(p.file == "gen.yaml" for p in refused)
        return
    named = {
        int(i)
        for line in imported.not_carried
        for group in re.findall(r"^model_list\[([\d, ]+)\] \(", line)
        for i in group.split(", ")
    }
    assert imported.carried + len(named) == len(config["model_list"]), imported.not_carried
    assert not any("sk-literal" in t for t in (*imported.files.values(), *imported.not_carried))
    if not imported.carried:
        return
    root = tmp_path_factory.mktemp("gen")
    write(imported, root)
    with variables(imported.variables):
        r = load(env="gen", config_dirs=[root])
    assert r.groups or r.providers
