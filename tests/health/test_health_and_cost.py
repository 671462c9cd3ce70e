"""Health and cost in resolution and execution, call counts, test mode and Prometheus export."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import pytest
from conftest import BACKUP, MESSAGES, PRIMARY

import resolver
from resolver import (
    FallbackExhausted,
    MemoryHealthStore,
    ProviderError,
    Resolver,
    acall_with_fallback,
    call_with_fallback,
    chat,
)
from resolver.testing import ChatServer, fail_calls, make_resolver, mark_unhealthy


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def with_clock(r: Resolver) -> tuple[Resolver, Clock]:
    clock = Clock()
    return r.with_health(MemoryHealthStore(r.policy.health, clock=clock)), clock


def primary_model(r: Resolver) -> str:
    return r.providers[PRIMARY].model


def test_three_failures_send_the_next_call_straight_to_the_backup(
    roomy: Resolver, chat_server: ChatServer, keys
) -> None:
    """After three 503s the primary is out of rotation and the next call never touches it."""
    chat_server.set_fault(primary_model(roomy), "unavailable")
    for _ in range(3):
        assert chat(PRIMARY, MESSAGES, environ=keys, resolver=roomy).served_by == BACKUP
    assert len(chat_server.requests_for(primary_model(roomy))) == 3
    outcome = chat(PRIMARY, MESSAGES, environ=keys, resolver=roomy)
    assert outcome.served_by == BACKUP
    assert [a.provider_id for a in outcome.attempts] == [BACKUP]
    assert outcome.skipped[0].provider_id == PRIMARY
    assert "out of rotation" in outcome.skipped[0].reason
    assert len(chat_server.requests_for(primary_model(roomy))) == 3  # not called again


def test_explain_says_why_a_backup_is_out_of_rotation(roomy: Resolver, keys) -> None:
    """explain names the cooldown, the failure count and the last error of a backup."""
    mark_unhealthy(roomy, BACKUP, error_class="server", detail="503")
    step = roomy.explain(PRIMARY, environ=keys).steps[0]
    assert step.status == "skipped"
    assert step.reason == "out of rotation for 60 s after 3 failures (last: server 503)"
    assert roomy.get_fallback_provider(PRIMARY, environ=keys) is None
    assert roomy.get_fallback_chain(PRIMARY, environ=keys) == ()
    roomy.health.reset(BACKUP)
    assert roomy.get_fallback_provider(PRIMARY, environ=keys).id == BACKUP


def test_one_probe_after_the_cooldown(roomy: Resolver, chat_server: ChatServer, keys) -> None:
    """When the cooldown is over exactly one call probes the primary; its success restores it."""
    r, clock = with_clock(roomy)
    chat_server.set_fault(primary_model(r), "server", times=3)
    for _ in range(3):
        chat(PRIMARY, MESSAGES, environ=keys, resolver=r)
    assert not r.health.in_rotation(PRIMARY)
    clock.now += r.policy.health.cooldown_s
    assert r.health.acquire(PRIMARY) == "probe"  # another worker took the probe...
    outcome = chat(PRIMARY, MESSAGES, environ=keys, resolver=r)
    assert outcome.served_by == BACKUP  # ...so this call waits it out on the backup
    assert len(chat_server.requests_for(primary_model(r))) == 3
    r.health.record_success(PRIMARY)  # the probe came back well
    outcome = chat(PRIMARY, MESSAGES, environ=keys, resolver=r)
    assert outcome.served_by == PRIMARY
    assert not outcome.fallback_used


def test_the_probe_is_a_real_call(roomy: Resolver, chat_server: ChatServer, keys) -> None:
    """The first call after the cooldown goes to the primary; serving puts it back in rotation."""
    r, clock = with_clock(roomy)
    chat_server.set_fault(primary_model(r), "server", times=3)
    for _ in range(3):
        chat(PRIMARY, MESSAGES, environ=keys, resolver=r)
    clock.now += r.policy.health.cooldown_s
    assert chat(PRIMARY, MESSAGES, environ=keys, resolver=r).served_by == PRIMARY
    assert r.health.state(PRIMARY).failures == 0
    assert r.health.acquire(PRIMARY) == "ok"


def test_success_resets_the_count(roomy: Resolver, chat_server: ChatServer, keys) -> None:
    """Two failures, a success, two failures: the primary stays in rotation."""
    model = primary_model(roomy)
    for _ in range(2):
        chat_server.set_fault(model, "server", times=2)
        chat(PRIMARY, MESSAGES, environ=keys, resolver=roomy)
        chat(PRIMARY, MESSAGES, environ=keys, resolver=roomy)
        assert chat(PRIMARY, MESSAGES, environ=keys, resolver=roomy).served_by == PRIMARY
    assert roomy.health.in_rotation(PRIMARY)
    assert roomy.health.state(PRIMARY).failures == 0


def test_bad_request_never_counts(roomy: Resolver, chat_server: ChatServer, keys) -> None:
    """Bad requests fail the call but never take the model out of rotation."""
    chat_server.set_fault(primary_model(roomy), "bad_request")
    for _ in range(5):
        with pytest.raises(ProviderError):
            chat(PRIMARY, MESSAGES, environ=keys, resolver=roomy)
    assert roomy.health.in_rotation(PRIMARY)
    assert roomy.health.state(PRIMARY).failures == 0


def test_health_can_be_switched_off(server: ChatServer, keys) -> None:
    """With policy.health.enabled=false a failing model is never taken out of rotation."""
    r = make_resolver(overrides=[*server.overrides(), "policy.health.enabled=false"])
    with fail_calls(PRIMARY):
        for _ in range(5):
            assert (
                chat(PRIMARY, MESSAGES, environ=keys, resolver=r).attempts[0].provider_id == PRIMARY
            )
    assert r.health.in_rotation(PRIMARY)


def test_health_policy_from_overrides() -> None:
    """Threshold and cooldown come from policy.health and are validated."""
    r = make_resolver(overrides=["policy.health.failure_threshold=1", "policy.health.cooldown_s=5"])
    mark_unhealthy(r, PRIMARY)
    assert r.health.state(PRIMARY).failures == 1
    assert r.health.state(PRIMARY).describe().startswith("out of rotation for 5 s")
    with pytest.raises(resolver.ConfigError) as info:
        make_resolver(overrides=["policy.health.failure_threshold=0", "+policy.health.cooldwn=3"])
    assert sorted(p.code for p in info.value.errors) == ["bad-value", "unknown-key"]


def ok(provider) -> str:
    return provider.id


def test_no_lost_failures_across_threads() -> None:
    """Failures recorded by many threads at once are all counted."""
    r = make_resolver(overrides=["policy.health.failure_threshold=100000"])
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(100):
            call_with_fallback(PRIMARY, ok, environ={"TOGETHER_API_KEY": "t"}, resolver=r)

    with fail_calls(PRIMARY):
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert r.health.state(PRIMARY).failures == 800
    assert r.stats()[PRIMARY].served_by_fallback == {BACKUP: 800}


def test_no_lost_failures_across_asyncio_tasks() -> None:
    """Failures recorded by hundreds of concurrent tasks are all counted."""
    r = make_resolver(overrides=["policy.health.failure_threshold=100000"])

    async def aok(provider) -> str:
        await asyncio.sleep(0)
        return provider.id

    async def run() -> None:
        await asyncio.gather(
            *(
                acall_with_fallback(PRIMARY, aok, environ={"TOGETHER_API_KEY": "t"}, resolver=r)
                for _ in range(300)
            )
        )

    with fail_calls(PRIMARY, error_class="timeout"):
        asyncio.run(run())
    assert r.health.state(PRIMARY).failures == 300


def test_fail_calls_and_mark_unhealthy_need_no_server() -> None:
    """Test mode: forced failures and a forced cooldown exercise fallback paths without HTTP."""
    r = make_resolver()
    environ = {"TOGETHER_API_KEY": "t"}
    with fail_calls(PRIMARY, error_class="rate_limit"):
        outcome = call_with_fallback(PRIMARY, ok, environ=environ, resolver=r)
    assert (outcome.served_by, outcome.attempts[0].error_class) == (BACKUP, "rate_limit")
    assert call_with_fallback(PRIMARY, ok, environ=environ, resolver=r).served_by == PRIMARY
    mark_unhealthy(r, PRIMARY)
    assert (
        call_with_fallback(PRIMARY, ok, environ=environ, resolver=r).attempts[0].provider_id
        == BACKUP
    )
    with fail_calls(BACKUP), pytest.raises(FallbackExhausted):
        call_with_fallback(PRIMARY, ok, environ=environ, resolver=r)
    with (
        pytest.raises(ValueError, match="unknown error class"),
        fail_calls(PRIMARY, error_class="explosion"),  # type: ignore[arg-type]
    ):
        pass


def test_shipped_edge_cost_ratios() -> None:
    """The shipped edges' cost ratios come from catalog prices on the 500/50 reference call."""
    r = make_resolver()
    cost = r.policy.cost
    p = r.providers
    assert cost.ratio(p["deepseek-r1-0528-syn"], p["deepseek-r1"]) == pytest.approx(1.0)
    assert cost.ratio(p["kimi-k2-thinking-syn"], p["kimi-k2-instruct"]) == pytest.approx(0.5)
    assert cost.estimate(p["deepseek-r1"]) == pytest.approx(0.00185)
    notes = r.explain(PRIMARY, environ={"TOGETHER_API_KEY": "t"}).steps[0].notes
    assert notes[0] == "cost 1.00x"


