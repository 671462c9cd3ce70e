"""Shared fixtures: a clean environment, deployment config trees written into tmp_path, one
loopback chat server per session, and resolvers composed against it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from resolver import Resolver
from resolver.testing import ChatServer, make_resolver

KEY_VARS = (
    "TOGETHER_API_KEY",
    "SYNTHETIC_API_KEY",
    "OWN_TREE_KEY",
    "RESOLVER_ENV",
    "RESOLVER_CONFIG_DIRS",
)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pyproject's addopts): twice the cores, at most 8. Most of the suite's time is
    spent waiting on sockets, servers and child processes, so one worker per core leaves the
    cores idle (on 2 cores: 111 s with 4 workers, 125 s with 2)."""
    return min(2 * (os.cpu_count() or 1), 8)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with no vendor keys and no resolver settings from the caller's shell."""
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _mutants_run_their_own_code() -> None:
    """Under mutmut, a mutant's tests run in a process forked from one that already ran the
    suite on the unchanged code: forget what that code cached, so that the mutant's code runs
    (the snapshot reader works out once per class how to restore its fields). Before every
    test, so that mutmut links each test reading a snapshot to that code, not only the first."""
    if os.environ.get("MUTANT_UNDER_TEST"):
        from resolver import snapshot

        snapshot._restorers.cache_clear()


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


@pytest.fixture
def own_tree(tmp_path: Path) -> Path:
    """A whole configuration tree of the test's own (for --config-path), so that expectations
    are written from it rather than from the shipped catalog: ``think`` (reasoning, key in
    OWN_TREE_KEY) falls back to ``plain`` (same key, no reasoning) then ``spare`` (no key
    needed); ``retired`` is disabled and falls back to ``spare``. Prices per 1M tokens: think
    2/6, the others 1/2; the shipped policy."""
    from resolver.compose import shipped_config_dir

    files = {
        "config.yaml": """
            defaults:
              - providers: [keyed, open]
              - fallbacks: mine
              - policy: default
              - _self_
              - env: prod
            models: {}
            edge_policy: {}
            """,
        "providers/keyed.yaml": """
            keyed:
              base_url: http://127.0.0.1:9/v1
              api_key_env: OWN_TREE_KEY
              timeout_s: 5
              models:
                think:
                  {model: t, tier: premium, reasoning: true, pricing: {prompt: 2, completion: 6}}
                plain: {model: p, tier: budget, pricing: {prompt: 1, completion: 2}}
            """,
        "providers/open.yaml": """
            open:
              base_url: http://127.0.0.1:9/v1
              api_key_env: null
              timeout_s: 5
              models:
                spare: {model: s, tier: budget, pricing: {prompt: 1, completion: 2}}
                retired:
                  {model: r, tier: budget, pricing: {prompt: 1, completion: 2}, enabled: false,
                   disabled_reason: retired}
            """,
        "fallbacks/mine.yaml": "think: [plain, spare]\nretired: [spare]\n",
        "env/prod.yaml": "# @package _global_\n",
    }
    root = tmp_path / "own-tree"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    policy = (shipped_config_dir() / "policy" / "default.yaml").read_text(encoding="utf-8")
    (root / "policy").mkdir()
    (root / "policy" / "default.yaml").write_text(policy, encoding="utf-8")
    return root


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


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Run the test once through the sync API and once through the async one."""
    return str(request.param)


@pytest.fixture
def keys() -> dict[str, str]:
    return ChatServer.environ()


# --- Redis -------------------------------------------------------------------------------------
# RESOLVER_TEST_REDIS_URL points the tests at a Redis of the caller's choosing. Without it, a
# throwaway redis-server is started for the session when the binary is on PATH, so the README's
# plain `pytest` runs the Redis tests wherever Redis is installed; only without both do they skip.
REDIS_URL_VAR = "RESOLVER_TEST_REDIS_URL"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """A redis-server on a free loopback port, without persistence, that may be stopped and
    started again on the same port."""

    def __init__(self, *args: str) -> None:
        self.port = _free_port()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", *self.args]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=self.port, socket_timeout=1) as probe:
                    probe.ping()
                return
            except redis.AuthenticationError:
                return  # up, and asking for a password
            except redis.ConnectionError:
                assert self.proc.poll() is None, f"redis-server exited with {self.proc.returncode}"
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


def _need_redis_py() -> None:
    try:
        import redis  # noqa: F401
    except ImportError:
        pytest.skip("redis-py is not installed: pip install 'fallback-resolver[redis]'")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of the shared test Redis: the caller's (which must answer), else a throwaway
    server of the session's own; skips only when neither is possible."""
    _need_redis_py()
    import redis

    url = os.environ.get(REDIS_URL_VAR)
    if url:
        redis.Redis.from_url(url, socket_timeout=2).ping()
        yield url
        return
    if shutil.which("redis-server") is None:
        pytest.skip(f"no Redis: install redis-server, or set {REDIS_URL_VAR}")
    server = OwnRedis()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def own_redis() -> Iterator[Callable[..., OwnRedis]]:
    """Start redis-servers of the test's own (with extra server arguments), for outages and
    passwords that must not disturb the shared one; all are stopped after the test."""
    _need_redis_py()
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    started: list[OwnRedis] = []

    def start(*args: str) -> OwnRedis:
        server = OwnRedis(*args)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def namespace() -> str:
    """A namespace of its own for each test, so no test sees another's keys."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def spans():
    """Spans of every fallback call made during the test, kept in memory by the OpenTelemetry
    SDK (tracing is turned off again after it)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from resolver import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    off = tracing.instrument(tracer_provider=provider)
    yield exporter
    off()
