"""A value only YAML has (a ``!!set``, ``!!binary``, ``!!timestamp`` or ``!!omap``) is refused
where it is written, naming the file and the key, on every surface that reads YAML: a file of
the config tree in any group, and a LiteLLM config given to `import`."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resolver
from resolver import ConfigError
from resolver.cli import main

TAGGED = {
    "!!set {a, b}": "set",
    "!!binary aGVsbG8=": "bytes",
    "!!timestamp 2001-12-14": "date",
    "!!omap [{a: 1}]": "tuple",
}


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(TAGGED)), st.sampled_from(["env", "providers", "fallbacks"]))
def test_a_tagged_value_in_any_group_is_named_with_its_key(own_tree: Path, tag: str, group: str):
    """The tagged value under a new key of an env, vendor or fallbacks file: one yaml-type
    problem naming that file and the key path, and the Python type it would have been."""
    path = {
        "env": own_tree / "env" / "prod.yaml",
        "providers": own_tree / "providers" / "open.yaml",
        "fallbacks": own_tree / "fallbacks" / "mine.yaml",
    }[group]
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original + f"odd:\n  value: {tag}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            resolver.load(config_path=own_tree, environ={})
    finally:
        path.write_text(original, encoding="utf-8")
    [problem] = [p for p in caught.value.problems if p.code == "yaml-type"]
    assert problem.file is not None
    assert problem.file.endswith(f"{group}/{path.name}")
    assert problem.key is not None
    assert problem.key.startswith("odd.value")
    assert f"a YAML {TAGGED[tag]} " in problem.message


def test_a_plain_tag_still_loads(own_tree: Path):
    """`!!str 12` and `!!int "3"` are plain values: a tag alone is not refused."""
    vendor = own_tree / "providers" / "open.yaml"
    vendor.write_text(
        vendor.read_text(encoding="utf-8").replace("timeout_s: 5", 'timeout_s: !!int "5"'),
        encoding="utf-8",
    )
    assert resolver.load(config_path=own_tree, environ={})


def test_the_litellm_import_names_a_tagged_value(tmp_path: Path, capsys):
    """`import --from litellm` of a file with a `!!set`: exit 2, yaml-type, nothing written."""
    source = tmp_path / "litellm.yaml"
    source.write_text(
        "model_list:\n  - model_name: a\n    litellm_params: {model: openai/gpt-4o, "
        "tags: !!set {x, y}}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["import", "--from", "litellm", str(source), "-o", str(out)]) == 2
    err = "".join(capsys.readouterr())
    assert "yaml-type" in err
    assert "model_list[0].litellm_params.tags" in err
    assert not out.exists()
