"""Shared fixtures: a clean environment and deployment config trees written into tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

KEY_VARS = ("TOGETHER_API_KEY", "SYNTHETIC_API_KEY", "RESOLVER_ENV", "RESOLVER_CONFIG_DIRS")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no vendor keys and no resolver settings from the caller's shell."""
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config_tree(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write ``{relative path: YAML text}`` into a fresh deployment config dir and return it."""

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "deploy"
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        root.mkdir(exist_ok=True)
        return root

    return write
