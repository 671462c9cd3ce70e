"""The examples of README.md and of every docs/ page run as written.

A fenced block runs when the line right above it is the marker `<!-- docs-test -->` (the README's
older `<!-- readme-test -->` works the same). Each page's marked blocks run in order in one fresh
directory of that page's own, with no vendor key and no RESOLVER_* variable set, and the test
of a page names the page and the line of the block that failed.

Console blocks: each `$ ` line (with its `\\` continuations) runs in bash and must exit 0; the
lines under it are its expected stdout, where `...` stands for any number of lines. Python
blocks run in a fresh interpreter; the `# ` comment lines right after a `print(...)` line are
the expected output, compared with whitespace collapsed (pages wrap long lines), where `...`
stands for any text. A marker with a path, `<!-- docs-test: deploy/conf/env/canary.yaml -->`,
writes the block to that file (relative to the page's directory) instead of running it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
_MARKER = r"<!-- (?:docs|readme)-test(?::\s*(?P<path>\S+))? -->"
_BLOCK = re.compile(rf"^{_MARKER}\n```(?P<lang>\w+)\n(?P<body>.*?)^```$", re.M | re.S)
# A block's run is bounded, so that an example that waits (a server) fails instead of hanging.
TIMEOUT_S = 120


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    body: str
    path: str | None

    @property
    def where(self) -> str:
        return f"{self.page} line {self.line}"


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [
        Block(_name(page), text.count("\n", 0, m.start()) + 1, m["lang"], m["body"], m["path"])
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
    """The comment lines that follow a `print(...)` line (indented or not), joined."""
    out: list[str] = []
    code = ""
    for line in body.splitlines():
        if line.startswith("# "):
            if code.startswith("print("):
                out.append(line[2:])
        elif line.strip():
            code = line.strip()
    return " ".join(out)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _run(block: Block, cwd: Path, env: dict[str, str]) -> None:
    if block.path is not None:
        target = cwd / block.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.body, encoding="utf-8")
    elif block.lang == "console":
        for command, expected in _commands(block.body):
            run = subprocess.run(
                ["bash", "-c", command],
                capture_output=True,
                text=True,
                cwd=cwd,
                env=env,
                timeout=TIMEOUT_S,
            )
            assert run.returncode == 0, f"{block.where}: {command}\n{run.stderr}"
            if expected:
                got = run.stdout.splitlines()
                assert _matches(expected, got), f"{block.where}: {command}\n{run.stdout}"
    elif block.lang == "python":
        run = subprocess.run(
            [sys.executable, "-c", block.body],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            timeout=TIMEOUT_S,
        )
        assert run.returncode == 0, f"{block.where}\n{run.stderr}"
        expected = _squash(_python_expected(block.body))
        if expected:
            got = _squash(run.stdout)
            pattern = r"\s?.*?\s?".join(re.escape(part) for part in expected.split("..."))
            assert re.fullmatch(pattern, got), f"{block.where}: expected {expected!r}, got {got!r}"
    else:
        pytest.fail(f"{block.where}: a marked {block.lang} block needs a path to be written to")


@pytest.mark.parametrize("page", [p for p in PAGES if _blocks(p)], ids=_name)
def test_examples_run_as_written(page: Path, tmp_path: Path) -> None:
    """Every marked block of the page runs in order in one directory and prints what the page
    shows."""
    env = _environment()
    for block in _blocks(page):
        _run(block, tmp_path, env)


def test_pages_have_runnable_blocks() -> None:
    """The README and the docs mark their examples to run (so the test above cannot pass empty),
    and the reference pages the issue names each have some."""
    blocks = [b for page in PAGES for b in _blocks(page)]
    langs = [b.lang for b in blocks]
    assert langs.count("console") >= 15
    assert langs.count("python") >= 10
    pages = {b.page for b in blocks}
    for name in ("README.md", "docs/cli.md", "docs/configuration.md", "docs/validation.md"):
        assert name in pages, f"{name} has no example marked to run"


def test_every_marker_is_above_a_fence() -> None:
    """A marker that is not right above a fenced block (a blank line between, a typo in the
    language) would silently run nothing: each one must start a block."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        starts = {m.start() for m in _BLOCK.finditer(text)}
        for m in re.finditer(rf"^{_MARKER}", text, re.M):
            line = text.count("\n", 0, m.start()) + 1
            assert m.start() in starts, f"{_name(page)} line {line}: marker not above a fence"


def _nav_pages(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def test_every_page_is_in_the_nav() -> None:
    """mkdocs.yml's nav lists each docs page once, and nothing else (mkdocs --strict would
    refuse the build; this says so without MkDocs installed)."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    listed = _nav_pages(config["nav"])
    pages = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")]
    assert sorted(listed) == sorted(pages)


def _slug(heading: str) -> str:
    """The anchor Python-Markdown's toc gives a heading (its default slugify)."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```$", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {_slug(m[1]) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, re.M)}


def test_readme_links_reach_a_page_and_its_heading() -> None:
    """Each relative link of the README (its table of contents into docs/) names a file that
    exists and, with a #fragment, a heading of that page."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?!https?:|mailto:)[^)#\s]+)(?:#([^)\s]+))?\)", readme)
    assert len(links) >= 10
    for target, fragment in links:
        path = ROOT / target
        assert path.exists(), f"README.md links to {target}, which does not exist"
        if fragment:
            assert fragment in _anchors(path), f"README.md: no heading #{fragment} in {target}"
