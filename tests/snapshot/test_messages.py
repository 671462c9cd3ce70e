"""A refused snapshot says which file, what is wrong with it in words a person reads, and what
to do about it: unreadable, not a snapshot, another format, edited, or damaged by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from snapshot_support import rehashed

import resolver
from resolver import SnapshotError, load_snapshot, snapshot


def refusal(path: Path) -> SnapshotError:
    with pytest.raises(SnapshotError) as caught:
        load_snapshot(path)
    assert caught.value.path == str(path)
    return caught.value


def test_a_missing_file_is_named_with_the_systems_reason(tmp_path) -> None:
    """A snapshot path that does not exist is refused with the file and the system's words for
    why, not a Python traceback text."""
    error = refusal(tmp_path / "gone.json")
    assert error.reason == "cannot be read: No such file or directory"


def test_a_file_that_is_not_utf8_is_refused_as_unreadable(tmp_path) -> None:
    """A snapshot file that is not UTF-8 text is refused as unreadable, naming the file."""
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"env": "caf\xe9"}')
    error = refusal(path)
    assert error.reason.startswith("cannot be read: 'utf-8' codec can't decode byte 0xe9")


def test_json_without_an_integrity_hash_is_not_a_snapshot(tmp_path) -> None:
    """A JSON file without the integrity hash is refused as not being a snapshot at all."""
    path = tmp_path / "other.json"
    path.write_text('{"providers": {}}', encoding="utf-8")
    error = refusal(path)
    assert error.reason == "is not a fallback-resolver snapshot (no integrity hash)"
    assert str(error) == f"snapshot {path}: {error.reason}"


def test_text_without_a_path_is_named_as_a_snapshot(content) -> None:
    """Snapshot text read without a file name is named ``<snapshot>`` in its refusal."""
    with pytest.raises(SnapshotError) as caught:
        snapshot.from_json("{}")
    assert caught.value.path == "<snapshot>"


def test_another_format_names_both_formats(content, tmp_path) -> None:
    """A snapshot of another format number is refused, naming its version and format and this
    package's."""
    content["format"] = 99
    path = tmp_path / "future.json"
    path.write_text(rehashed(content), encoding="utf-8")
    error = refusal(path)
    this = resolver.__version__
    assert error.reason == (
        f"was compiled by fallback-resolver {this!r} (format 99); this is {this} (format 1)"
    )


def test_an_edited_snapshot_says_to_change_the_yaml_instead(content, tmp_path) -> None:
    """A snapshot edited after compiling is refused, saying so and pointing back to the YAML."""
    content["env"] = "staging"
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    error = refusal(path)
    assert error.reason == (
        "does not match its integrity hash: it was edited or damaged after compiling"
    )
    assert error.hint == "change the YAML configuration and recompile; never edit a snapshot"


def test_a_provider_that_is_not_an_object_is_named_with_its_key(content, tmp_path) -> None:
    """A hand-made snapshot whose provider entry is not an object is refused, naming its key,
    which kind of entry and what it was instead, and saying to compile again."""
    model_id = next(iter(content["providers"]))
    content["providers"][model_id] = ["not", "an", "object"]
    path = tmp_path / "hand.json"
    path.write_text(rehashed(content), encoding="utf-8")
    error = refusal(path)
    assert error.reason == (
        f"has content this version cannot read at providers.{model_id}: "
        "Provider: expected an object, got list"
    )
    assert error.hint == (
        "compile it again from the YAML configuration (fallback-resolver compile -o FILE)"
    )
