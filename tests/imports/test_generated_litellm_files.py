"""`import --from litellm` on generated files: whatever the file holds, the result is a config
dir that loads or a ConfigError naming the problem, never a crash."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from resolver import ConfigError, load
from resolver.export.from_litellm import from_litellm, write

pytestmark = pytest.mark.slow  # a long property run: `pytest -m slow`, and CI

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["a", "b", "os.environ/K", "openai/x/y", "http://127.0.0.1:9/v1", "../x"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
names = st.sampled_from(["a", "b", "c", "a.b", "x y"])
params = st.fixed_dictionaries(
    {},
    optional={
        "model": st.one_of(st.sampled_from(["openai/m/1", "together_ai/m", "m"]), values),
        "api_base": st.one_of(st.sampled_from(["http://127.0.0.1:9/v1", "http://[bad"]), values),
        "api_key": st.one_of(st.sampled_from(["os.environ/K", "sk-literal"]), values),
        "timeout": values,
    },
)
info = st.fixed_dictionaries(
    {},
    optional={
        "fallback_resolver": st.one_of(
            st.fixed_dictionaries(
                {}, optional={"vendor": values, "tier": values, "reasoning": values}
            ),
            values,
        ),
        "input_cost_per_token": values,
        "max_input_tokens": values,
    },
)
# Mostly well-formed deployments with generated fields, so that imports get far.
plausible = st.fixed_dictionaries(
    {
        "model_name": names,
        "litellm_params": st.fixed_dictionaries(
            {
                "model": st.sampled_from(["openai/m/1", "together_ai/m", "openai/m"]),
                "api_base": st.sampled_from(["http://127.0.0.1:9/v1", "http://h.example/v1"]),
            },
            optional={
                "api_key": st.one_of(st.sampled_from(["os.environ/K", "sk-literal"]), values),
                "timeout": values,
            },
        ),
    },
    optional={"model_info": st.one_of(info, values)},
)
deployment = st.one_of(
    plausible,
    plausible,
    plausible,
    st.fixed_dictionaries(
        {"model_name": st.one_of(names, values)},
        optional={
            "litellm_params": st.one_of(params, values),
            "model_info": st.one_of(info, values),
        },
    ),
    values,
)
edges = st.lists(st.dictionaries(names, st.one_of(st.lists(names, max_size=3), values)), max_size=3)
router = st.fixed_dictionaries(
    {},
    optional={
        "fallbacks": st.one_of(edges, values),
        "context_window_fallbacks": st.one_of(edges, values),
        "num_retries": values,
        "max_fallbacks": values,
        "allowed_fails": values,
        "cooldown_time": values,
        "disable_cooldowns": values,
    },
)
configs = st.one_of(
    *[
        st.fixed_dictionaries(
            {"model_list": st.lists(deployment, min_size=1, max_size=4)},
            optional={"router_settings": st.one_of(router, router, values)},
        )
    ]
    * 4,
    st.fixed_dictionaries({"model_list": values}),
    values,
)


@settings(max_examples=100, deadline=None)
@given(config=configs)
def test_any_litellm_file_imports_to_a_loadable_dir_or_a_config_error(config):
    """A generated LiteLLM file either imports to a dir whose env loads (or fails validation
    with a ConfigError), or is refused with a ConfigError; a key value is never written."""
    problems: tuple = ()
    try:
        imported = from_litellm(yaml.safe_dump(config), source="gen.yaml")
    except ConfigError as e:
        problems = e.problems
    if problems:
        assert all(p.file == "gen.yaml" for p in problems)
        event(f"refused: {problems[0].key}")
        return
    event(f"imported {len(imported.files)} files")
    assert all("sk-literal" not in text for text in imported.files.values())
    with tempfile.TemporaryDirectory() as tmp:
        write(imported, tmp)
        assert all(p.resolve().is_relative_to(Path(tmp)) for p in Path(tmp).rglob("*"))
        try:
            load(env="imported", config_dirs=[tmp])
            event("loads")
        except ConfigError as e:
            problems = e.problems
        if problems:  # the composed config is invalid: validation says why, with its codes
            event("invalid: " + ",".join(sorted({p.code for p in problems})))
