"""chat and achat go through the proxy the environment names, as HTTP clients do."""

from __future__ import annotations

import asyncio

import pytest
from conftest import MESSAGES, PRIMARY

from resolver import achat, chat
from resolver.http import Client
from resolver.testing import make_resolver

# A vendor host that does not resolve: only a proxy can reach it.
UNREACHABLE = "http://vendor.invalid/v1"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_calls_go_through_the_proxy_the_environment_names(chat_server, keys, monkeypatch, mode):
    """With HTTP_PROXY set, a call to a vendor reaches it through that proxy (here the loopback
    server, which answers as the vendor would)."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", chat_server.base_url.rsplit("/v1", 1)[0])
    r = make_resolver(
        env="prod",
        overrides=[f"providers.{v}.base_url={UNREACHABLE}" for v in ("synthetic", "together")],
    )

    with Client() as pool:
        if mode == "sync":
            outcome = chat(PRIMARY, MESSAGES, resolver=r, environ=keys, client=pool)
        else:
            outcome = asyncio.run(achat(PRIMARY, MESSAGES, resolver=r, environ=keys, client=pool))

    assert outcome.served_by == PRIMARY
    (seen,) = chat_server.requests_for(r.providers[PRIMARY].model)
    assert seen.path == f"{UNREACHABLE}/chat/completions"
