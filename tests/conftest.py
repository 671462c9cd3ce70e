"""Shared fixtures: a clean environment, deployment config trees written into tmp_path, one
loopback chat server per session, and resolvers composed against it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from resolver import Resolver
from resolver.testing import ChatServer, make_resolver

KEY_VARS = ("TOGETHER_API_KEY", "SYNTHETIC_API_KEY", "RESOLVER_ENV", "RESOLVER_CONFIG_DIRS")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no vendor keys and no resolver settings from the caller's shell."""
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config_tree(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write ``{relative path: YAML text}`` into a fresh deployment config dir and return it."""

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "deploy"
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        root.mkdir(exist_ok=True)
        return root

    return write


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
def _prod(server: ChatServer) -> Resolver:
    """The shipped prod config with both vendors pointed at the loopback server, and a 0.2 s
    timeout on the primary so slow-response faults stay fast."""
    return make_resolver(
        env="prod",
        overrides=[*server.overrides(), f"++models={{{PRIMARY}: {{timeout_s: 0.2}}}}"],
    )


@pytest.fixture
def prod(_prod: Resolver) -> Resolver:
    """``_prod`` with fresh health and counts, so no test inherits another's failures."""
    return _prod.with_health()


@pytest.fixture(scope="session")
def _roomy(server: ChatServer) -> Resolver:
    """The shipped prod config pointed at the loopback server, with the shipped 60 s timeouts."""
    return make_resolver(env="prod", overrides=server.overrides())


@pytest.fixture
def roomy(_roomy: Resolver) -> Resolver:
    return _roomy.with_health()


@pytest.fixture
def keys() -> dict[str, str]:
    return ChatServer.environ()


# --- Redis -------------------------------------------------------------------------------------
# .ci/run starts a redis-server on loopback and exports its URL here; without it (no Redis could
# be installed) the Redis tests skip and say why.
REDIS_URL_VAR = "RESOLVER_TEST_REDIS_URL"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of the shared test Redis; skips when none is configured, fails when one is
    configured but does not answer (CI started it, so that is a real failure)."""
    import os

    url = os.environ.get(REDIS_URL_VAR)
    if not url:
        pytest.skip(f"no Redis for the tests: set {REDIS_URL_VAR} (.ci/run starts one)")
    try:
        import redis
    except ImportError:
        pytest.skip("redis-py is not installed: pip install 'fallback-resolver[redis]'")
    redis.Redis.from_url(url, socket_timeout=2).ping()
    return url


@pytest.fixture
def namespace() -> str:
    """A namespace of its own for each test, so no test sees another's keys."""
    import uuid

    return f"test-{uuid.uuid4().hex[:12]}"
