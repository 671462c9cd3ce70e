"""Generated group configurations: each loads, or is refused with every problem located under
the groups, models or fallbacks it came from; never a traceback, never a silent wrong value."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolver import ConfigError, load

from .conftest import A, B, C

pytestmark = pytest.mark.slow  # a long property run: `pytest -m slow`, and CI

IDS = st.sampled_from([A, B, C, "no-such-model", "deepseek-v3.1"])
VALUES = st.one_of(
    st.integers(-3, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
MEMBER = st.one_of(st.none(), st.dictionaries(st.sampled_from(["weight", "order", "x"]), VALUES))
GROUP = st.one_of(
    st.lists(IDS, max_size=3),
    st.fixed_dictionaries(
        {"members": st.one_of(st.dictionaries(IDS, MEMBER, max_size=3), st.lists(IDS), VALUES)},
        optional={"strategy": st.one_of(st.sampled_from(["weighted", "latency", "fast"]), VALUES)},
    ),
    VALUES,
)
CONFIG = st.fixed_dictionaries(
    {"groups": st.dictionaries(st.sampled_from(["g1", "g2", A]), GROUP, max_size=3)},
    optional={
        "fallbacks": st.dictionaries(
            st.sampled_from(["g1", "g2", A]), st.lists(st.sampled_from(["g1", "g2", B])), max_size=2
        ),
        "models": st.dictionaries(
            st.sampled_from([A, B]),
            st.dictionaries(st.sampled_from(["rpm", "tpm"]), VALUES, max_size=2),
            max_size=2,
        ),
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(config=CONFIG)
def test_group_configs_load_or_are_refused_with_located_problems(tmp_path, config):
    """Whatever the group section holds, load returns a resolver whose groups are made of
    declared deployments with usable weights, or raises ConfigError naming keys in it."""
    root = tmp_path / "deploy"
    (root / "env").mkdir(parents=True, exist_ok=True)
    text = "# @package _global_\n" + yaml.safe_dump(config)
    (root / "env" / "fuzz.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    try:
        r = load(env="fuzz", config_dirs=[root])
    except ConfigError as e:
        for problem in e.errors:
            assert problem.key is None or problem.key.split(".")[0] in (
                "groups",
                "models",
                "fallbacks",
                "edge_policy",
            ), problem
            assert problem.file is None or problem.file.endswith("fuzz.yaml"), problem
        return
    for group in r.groups.values():
        assert group.members
        assert all(m.id in r.providers for m in group.members)
        assert any(m.weight > 0 for m in group.members)
        assert all(m.weight >= 0 for m in group.members)
    for provider in r.providers.values():
        assert provider.rpm is None or provider.rpm >= 1
        assert provider.tpm is None or provider.tpm >= 1
