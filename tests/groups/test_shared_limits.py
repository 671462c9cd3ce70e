"""rpm shared on Redis: one limit for every worker process, read with health in one round
trip, and counted in-process (said so) while Redis is away."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import resolver

from .conftest import A, B

HI = [{"role": "user", "content": "hi"}]

WORKER = """
import collections, json, sys
import resolver
r = resolver.load(env="groups", config_dirs=[sys.argv[1]], overrides=sys.argv[4:])
keys = json.loads(sys.argv[3])
served = collections.Counter(
    resolver.chat("o", [{"role": "user", "content": "hi"}], environ=keys, resolver=r).served_by
    for _ in range(int(sys.argv[2]))
)
print(json.dumps(served))
"""


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "deploy"
    (root / "env").mkdir(parents=True, exist_ok=True)
    (root / "env" / "groups.yaml").write_text(
        textwrap.dedent(
            f"""\
            # @package _global_
            groups:
              o: [{A}, {B}]
            models:
              {A}: {{rpm: 7}}
            """
        ),
        encoding="utf-8",
    )
    return root


def test_two_worker_processes_share_one_rpm_limit(
    tmp_path, chat_server, keys, redis_url, namespace
):
    """Two processes making 10 calls each to a group whose first member allows 7 requests a
    minute send it 7 in all, not 7 each: the limit is one budget on Redis."""
    root = _tree(tmp_path)
    overrides = [
        *chat_server.overrides(),
        "policy.health.store=redis",
        f"policy.health.url={redis_url}",
        f"policy.health.namespace={namespace}",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESOLVER_")}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(root), "10", json.dumps(keys), *overrides],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    served: dict[str, int] = {}
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err[-2000:]
        for provider, n in json.loads(out.strip().splitlines()[-1]).items():
            served[provider] = served.get(provider, 0) + n
    assert served == {A: 7, B: 13}
    assert len(chat_server.requests_for(resolver.load().providers[A].model)) == 7


def test_the_shared_limit_is_read_with_health_in_one_round_trip(
    grouped, keys, redis_url, namespace, monkeypatch
):
    """A call to a limited deployment on the Redis store makes one script call before it is
    sent (health and the limit together), as a call to an unlimited one does."""
    r = grouped(
        f"groups:\n  o: [{A}, {B}]\nmodels:\n  {A}: {{rpm: 100}}\n",
        "policy.health.store=redis",
        f"policy.health.url={redis_url}",
        f"policy.health.namespace={namespace}",
    )
    store = r.health
    calls: list[str] = []
    run = store._run
    monkeypatch.setattr(store, "_run", lambda script, *a: calls.append(script) or run(script, *a))
    resolver.chat("o", HI, environ=keys, resolver=r)
    assert calls == ["admit"]
    calls.clear()
    resolver.chat(B, HI, environ=keys, resolver=r)
    assert calls == ["acquire"]


def test_while_redis_is_away_limits_count_in_this_process(grouped, keys, own_redis, caplog):
    """With the shared store unreachable, an rpm limit still holds, counted in this process."""
    server = own_redis()
    r = grouped(
        f"groups:\n  o: [{A}, {B}]\nmodels:\n  {A}: {{rpm: 2}}\n",
        "policy.health.store=redis",
        f"policy.health.url={server.url}",
    )
    server.stop()
    served = [resolver.chat("o", HI, environ=keys, resolver=r).served_by for _ in range(4)]
    assert served == [A, A, B, B]
    assert "unreachable" in caplog.text
