"""A snapshot whose hash a hand recomputed is held to the configuration's own rules: a value
composition refuses (a credentialed or spaced URL, an id with a control or bidirectional
character, a key in place of a variable's name, a number out of bounds) is refused on restore
too, naming the key, and the refusal never shows a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snapshot_support import rehashed

import resolver
from resolver import SnapshotError, load_snapshot, snapshot

SECRET = "sk-live-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("snap") / "snap.json"
    snapshot.write(resolver.load(environ={}), path)
    return json.loads(path.read_text(encoding="utf-8"))


FIELD_EDITS = {
    "credentialed base_url": ("base_url", f"https://user:{SECRET}@api.example/v1"),
    "spaced base_url": ("base_url", "https://api.example/v1 "),
    "not http": ("base_url", "ftp://api.example/v1"),
    "escape in the vendor's model name": ("model", "gpt\x1b[31m"),
    "bidi override in the model name": ("model", "gpt\u202eoss"),
    "a key for a variable name": ("api_key_env", SECRET),
    "negative timeout": ("timeout_s", -1.0),
    "zero max_concurrency": ("max_concurrency", 0),
}


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edit=st.sampled_from(sorted(FIELD_EDITS)), pick=st.integers(min_value=0))
def test_a_field_composition_refuses_is_refused_on_restore(
    content: dict, tmp_path: Path, edit: str, pick: int
):
    """Any provider, any of the edits: SnapshotError naming providers.ID.FIELD, no secret."""
    ids = sorted(content["providers"])
    pid = ids[pick % len(ids)]
    field, value = FIELD_EDITS[edit]
    edited = json.loads(json.dumps(content))
    edited["providers"][pid][field] = value
    path = tmp_path / f"edited-{pick}.json"
    path.write_text(rehashed(edited), encoding="utf-8")
    with pytest.raises(SnapshotError) as caught:
        load_snapshot(path)
    text = str(caught.value)
    assert f"providers.{pid}.{field}" in text
    assert SECRET not in text
    assert "\x1b" not in text
    assert "\u202e" not in text


@pytest.mark.parametrize("bad", ["qwen\x1b[2J", "qwen\u200b", " qwen", "???"])
def test_an_id_composition_refuses_is_refused_on_restore(content: dict, tmp_path: Path, bad: str):
    """A provider renamed to an id with a control, zero-width or leading space, or ???: the
    snapshot is refused, the id shown escaped."""
    edited = json.loads(json.dumps(content))
    pid = sorted(edited["providers"])[0]
    provider = edited["providers"].pop(pid)
    edited["providers"][bad] = {**provider, "id": bad}
    path = tmp_path / "renamed.json"
    path.write_text(rehashed(edited), encoding="utf-8")
    with pytest.raises(SnapshotError, match=r"bad|id") as caught:
        load_snapshot(path)
    assert "\x1b" not in str(caught.value)
    assert "\u200b" not in str(caught.value)


def test_an_untouched_snapshot_still_loads(content: dict, tmp_path: Path):
    """The rules take nothing that composition takes: the shipped catalog's snapshot, rehashed
    as it is, loads with every provider."""
    path = tmp_path / "same.json"
    path.write_text(rehashed(content), encoding="utf-8")
    assert set(load_snapshot(path).providers) == set(content["providers"])
