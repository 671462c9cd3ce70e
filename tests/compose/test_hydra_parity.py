"""Our composition gives exactly what ``hydra.compose`` gives for the same files, search path
and overrides, by value and by type; where Hydra refuses a tree, we refuse it too.

The trees are generated: package headers, ``_self_`` placement, group options in several config
dirs, interpolations, ``???``, nulls, lists against mappings, numeric keys, ``~``/``+``/``++``
overrides and dict literals with dotted ids.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hydra
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from packaging.version import Version

import resolver
from resolver.compose import ENV_WITHOUT_HEADER
from resolver.compose import compose as compose_plain

pytestmark = pytest.mark.slow  # the Hydra parity sweep: `pytest -m slow`, and CI

PARITY_VAR = "RESOLVER_PARITY_VALUE"
# Hydra 1.3 composes under the rules version_base names (we pin 1.3's); 1.4 has one set of
# rules and refuses the parameter.
HYDRA_14 = Version(hydra.__version__) >= Version("1.4.0rc1")
VERSION_BASE: dict[str, Any] = {} if HYDRA_14 else {"version_base": "1.3"}

HEADERS = ["", "# @package _global_\n", "# @package _group_\n", "# @package deep.pkg\n"]
KEYS = ["k1", "k2", "k3", "2024", "dot.id"]
TEXTS = [
    "text",
    "???",
    "${k1}",
    "${k1.k2}",
    "${.k2}",
    "${k3.k1}",
    "see ${k2}",
    f"${{oc.env:{PARITY_VAR},fallback}}",
    "${oc.env:RESOLVER_PARITY_UNSET,fallback}",
    "1.5",
]
leaves = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.5, 1e-05, 2.0]),
    st.booleans(),
    st.none(),
    st.sampled_from(TEXTS),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=8,
)
contents = st.dictionaries(st.sampled_from(KEYS), values, max_size=3)
OVERRIDES = [
    "k1=5",
    "k1.k2=x",
    "+new=1",
    "++k1.k2=[1,2]",
    "~k1",
    "~k2.k3",
    "++k3={dot.id: 1, k1: null}",
    "k2=???",
    "a=y",
    "b=q",
    "+k9=${k1}",
    "k1=null",
]
GROUP_FILES = ["a/x", "a/y", "b/p", "b/q", "env/e"]


@pytest.fixture(scope="module", autouse=True)
def _parity_variable() -> Iterator[None]:
    """The variable the generated `oc.env` interpolations read, set for this module only."""
    os.environ[PARITY_VAR] = "from-env"
    yield
    del os.environ[PARITY_VAR]


@st.composite
def trees(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, int], list[str]]:
    """Files as ``{path: YAML text}``, which of two config dirs each is in, and overrides."""
    entries: list[Any] = draw(st.permutations([{"a": "x"}, {"b": "p"}, "_self_", {"env": "e"}]))
    entries = entries[: draw(st.integers(2, 4))]
    if draw(st.integers(0, 9)) == 0:
        entries.append("_self_")  # twice, or added after dropping it: either is a case
    files = {"config": yaml.safe_dump({"defaults": entries, **draw(contents)})}
    for name in GROUP_FILES:
        data = draw(contents)
        if name == "env/e" and draw(st.booleans()):
            data = {"defaults": [{"/b@extra": "q"}, "_self_"], **data}
        if name == "env/e" and draw(st.booleans()):
            data["hydra"] = {"job": {"name": "parity"}}  # Hydra's own settings: left out
        files[name] = draw(st.sampled_from(HEADERS)) + yaml.safe_dump(data)
    where = {name: draw(st.integers(0, 1)) for name in GROUP_FILES}
    overrides = draw(st.lists(st.sampled_from(OVERRIDES), max_size=3, unique=True))
    return files, where, overrides


def typed(value: Any) -> Any:
    """``value`` with the type of every part spelled out, so that 1 == True == 1.0 no longer."""
    if isinstance(value, dict):
        return {typed(k): typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def hydra_compose(primary: Path, extra: Path, overrides: list[str]) -> Any:
    with initialize_config_dir(config_dir=str(primary), **VERSION_BASE):
        cfg = compose("config", overrides=[*overrides, f"hydra.searchpath=[file://{extra}]"])
        return OmegaConf.to_container(cfg, resolve=True)


def write_tree(root: Path, files: dict[str, str], where: dict[str, int]) -> tuple[Path, Path]:
    extra, primary = root / "extra", root / "primary"
    for name, text in files.items():
        path = (extra if where.get(name) == 0 else primary) / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    extra.mkdir(exist_ok=True)
    return primary, extra


@settings(
    max_examples=int(os.environ.get("RESOLVER_PARITY_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(tree=trees())
def test_composition_equals_hydra_compose(tree) -> None:
    """A generated tree composes to the value and types hydra.compose gives, or both refuse."""
    files, where, overrides = tree
    with tempfile.TemporaryDirectory() as tmp:
        primary, extra = write_tree(Path(tmp), files, where)
        try:
            expected = hydra_compose(primary, extra, overrides)
        except Exception as e:  # whatever Hydra raises, we must refuse the tree too
            refused: Exception | None = e
        else:
            refused = None
        try:
            ours = compose_plain(
                env=None, overrides=overrides, config_dirs=[extra], config_path=primary
            )
        except resolver.ConfigError as e:
            ours, why = None, str(e)
        event(
            f"Hydra refused: {str(refused).splitlines()[0][:60]}" if refused else "Hydra composed"
        )
        # An env file without its `_global_` header, and Hydra's own settings in a file,
        # compose as in Hydra, but are resolver errors (the README's rules on top of Hydra's).
        ours_only = (ENV_WITHOUT_HEADER, "hydra-setting")
        rejected = [p for p in ours.problems if p.code not in ours_only] if ours else []
        if ours is None or refused is not None:
            assert ours is None or rejected, f"Hydra refused ({refused!r}), we composed"
            assert refused is not None, f"we refused what Hydra composes: {why}"
            return
        assert not rejected, rejected
        assert typed(ours.data) == typed(expected)


@pytest.mark.skipif(HYDRA_14, reason="Hydra 1.4 has one set of rules, whatever the host did")
def test_group_header_does_not_depend_on_the_host_version_base(tmp_path) -> None:
    """A `# @package _group_` file composes the same whichever version_base the host process
    gave Hydra before (1.1's rules differ), and as Hydra 1.3 composes it."""
    files = {
        "config": "defaults:\n  - a: x\n  - _self_\n",
        "a/x": "# @package _group_\nk1: 1\n",
    }
    primary, extra = write_tree(tmp_path, files, {})
    results = []
    for base in ("1.1", "1.3", "1.1"):
        with initialize_config_dir(config_dir=str(primary), version_base=base):
            pass  # what a host application does once, before any load
        results.append(
            compose_plain(env=None, overrides=[], config_dirs=[extra], config_path=primary).data
        )
    assert results[0] == results[1] == results[2] == hydra_compose(primary, extra, [])


@pytest.mark.parametrize(
    ("files", "key", "value"),
    [
        (  # a later file merges into what an interpolation points at
            {
                "config": "defaults:\n  - _self_\n  - env: e\nx: {p: 1, q: 2}\na: ${x}\n",
                "env/e": "# @package _global_\na: {q: 3}\n",
            },
            "a",
            {"p": 1, "q": 3},
        ),
        ({"config": "defaults:\n  - _self_\n2024: {k1: 1}\n"}, 2024, {"k1": 1}),
        (
            {"config": "defaults:\n  - _self_\nk1: 1\nhydra:\n  job:\n    name: x\n"},
            "hydra",
            None,
        ),
    ],
    ids=["merge-into-interpolation", "numeric-top-level-key", "hydra-key-left-out"],
)
def test_known_differences_are_gone(tmp_path, files, key, value) -> None:
    """The differences issue 10 found against hydra.compose compose as Hydra does."""
    primary, extra = write_tree(tmp_path, files, {})
    ours = compose_plain(env=None, overrides=[], config_dirs=[extra], config_path=primary).data
    assert ours.get(key) == value
    assert typed(ours) == typed(hydra_compose(primary, extra, []))
