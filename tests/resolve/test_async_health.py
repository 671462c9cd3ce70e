"""An async call reads health without blocking and honours it as a sync call does: a backup
out of rotation is passed over with its health as the reason, and never called."""

from __future__ import annotations

import asyncio

import resolver
from resolver import Provider, acall_with_fallback

KEY = {"OWN_TREE_KEY": "k"}


def test_an_async_call_passes_over_a_backup_out_of_rotation(own_tree) -> None:
    """With the requested model failing and its first backup out of rotation, an async call
    is served by the next backup, reports the one passed over with its health, and never
    calls it."""
    r = resolver.load(config_path=own_tree, environ=KEY).with_health()
    for _ in range(3):
        r.health.record_failure("plain", "server", "503")
    called: list[str] = []

    async def fn(provider: Provider) -> str:
        called.append(provider.id)
        if provider.id == "think":
            raise resolver.ProviderError("server", "down", status=503)
        return provider.id

    outcome = asyncio.run(acall_with_fallback("think", fn, resolver=r, environ=KEY))

    assert outcome.value == "spare"
    assert called == ["think", "spare"]
    (skip,) = outcome.skipped
    assert skip.provider_id == "plain"
    assert skip.reason.startswith("out of rotation for 60 s after 3 failures (last: server 503)")
