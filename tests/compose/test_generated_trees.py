"""Generated deployment trees and overrides end in one of two outcomes: a Resolver, or a
ConfigError whose every problem says where it is; `validate` agrees with `load()`, and the
command line answers 0 or 2 without a traceback."""

from __future__ import annotations

import contextlib
import io
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resolver
from resolver import ConfigError
from resolver.cli import main

# Keys the configuration knows, mixed with keys YAML reads as something else than text.
KNOWN_KEYS = [
    "providers", "fallbacks", "models", "policy", "edge_policy", "synthetic", "together",
    "deepseek-r1", "kimi-k2.5-syn", "deepseek-r1-0528-syn", "model", "tier", "pricing",
    "prompt", "completion", "enabled", "disabled_reason", "base_url", "api_key_env",
    "timeout_s", "max_depth", "max_attempts", "cost", "health", "url", "store", "accept",
    "warning", "reason", "backup", "hydra", "defaults", "_self_",
]  # fmt: skip
ODD_KEYS = [True, False, None, 0, 2024, 1.5, "", " pad ", "a.b", "x y", "???", "${x}"]
TEXT = st.sampled_from(
    [
        "???", "", " ", "deepseek-r1", "kimi-k2.5-syn", "http://127.0.0.1:1/v1", "ftp://x",
        "not a url", "sk-live-0123456789abcdef", "redis://:pw@127.0.0.1:6379/0", "${policy}",
        "${oc.env:RESOLVER_FUZZ_UNSET}", "${policy.max_depth}", "${nope}", "yes", "memory",
        "redis", "skip", "downgrade", "TOGETHER_API_KEY", "\t", "é", "a: b", "[1, 2",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10**12),
    st.sampled_from([0.0, -1.5, 2.5, math.inf, -math.inf, math.nan]),
    TEXT,
)
KEYS = st.one_of(st.sampled_from(KNOWN_KEYS), st.sampled_from(ODD_KEYS))
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)
# Sections shaped like a real env overlay, with values of any type: these get past composition
# and exercise validation, where the wild trees above mostly stop at composition.
IDS = st.sampled_from(["deepseek-r1", "kimi-k2.5-syn", "deepseek-r1-0528-syn", "glm-4.6-syn"])
FIELD_NAMES = st.sampled_from(
    [
        "model", "tier", "enabled", "disabled_reason", "base_url", "api_key_env", "timeout_s",
        "reasoning", "context_window", "pricing", "max_depth", "max_attempts", "deadline_s",
        "fallback_on", "cost", "health", "store", "url", "max_ratio", "note", "accept",
    ]
)  # fmt: skip
VALUES = st.one_of(
    SCALARS,
    st.lists(st.one_of(IDS, SCALARS), max_size=3),
    st.dictionaries(FIELD_NAMES, SCALARS, max_size=3),
)
SECTIONS = st.fixed_dictionaries(
    {},
    optional={
        "models": st.dictionaries(st.one_of(IDS, KEYS), st.dictionaries(FIELD_NAMES, VALUES)),
        "fallbacks": st.dictionaries(IDS, st.one_of(st.lists(IDS, max_size=3), SCALARS)),
        "edge_policy": st.dictionaries(IDS, st.dictionaries(FIELD_NAMES, VALUES, max_size=3)),
        "policy": st.dictionaries(FIELD_NAMES, VALUES, max_size=4),
        "providers": st.dictionaries(
            st.sampled_from(["synthetic", "together"]),
            st.dictionaries(FIELD_NAMES, VALUES, max_size=2),
            max_size=1,
        ),
    },
)
HEADERS = st.sampled_from(
    [
        "",
        "# @package _global_\n",
        "# @package _group_\n",
        "# @package policy\n",
        "# deployment env\n# @package _global_\n",  # the header hidden under a comment
    ]
)
DEFAULTS = st.lists(
    st.sampled_from(
        [
            "_self_",
            {"/fallbacks@extra_edges": "seed"},
            {"override /providers": ["synthetic", "together"]},
            {"override /policy": "nope"},
            {"/policy": "default"},
            "/fallbacks@extra_edges: seed",  # a mapping written as text
            "fz",  # the env including itself
            {"/fallbacks": None},
            3,
        ]
    ),
    max_size=3,
)
OVERRIDES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "policy.max_depth=1",
                "policy.max_depth=null",
                "policy.max_dept=2",
                "++fallbacks={deepseek-v3.1: [deepseek-r1]}",
                "fallbacks.deepseek-v3.1=[deepseek-r1]",
                "++models={kimi-k2.5-syn: {enabled: true}}",
                "~fallbacks",
                "+policy.extra=1",
                "providers=[synthetic]",
                "providers=[synthetic,together,fz]",
                "fallbacks=fz",
                "env=dev",
                "policy=nope",
                "++edge_policy={deepseek-r1-0528-syn: {accept: [{warning: downgrade}]}}",
                "policy.health.url=redis://:secret@127.0.0.1/0",
                "a=[",
                "=3",
            ]
        ),
        st.builds(
            lambda k, v: f"{k}={v}",
            st.sampled_from(["policy.max_attempts", "++policy.cost", "+x", "models"]),
            st.sampled_from(["null", "???", "[1,2]", "{a: 1}", "nan", "'${policy}'", "true"]),
        ),
    ),
    max_size=3,
)


