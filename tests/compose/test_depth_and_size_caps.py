"""Depth and size are capped on every surface that takes nested data: a file of any group (through
libyaml or PyYAML's own parser), a command-line override, a LiteLLM config given to `import`,
and a snapshot. Any depth past the cap (32) ends in one located too-deep problem (or a
SnapshotError), never a RecursionError; 32 levels and fewer are judged on their content."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resolver
from resolver import ConfigError, SnapshotError
from resolver.cli import main
from resolver.configfile import MAX_DEPTH, MAX_FILE_BYTES
from resolver.snapshot import MAX_SNAPSHOT_BYTES

DEPTHS = st.one_of(st.integers(MAX_DEPTH + 1, 80), st.sampled_from([400, 999, 1001, 5000]))


def nested(depth: int, flow: str) -> str:
    """A YAML value ``depth`` containers deep: flow lists, flow mappings or block mappings."""
    if flow == "list":
        return "[" * depth + "1" + "]" * depth
    if flow == "map":
        return "{a: " * depth + "1" + "}" * depth
    return (
        "\n"
        + "".join("  " * (i + 2) + "a:\n" for i in range(depth - 1))
        + "  " * (depth + 1)
        + "a: 1"
    )


@pytest.mark.slow  # a long property run: `pytest -m slow`, and CI
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    depth=DEPTHS,
    flow=st.sampled_from(["list", "map", "block"]),
    group=st.sampled_from(["env", "providers"]),
    accent=st.booleans(),  # a non-ASCII character sends the file through PyYAML's own parser
)
def test_a_file_nested_past_the_cap_is_too_deep_naming_it(
    own_tree: Path, depth: int, flow: str, group: str, accent: bool
):
    """Any depth past the cap, in an env or vendor file, on either parser: one too-deep
    problem naming the file, in a few seconds."""
    path = own_tree / ("env/prod.yaml" if group == "env" else "providers/open.yaml")
    original = path.read_text(encoding="utf-8")
    extra = ("# caf\u00e9\n" if accent else "") + f"odd: {nested(depth, flow)}\n"
    path.write_text(original + extra, encoding="utf-8")
    began = time.monotonic()
    try:
        with pytest.raises(ConfigError) as caught:
            resolver.load(config_path=own_tree, environ={})
    finally:
        path.write_text(original, encoding="utf-8")
    assert time.monotonic() - began < 10
    [problem] = [p for p in caught.value.problems if p.code == "too-deep"]
    assert str(problem.file).endswith(path.relative_to(own_tree).as_posix())


@settings(max_examples=15, deadline=None)
@given(depth=st.one_of(st.integers(MAX_DEPTH + 1, 80), st.sampled_from([300, 2000])))
def test_an_override_nested_past_the_cap_is_too_deep_naming_it(depth: int):
    """`++x=[[[...]]]` past the cap: one too-deep problem naming the override."""
    line = "++x=" + "[" * depth + "]" * depth
    with pytest.raises(ConfigError) as caught:
        resolver.load(overrides=[line], environ={})
    [problem] = [p for p in caught.value.problems if p.code == "too-deep"]
    assert problem.file == f"override {line!r}"


def test_within_the_cap_nesting_is_judged_on_content(own_tree: Path):
    """30 levels in an env file is no too-deep problem (the key is unknown, and said so)."""
    env = own_tree / "env" / "prod.yaml"
    env.write_text(env.read_text(encoding="utf-8") + f"odd: {nested(30, 'map')}\n", "utf-8")
    with pytest.raises(ConfigError) as caught:
        resolver.load(config_path=own_tree, environ={})
    errors = [p.code for p in caught.value.problems if p.severity == "error"]
    assert errors == ["unknown-key"]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 5, 3000])
def test_the_litellm_import_refuses_a_deep_file(tmp_path: Path, depth: int, capsys):
    """A LiteLLM config nested past the cap: `import` exits 2 with too-deep, nothing written,
    no traceback."""
    source = tmp_path / "litellm.yaml"
    source.write_text(
        "model_list:\n  - model_name: a\n    litellm_params: {model: openai/gpt-4o}\n"
        f"odd: {nested(depth, 'list')}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["import", "--from", "litellm", str(source), "-o", str(out)]) == 2
    err = "".join(capsys.readouterr())
    assert "too-deep" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_a_deep_json_snapshot_is_refused_naming_it(tmp_path: Path):
    """100,000 nested lists as a snapshot: SnapshotError naming the file."""
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(SnapshotError) as caught:
        resolver.load_snapshot(path)
    assert caught.value.path == str(path)
    assert "deeper" in str(caught.value)


def test_the_command_line_exits_2_without_a_traceback(tmp_path: Path, capsys):
    """`validate` with an override 2,000 brackets deep: exit 2, too-deep, no traceback."""
    assert main(["validate", "++x=" + "[" * 2000 + "]" * 2000]) == 2
    out = "".join(capsys.readouterr())
    assert "too-deep" in out
    assert "Traceback" not in out


def _sparse(path: Path, size: int) -> Path:
    """A file of ``size`` bytes that takes no disk (a hole): only its size is read."""
    with path.open("wb") as f:
        f.truncate(size)
    return path


def test_a_config_file_past_the_size_cap_is_refused_unread(tmp_path: Path):
    """An env file one byte past MAX_FILE_BYTES: yaml-too-large naming the file and the limit,
    at once (the file is not read)."""
    (tmp_path / "env").mkdir()
    _sparse(tmp_path / "env" / "huge.yaml", MAX_FILE_BYTES + 1)
    began = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        resolver.load("huge", config_dirs=[tmp_path], environ={})
    assert time.monotonic() - began < 5
    [problem] = caught.value.problems
    assert problem.code == "yaml-too-large"
    assert str(problem.file).endswith("env/huge.yaml")
    assert f"{MAX_FILE_BYTES:,}" in problem.message


def test_the_import_refuses_a_file_past_the_size_cap(tmp_path: Path, capsys):
    """`import` of a LiteLLM config past the cap: exit 2, the limit named, nothing written."""
    source = _sparse(tmp_path / "litellm.yaml", MAX_FILE_BYTES + 1)
    out = tmp_path / "out"
    assert main(["import", "--from", "litellm", str(source), "-o", str(out)]) == 2
    assert f"{MAX_FILE_BYTES:,}" in capsys.readouterr().err
    assert not out.exists()


def test_a_snapshot_past_the_size_cap_is_refused_unread(tmp_path: Path):
    """A snapshot past MAX_SNAPSHOT_BYTES: SnapshotError naming the file and the limit."""
    path = _sparse(tmp_path / "huge.json", MAX_SNAPSHOT_BYTES + 1)
    with pytest.raises(SnapshotError) as caught:
        resolver.load_snapshot(path)
    assert f"{MAX_SNAPSHOT_BYTES:,}" in str(caught.value)


def test_a_huge_max_depth_ends_where_the_chains_end(monkeypatch: pytest.MonkeyPatch):
    """policy.max_depth=10**22: loads and walks chains at once (the walk stops with the graph)."""
    monkeypatch.setenv("TOGETHER_API_KEY", "set")
    monkeypatch.setenv("SYNTHETIC_API_KEY", "set")
    began = time.monotonic()
    r = resolver.load(overrides=["policy.max_depth=" + "9" * 22], environ={})
    assert r.get_fallback_chain("deepseek-r1-0528-syn")
    assert time.monotonic() - began < 10


def test_an_override_number_python_will_not_read_is_malformed(capsys):
    """A 10,000-digit number in an override: exit 2, malformed-override, no traceback."""
    assert main(["validate", "policy.max_depth=" + "9" * 10_000]) == 2
    out = "".join(capsys.readouterr())
    assert "malformed-override" in out
    assert "Traceback" not in out