def test_a_low_cost_cap_warns_and_with_skip_blocks() -> None:
    """A cap of 0.5 warns for the 1.0x edge; with action=skip that backup is never returned."""
    warned = make_resolver(overrides=["policy.cost.max_ratio=0.5"])
    over = [p for p in warned.warnings if p.code == "cost-over-cap"]
    assert [p.key for p in over] == ["fallbacks.deepseek-r1-0528-syn[0]"]
    skipping = make_resolver(overrides=["policy.cost.max_ratio=0.5", "policy.cost.action=skip"])
    environ = {"TOGETHER_API_KEY": "t"}
    assert skipping.get_fallback_provider(PRIMARY, environ=environ) is None
    step = skipping.explain(PRIMARY, environ=environ).steps[0]
    assert step.status == "skipped"
    assert step.reason == "costs 1.00x deepseek-r1-0528-syn, over the cap of 0.5x"
    assert skipping.get_fallback_provider("kimi-k2-thinking-syn", environ=environ).id == (
        "kimi-k2-instruct"
    )


def test_outcome_carries_served_and_requested_cost(own_tree) -> None:
    """An outcome prices the tokens the value reports on the model that served and on the one
    requested (prices per 1M tokens), and has no cost when the value reports no tokens."""

    @dataclass
    class Reply:
        prompt_tokens: int
        completion_tokens: int

    r = resolver.load(config_path=own_tree, environ={})

    def fn(provider) -> Reply:
        if provider.id == "think":
            raise ProviderError("server", "down", 500)
        return Reply(1000, 500)

    outcome = call_with_fallback("think", fn, environ={}, resolver=r)
    assert outcome.served_by == "spare"
    assert outcome.cost_usd == pytest.approx((1000 * 1 + 500 * 2) / 1e6)  # spare: 1 / 2
    assert outcome.requested_cost_usd == pytest.approx((1000 * 2 + 500 * 6) / 1e6)  # think: 2 / 6
    assert call_with_fallback("think", ok, environ={}, resolver=r).cost_usd is None


