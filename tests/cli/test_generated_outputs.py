"""compile, export and graph write generated files: `-o FILE` replaces a file already there (it
is regenerated from the configuration, never edited by hand), and their help says so. An export
never writes over the snapshot it reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from resolver.cli import main


@pytest.mark.parametrize(
    "args",
    [
        ["compile"],
        ["export", "--format", "litellm"],
        ["export", "--format", "json-schema"],
        ["graph", "--format", "dot"],
    ],
)
def test_an_existing_output_is_replaced(tmp_path, capsys, args):
    """A file already at -o is replaced by the generated one (exit 0), as each run writes it."""
    out = tmp_path / "generated"
    out.write_text("stale\n", encoding="utf-8")
    assert main([*args, "-o", str(out)]) == 0
    assert "stale" not in out.read_text(encoding="utf-8")
    assert main([*args, "-o", str(out)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("command", ["compile", "export", "graph"])
def test_help_says_the_output_is_replaced(capsys, command):
    """Each generating command's help says a file at -o is replaced."""
    assert main([command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "a file already there is replaced" in out


def test_an_export_never_writes_over_its_snapshot(tmp_path, capsys):
    """`export --snapshot X -o X` is refused (exit 2, naming the file) and X is unchanged."""
    snap = tmp_path / "prod.json"
    assert main(["compile", "-o", str(snap)]) == 0
    before = snap.read_bytes()
    capsys.readouterr()
    assert main(["export", "--format", "ts", "--snapshot", str(snap), "-o", str(snap)]) == 2
    err = capsys.readouterr().err
    assert str(snap) in err
    assert "another file" in err
    assert snap.read_bytes() == before
    assert main(["export", "--format", "ts", "--snapshot", str(snap), "-o", str(Path(snap))]) == 2
    capsys.readouterr()
