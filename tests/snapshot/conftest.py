"""Fixtures of the snapshot tests: the content of a freshly compiled snapshot, to edit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import resolver
from resolver import snapshot


@pytest.fixture
def content(tmp_path: Path) -> dict[str, Any]:
    """The JSON content of a snapshot of the shipped config, as ``compile`` writes it."""
    path = tmp_path / "snap.json"
    snapshot.write(resolver.load(), path)
    return json.loads(path.read_text(encoding="utf-8"))
