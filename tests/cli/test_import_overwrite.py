"""`import` writes config a user edits by hand: it never replaces a file already there without
`--force`. Refused, it exits 2 with one line naming the files and the flag, and writes none of
its files, not even those that were not there yet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import resolver
from resolver import load
from resolver.cli import main

# Three vendors and an edge: the import writes env/, fallbacks/ and one providers/ file per vendor.
CONFIG = {
    "model_list": [
        {"model_name": "big", "litellm_params": {"model": "openai/gpt-4o"}},
        {"model_name": "small", "litellm_params": {"model": "groq/llama-3.1-8b-instant"}},
        {"model_name": "long", "litellm_params": {"model": "gemini/gemini-2.5-flash"}},
    ],
    "router_settings": {"fallbacks": [{"big": ["small", "long"]}]},
}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "litellm.yaml"
    path.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    return path


def run(source: Path, out: Path, *flags: str) -> int:
    return main(["import", "--from", "litellm", str(source), "-o", str(out), *flags])


def contents(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_a_second_import_is_refused_and_changes_nothing(tmp_path, source, capsys):
    """Importing again into the same dir exits 2 with one line naming the files and --force,
    and leaves every file byte for byte as it was."""
    out = tmp_path / "out"
    assert run(source, out) == 0
    capsys.readouterr()
    written = contents(out)
    assert len(written) >= 3
    assert run(source, out) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert str(out / "env" / "imported.yaml") in err
    assert "--force" in err
    assert "nothing written" in err
    assert contents(out) == written


def test_force_overwrites_a_hand_edited_file(tmp_path, source, capsys):
    """With --force the import replaces the files, hand edits included, and what it wrote
    loads."""
    out = tmp_path / "out"
    assert run(source, out) == 0
    written = contents(out)
    edited = out / "env" / "imported.yaml"
    edited.write_text(edited.read_text(encoding="utf-8") + "# my edit\n", encoding="utf-8")
    assert run(source, out) == 2
    assert "# my edit" in edited.read_text(encoding="utf-8")
    assert run(source, out, "--force") == 0
    assert contents(out) == written
    assert load(env="imported", config_dirs=[out]).fallbacks == {"big": ("small", "long")}
    capsys.readouterr()


def test_one_file_in_the_way_stops_every_file(tmp_path, source, capsys):
    """When only one of the files the import would write is there, it is refused before any
    other file is written."""
    out = tmp_path / "out"
    mine = out / "fallbacks" / "imported.yaml"
    mine.parent.mkdir(parents=True)
    mine.write_text("# @package _global_\nmine: [kept]\n", encoding="utf-8")
    before = contents(out)
    assert run(source, out) == 2
    err = capsys.readouterr().err
    assert str(mine) in err
    assert "already exists" in err
    assert "overwrite it" in err
    assert contents(out) == before


def test_another_env_name_writes_beside_the_first(tmp_path, source, capsys):
    """The refusal is per file: an import under another --name into the same dir writes its
    own files and leaves the first import's alone."""
    out = tmp_path / "out"
    assert run(source, out) == 0
    first = contents(out)
    assert run(source, out, "--name", "second") == 0
    after = contents(out)
    assert {k: v for k, v in after.items() if k in first} == first
    assert "env/second.yaml" in after
    capsys.readouterr()


def test_the_refusal_is_one_line_without_a_traceback_from_a_real_process(tmp_path, source):
    """Run as a command, the refusal exits 2 with one stderr line and no traceback."""
    out = tmp_path / "out"
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(Path(resolver.__file__).parent.parent),
    }
    args = [sys.executable, "-m", "resolver", "import", "--from", "litellm", str(source)]
    first = subprocess.run(
        [*args, "-o", str(out)], env=environ, capture_output=True, text=True, check=False
    )
    assert first.returncode == 0, first.stderr
    again = subprocess.run(
        [*args, "-o", str(out)], env=environ, capture_output=True, text=True, check=False
    )
    assert again.returncode == 2
    assert "Traceback" not in again.stderr
    assert len(again.stderr.splitlines()) == 1
    assert again.stderr.startswith("fallback-resolver: error: ")


def test_import_help_says_force_overwrites(capsys):
    """`import --help` says that files already there are kept unless --force."""
    assert main(["import", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "nothing is written (exit 2) unless --force" in out
    assert "--force overwrite files already in DIR" in out
