"""Writing a snapshot as a hand that edits it would: the hash recomputed by the documented rule."""

from __future__ import annotations

import hashlib
import json


def rehashed(content: dict) -> str:
    """The snapshot text of ``content`` with its hash recomputed by the documented rule (SHA-256
    of the sorted compact JSON), as a hand that edits the file and fixes the hash writes it."""
    body = {k: v for k, v in content.items() if k != "integrity"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(
        {**body, "integrity": "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()}
    )
