"""A compiled snapshot carries groups: the runtime that reads it picks members as the
configuration says, and the snapshot stays valid under its own JSON Schema."""

from __future__ import annotations

import collections
import json

import jsonschema

from resolver import load_snapshot
from resolver.export.schema import snapshot_schema
from resolver.snapshot import write

from .conftest import BACKUP, A, B


def test_snapshot_round_trip_keeps_groups_and_their_strategy(grouped, keys, tmp_path):
    """Groups, members, weights and order survive compile and load, and the loaded resolver
    splits picks by the same weights."""
    r = grouped(
        f"""
        groups:
          w:
            strategy: weighted
            members: {{{A}: {{weight: 4, order: 1}}, {B}: {{weight: 1, order: 1}}}}
        fallbacks:
          w: [{BACKUP}]
        """
    )
    path = tmp_path / "snapshot.json"
    write(r, path)
    jsonschema.validate(json.loads(path.read_text()), snapshot_schema())
    loaded = load_snapshot(path)
    assert loaded.groups == r.groups
    assert loaded.fallbacks["w"] == (BACKUP,)
    picks = collections.Counter(loaded.pick("w", environ=keys).id for _ in range(20_000))
    assert abs(picks[A] / 20_000 - 0.8) < 0.02, picks
