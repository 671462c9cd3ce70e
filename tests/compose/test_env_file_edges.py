"""Env files at the edges: an empty one is an env that changes nothing, and a byte-order mark
in front of the `# @package` line is named as what it is."""

from __future__ import annotations

from pathlib import Path

import resolver
from resolver.cli import main


def test_an_empty_env_file_loads_as_an_env_that_changes_nothing(tmp_path: Path):
    """A 0-byte env/quiet.yaml loads, with the same providers and policy as the shipped prod
    env has under the same base, and no unknown key 'env'."""
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "quiet.yaml").write_bytes(b"")
    quiet = resolver.load("quiet", config_dirs=[tmp_path], environ={})
    assert quiet.env == "quiet"
    assert not [w for w in quiet.warnings if w.code == "unknown-key"]
    assert set(quiet.providers) == set(resolver.load(environ={}).providers)


def test_a_bom_before_the_header_is_named(tmp_path: Path, capsys):
    """A UTF-8 BOM in front of `# @package _global_`: exit 2, the file named, the BOM named,
    and how to save the file instead."""
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "bom.yaml").write_bytes(
        "\ufeff# @package _global_\npolicy:\n  max_depth: 2\n".encode()
    )
    assert main(["validate", "--env", "bom", "--config-dir", str(tmp_path)]) == 2
    out = "".join(capsys.readouterr())
    assert "env/bom.yaml" in out
    assert "byte-order mark (U+FEFF)" in out
    assert "without a BOM" in out
    assert "not at the top" not in out
