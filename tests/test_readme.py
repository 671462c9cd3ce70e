"""The README's examples run as written: every fenced block marked `<!-- readme-test -->` runs in
one fresh directory, in order, with no vendor key set, and prints what the README shows.

Console blocks: each `$ ` line (with its `\\` continuations) runs in bash and must exit 0; the
lines under it are its expected stdout, where `...` stands for any number of lines. Python
blocks run in a fresh interpreter; the `# ` comment lines right after a `print(...)` are the
expected output, compared with whitespace collapsed (the README wraps long lines). A marker
with a path, `<!-- readme-test: deploy/conf/env/canary.yaml -->`, writes the block to that file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(
    r"^<!-- readme-test(?::\s*(?P<path>\S+))? -->\n```(?P<lang>\w+)\n(?P<body>.*?)^```$",
    re.M | re.S,
)


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    body: str
    path: str | None


def _blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    return [
        Block(text.count("\n", 0, m.start()) + 1, m["lang"], m["body"], m["path"])
        for m in _BLOCK.finditer(text)
    ]


def _environment() -> dict[str, str]:
    """The caller's environment without vendor keys or resolver settings, with this
    interpreter's scripts (fallback-resolver) first on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and not k.startswith("RESOLVER_") and k != "PYTHONPATH"
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    return env


def _commands(body: str) -> list[tuple[str, list[str]]]:
    """(command, expected stdout lines) for each `$ ` line of a console block."""
    runs: list[tuple[str, list[str]]] = []
    continued = False
    for line in body.splitlines():
        if continued:
            runs[-1] = (runs[-1][0] + "\n" + line, [])
        elif line.startswith("$ "):
            runs.append((line[2:], []))
        elif runs and line:
            runs[-1][1].append(line)
        continued = line.endswith("\\")
    return runs


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` is ``expected`` with each `...` line standing for any lines."""
    pattern = "".join(
        r"(?:.*\n)*?" if line == "..." else re.escape(line.rstrip()) + r"\n" for line in expected
    )
    return re.fullmatch(pattern, "".join(f"{line.rstrip()}\n" for line in actual)) is not None


def _python_expected(body: str) -> str:
    """The comment lines that follow a `print(...)` line, joined."""
    out: list[str] = []
    code = ""
    for line in body.splitlines():
        if line.startswith("# "):
            if code.startswith("print("):
                out.append(line[2:])
        elif line.strip():
            code = line
    return " ".join(out)


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_readme_has_runnable_blocks() -> None:
    """The README marks its console and Python examples to run (so this test cannot pass empty)."""
    langs = [b.lang for b in _blocks()]
    assert langs.count("console") >= 3
    assert langs.count("python") >= 4


def test_readme_examples_run_as_written(tmp_path: Path) -> None:
    """Every marked block runs in order in one directory and prints what the README shows."""
    env = _environment()
    for block in _blocks():
        where = f"README.md line {block.line}"
        if block.path is not None:
            target = tmp_path / block.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.body, encoding="utf-8")
        elif block.lang == "console":
            for command, expected in _commands(block.body):
                run = subprocess.run(
                    ["bash", "-c", command], capture_output=True, text=True, cwd=tmp_path, env=env
                )
                assert run.returncode == 0, f"{where}: {command}\n{run.stderr}"
                if expected:
                    got = run.stdout.splitlines()
                    assert _matches(expected, got), f"{where}: {command}\n{run.stdout}"
        elif block.lang == "python":
            run = subprocess.run(
                [sys.executable, "-c", block.body],
                capture_output=True,
                text=True,
                cwd=tmp_path,
                env=env,
            )
            assert run.returncode == 0, f"{where}\n{run.stderr}"
            expected = _squash(_python_expected(block.body))
            if expected:
                got = _squash(run.stdout)
                pattern = r"\s?.*?\s?".join(re.escape(part) for part in expected.split("..."))
                assert re.fullmatch(pattern, got), f"{where}: expected {expected!r}, got {got!r}"
        else:
            pytest.fail(f"{where}: a marked {block.lang} block needs a path to be written to")