# Generated headers include Hydra's deprecated `_group_`, which it warns about.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*deprecated keyword in package header"),
]  # a long property run


def _dump(data: Any) -> str:
    return yaml.dump(data, allow_unicode=True, default_flow_style=None, sort_keys=False)


@st.composite
def trees(draw: st.DrawFn) -> dict[str, bytes]:
    """Files of a deployment dir: an env (header, defaults list, body), and maybe a vendor
    file, an extra fallbacks option, a malformed or non-UTF-8 neighbour."""
    files: dict[str, bytes] = {}
    wild = draw(st.integers(0, 3)) == 0  # a quarter wild trees, the rest env-shaped
    body = draw(st.one_of(st.dictionaries(KEYS, TREES, max_size=4), TREES) if wild else SECTIONS)
    defaults = draw(st.one_of(st.none(), st.none(), DEFAULTS))
    if defaults is not None and isinstance(body, dict):
        body = {"defaults": defaults, **body}
    header = "# @package _global_\n" if not wild else draw(HEADERS)
    text = header + _dump(body)
    if draw(st.integers(0, 7)) == 0:
        text = text.replace(": ", ":\t", 1)  # a tab where YAML allows none
    files["env/fz.yaml"] = text.encode()
    if draw(st.booleans()):
        models = draw(st.dictionaries(KEYS, TREES, max_size=3))
        vendor = {"base_url": draw(TEXT), "api_key_env": draw(SCALARS), "models": models}
        files["providers/fz.yaml"] = ("fz:\n" + _dump(vendor).replace("\n", "\n  ")).encode()
    if draw(st.booleans()):
        files["fallbacks/fz.yaml"] = _dump(draw(TREES)).encode()
    neighbour = draw(st.sampled_from([None] * 5 + [b"a: [1\n", b"\xff\xfe: 1\n", b"- 1\n"]))
    if neighbour is not None:
        files["env/other.yaml"] = neighbour
    return files


def _write(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _validate_exit(root: Path, overrides: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", "--env", "fz", "--config-dir", str(root), *overrides])
    return code, out.getvalue() + err.getvalue()


@settings(
    max_examples=int(os.environ.get("RESOLVER_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(files=trees(), overrides=OVERRIDES)
def test_any_tree_loads_or_says_where_it_is_wrong(
    files: dict[str, bytes], overrides: list[str]
) -> None:
    """load() returns a Resolver or raises a ConfigError with at least one located problem,
    and `validate` exits 0 exactly when load() succeeds, 2 otherwise, never raising."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(root, files)
        error = _load_error(root, overrides)
        code, text = _validate_exit(root, overrides)
    if error is not None:
        assert error.errors, f"a ConfigError without an error: {error}"
        unlocated = [str(p) for p in error.problems if not (p.file or p.key)]
        assert not unlocated, unlocated
    assert code == (0 if error is None else 2), text


def _load_error(root: Path, overrides: list[str]) -> ConfigError | None:
    try:
        resolver.load(env="fz", overrides=overrides, config_dirs=[root])
    except ConfigError as e:
        return e
    return None


def test_the_command_line_answers_a_broken_tree_without_a_traceback(tmp_path) -> None:
    """`python -m resolver validate` on a tree with several kinds of breakage exits 2 and
    prints the problems, not a traceback."""
    _write(
        tmp_path,
        {
            "env/fz.yaml": b"# @package _global_\nmodels:\n  yes: {enabled: }\n",
            "providers/fz.yaml": b"fz: [1, 2]\n",
            "env/other.yaml": b"\xff\xfe: 1\n",
        },
    )
    run = subprocess.run(
        [sys.executable, "-m", "resolver", "validate", "--env", "fz", "--config-dir", tmp_path],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "env/fz.yaml" in run.stdout + run.stderr
