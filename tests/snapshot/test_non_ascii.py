"""Text that is not ASCII (a display name in any language) survives a snapshot: it stays
readable in the file, the documented hash rule holds for it, and a service whose locale is
plain ASCII writes and reads the same file."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import resolver
from resolver import load_snapshot, snapshot

NAME = "Modèle réfléchi ✓"


def named(own_tree: Path) -> Path:
    (own_tree / "env" / "prod.yaml").write_text(
        f"# @package _global_\nmodels:\n  think: {{display_name: '{NAME}'}}\n", encoding="utf-8"
    )
    return own_tree


def test_a_display_name_is_written_as_is(own_tree, tmp_path) -> None:
    """A non-ASCII display name is written as the characters themselves (a reviewer reads it
    in the diff), not as escapes, and is served back unchanged."""
    path = tmp_path / "snap.json"
    snapshot.write(resolver.load(config_path=named(own_tree), environ={}), path)
    text = path.read_text(encoding="utf-8")
    assert f'"display_name": "{NAME}"' in text
    assert load_snapshot(path).providers["think"].display_name == NAME


def test_the_hash_rule_holds_for_text_that_is_not_ascii(own_tree) -> None:
    """The integrity hash of a snapshot with non-ASCII text is the SHA-256 of its sorted
    compact JSON written as UTF-8 characters, as documented."""
    content = json.loads(snapshot.to_json(resolver.load(config_path=named(own_tree), environ={})))
    claimed = content.pop("integrity")
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert claimed == "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_a_service_with_an_ascii_locale_writes_and_reads_the_same_file(own_tree, tmp_path) -> None:
    """Under a plain C locale (no UTF-8 anywhere in the environment) a snapshot with a
    non-ASCII display name is written byte for byte as under UTF-8, and served back unchanged."""
    tree = named(own_tree)
    expected = tmp_path / "utf8.json"
    snapshot.write(resolver.load(config_path=tree, environ={}), expected)
    path = tmp_path / "c-locale.json"
    code = (
        "import sys, resolver; from resolver import snapshot; "
        "snapshot.write(resolver.load(config_path=sys.argv[1], environ={}), sys.argv[2]); "
        "print(ascii(resolver.load_snapshot(sys.argv[3]).providers['think'].display_name))"
    )
    # The package under test, run from its own root (where a mutation tool finds its settings).
    root = str(Path(resolver.__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHON"))}
    env |= {"LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0", "PYTHONPATH": root}
    run = subprocess.run(
        [sys.executable, "-c", code, str(tree), str(path), str(expected)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == ascii(NAME)
    assert path.read_bytes() == expected.read_bytes()
    assert load_snapshot(path).providers["think"].display_name == NAME