def test_stats_add_up_after_a_mixed_run(roomy: Resolver, chat_server: ChatServer, keys) -> None:
    """Per requested model, calls = primary + fallback + exhausted + failed, by provider."""
    r = roomy
    model = primary_model(r)
    for _ in range(2):
        chat(PRIMARY, MESSAGES, environ=keys, resolver=r)  # primary serves
    chat_server.set_fault(model, "server", times=2)
    for _ in range(2):
        chat(PRIMARY, MESSAGES, environ=keys, resolver=r)  # backup serves
    chat_server.set_fault(model, "bad_request", times=1)
    with pytest.raises(ProviderError):
        chat(PRIMARY, MESSAGES, environ=keys, resolver=r)  # fails, no fallback
    with fail_calls(PRIMARY, BACKUP), pytest.raises(FallbackExhausted):
        chat(PRIMARY, MESSAGES, environ=keys, resolver=r)  # exhausted
    chat("kimi-k2-thinking-syn", MESSAGES, environ=keys, resolver=r)
    s = r.stats()
    row = s[PRIMARY]
    assert (row.calls, row.served_by_primary, row.exhausted, row.failed) == (6, 2, 1, 1)
    assert dict(row.served_by_fallback) == {BACKUP: 2}
    assert row.fallback_rate == pytest.approx(2 / 6)
    assert s["kimi-k2-thinking-syn"].calls == 1
    total = row.served_by_primary + sum(row.served_by_fallback.values()) + row.exhausted
    assert total + row.failed == row.calls


