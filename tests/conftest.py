"""Shared fixtures: one loopback chat server per session, and resolvers composed against it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resolver import Resolver
from resolver.testing import ChatServer, make_resolver

PRIMARY = "deepseek-r1-0528-syn"
BACKUP = "deepseek-r1"
MESSAGES = [{"role": "user", "content": "Will it rain tomorrow? Answer yes or no."}]


@pytest.fixture(scope="session")
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


@pytest.fixture
def chat_server(server: ChatServer) -> Iterator[ChatServer]:
    """The session's server with no faults and no recorded requests."""
    server.clear()
    yield server
    server.clear()


@pytest.fixture(scope="session")
def prod(server: ChatServer) -> Resolver:
    """The shipped prod config with both vendors pointed at the loopback server, and a 0.2 s
    timeout on the primary so slow-response faults stay fast."""
    return make_resolver(
        env="prod",
        overrides=[*server.overrides(), f"++models={{{PRIMARY}: {{timeout_s: 0.2}}}}"],
    )


@pytest.fixture(scope="session")
def roomy(server: ChatServer) -> Resolver:
    """The shipped prod config pointed at the loopback server, with the shipped 60 s timeouts."""
    return make_resolver(env="prod", overrides=server.overrides())


@pytest.fixture
def keys() -> dict[str, str]:
    return ChatServer.environ()
