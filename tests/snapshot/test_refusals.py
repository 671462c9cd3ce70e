"""Snapshots refused with a message that says why and what to do: another version, and content
this version cannot read even though its hash matches."""

from __future__ import annotations

import hashlib
import json

import pytest

from resolver import snapshot
from resolver.errors import SnapshotError


def rehashed(content: dict) -> str:
    """A snapshot text for ``content`` with a freshly computed hash (sorted compact JSON,
    SHA-256), as a hand editing the file and fixing the hash would write it."""
    body = {k: v for k, v in content.items() if k != "integrity"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return json.dumps({**body, "integrity": digest})


def test_our_own_hash_is_the_sha256_of_the_sorted_content(content):
    """The integrity field is the SHA-256 of the rest, as sorted compact JSON: a file rehashed
    by that rule loads."""
    assert snapshot.from_json(rehashed(content)).env == "prod"


def test_a_snapshot_of_another_version_says_how_to_fix_it(content):
    """A snapshot from another version is refused with a hint naming the command that fixes it."""
    content["version"] = "0.0.1"
    with pytest.raises(SnapshotError) as caught:
        snapshot.from_json(rehashed(content))
    assert caught.value.hint == "recompile it with this version: fallback-resolver compile -o FILE"


def test_unknown_fields_are_named_when_a_rehashed_snapshot_is_refused(content):
    """A hand-edited snapshot with a matching hash but a field this version does not know is
    refused, naming the field."""
    model_id = next(iter(content["providers"]))
    content["providers"][model_id]["bogus_field"] = 1
    with pytest.raises(SnapshotError) as caught:
        snapshot.from_json(rehashed(content))
    assert "cannot read" in str(caught.value)
    assert "unknown fields ['bogus_field']" in str(caught.value)
