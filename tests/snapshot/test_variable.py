"""A snapshot named by RESOLVER_SNAPSHOT that cannot be served says that the variable named it."""

from __future__ import annotations

import pytest

import resolver
from resolver import SnapshotError


@pytest.mark.parametrize("content", [None, "{not json", '{"format": 1}'])
def test_a_bad_snapshot_from_the_variable_names_the_variable(tmp_path, monkeypatch, content):
    """A missing, malformed or foreign file in RESOLVER_SNAPSHOT fails the first lookup with a
    SnapshotError naming the file and the variable, and a hint to fix it."""
    path = tmp_path / "fallbacks.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    monkeypatch.setenv("RESOLVER_SNAPSHOT", str(path))

    with pytest.raises(SnapshotError) as caught:
        resolver.get_fallback_provider("deepseek-r1-0528-syn")

    message = str(caught.value)
    assert str(path) in message
    assert "RESOLVER_SNAPSHOT" in message