def test_prometheus_export(roomy: Resolver, keys) -> None:
    """The Prometheus collector exports counters and health gauges named by convention."""
    from prometheus_client import CollectorRegistry, generate_latest

    from resolver.prometheus import register

    with fail_calls(PRIMARY):
        call_with_fallback(PRIMARY, ok, environ=keys, resolver=roomy)
    call_with_fallback(PRIMARY, ok, environ=keys, resolver=roomy)
    mark_unhealthy(roomy, "kimi-k2-instruct")
    registry = CollectorRegistry()
    register(roomy, registry)
    text = generate_latest(registry).decode()
    assert f'llm_fallback_calls_total{{model="{PRIMARY}"}} 2.0' in text
    assert (
        f'llm_fallback_served_total{{fallback="true",model="{PRIMARY}",provider="{BACKUP}"}} 1.0'
        in text
    )
    assert 'llm_fallback_provider_in_rotation{provider="kimi-k2-instruct"} 0.0' in text
    assert 'llm_fallback_provider_consecutive_failures{provider="kimi-k2-instruct"} 3.0' in text


def test_health_store_settings_are_validated() -> None:
    """A wrong store name, a URL that is not Redis's, a redis store without a URL, an empty
    namespace and a zero timeout are each reported at their key, the password masked."""
    with pytest.raises(resolver.ConfigError) as info:
        make_resolver(
            overrides=[
                "policy.health.store=redsi",
                "policy.health.url=http://user:hunter2@example.com/0",
                "policy.health.namespace=''",
                "policy.health.timeout_s=0",
            ]
        )
    found = {(p.code, p.key) for p in info.value.errors}
    assert found == {
        ("bad-value", "policy.health.store"),
        ("bad-value", "policy.health.url"),
        ("bad-value", "policy.health.namespace"),
        ("bad-value", "policy.health.timeout_s"),
    }
    assert "hunter2" not in str(info.value)
    assert "http://user:***@example.com/0" in str(info.value)
    with pytest.raises(resolver.ConfigError) as info:
        make_resolver(overrides=["policy.health.store=redis", "policy.health.url=null"])
    assert [(p.code, p.key) for p in info.value.errors] == [("missing-field", "policy.health.url")]


def test_the_redis_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """policy.health.url reads RESOLVER_REDIS_URL when it is set, a loopback default otherwise."""
    assert str(make_resolver().policy.health.url) == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("RESOLVER_REDIS_URL", "redis://:pw@cache.internal:6380/2")
    url = make_resolver().policy.health.url
    assert url is not None
    assert url.reveal() == "redis://:pw@cache.internal:6380/2"
    assert str(url) == "redis://:***@cache.internal:6380/2"


def test_import_and_a_memory_store_never_import_redis() -> None:
    """redis-py is imported only when a policy asks for the Redis store."""
    import subprocess
    import sys

    code = "import sys, resolver; resolver.load(); assert 'redis' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_health_command_on_the_memory_store(capsys: pytest.CaptureFixture[str]) -> None:
    """`health` says health is per process with the memory store, and a reset is refused (2)."""
    from resolver.cli import main

    assert main(["health"]) == 0
    assert "kept per process" in capsys.readouterr().out
    assert main(["health", "--reset", PRIMARY]) == 2
    assert "nothing to reset" in capsys.readouterr().err


def test_redis_store_without_redis_py_is_a_config_error(monkeypatch) -> None:
    """Asking for the Redis store without redis-py installed is a clear configuration error
    naming the key and the extra to install, not an ImportError."""
    import sys

    monkeypatch.setitem(sys.modules, "redis", None)  # as if redis-py were not installed
    monkeypatch.delitem(sys.modules, "resolver.redis_health", raising=False)
    with pytest.raises(resolver.ConfigError) as info:
        make_resolver(overrides=["policy.health.store=redis"])
    (problem,) = info.value.problems
    assert (problem.code, problem.key) == ("missing-dependency", "policy.health.store")
    assert "fallback-resolver[redis]" in problem.hint
