"""Budgets shared on Redis: one budget for every worker of a deployment, reserved atomically;
and what happens to calls while Redis does not answer (policy.budget.on_store_down)."""

from __future__ import annotations

import asyncio
import signal
import socket
import time

import httpx
import pytest
from gateway_support import snapshot_of
from process_support import serve

import resolver
from resolver.budgets import MICRO, call_estimate, sized
from resolver.testing import ChatServer, make_resolver

PRIMARY = "deepseek-r1-0528-syn"
BACKUP = "deepseek-r1"
MESSAGES = [{"role": "user", "content": "Will it rain tomorrow? Answer yes or no."}]
BUDGET = f"++budgets={{cents: {{model: {PRIMARY}, amount: 0.03, window: hour}}}}"


# A burst of 200 calls on two cores keeps the event loop busy for longer than the default 0.2 s
# Redis timeout, which would count as an outage (tested below): these tests are of the budget.
ROOMY = "policy.health.timeout_s=5"


def shared(redis_url: str, namespace: str) -> list[str]:
    return [
        "policy.health.store=redis",
        f"policy.health.url={redis_url}",
        f"policy.health.namespace={namespace}",
        ROOMY,
    ]


def estimate(r: resolver.Resolver, max_tokens: int) -> float:
    size = sized(MESSAGES, {"max_tokens": max_tokens})
    return call_estimate(r.providers[PRIMARY], size[0], max_tokens, r.policy) / MICRO


@pytest.mark.slow  # two gateway processes
def test_two_gateway_workers_share_one_budget(chat_server, keys, redis_url, namespace, tmp_path):
    """`serve --workers 2` on one Redis, 200 concurrent requests against a budget of 3 cents:
    the spend both workers recorded stays within the budget plus one call's estimate, and the
    requests it had no room for are served by the backup."""
    path = tmp_path / "snapshot.json"
    snapshot_of(chat_server, path, BUDGET, "policy.health.store=redis",
                f"policy.health.namespace={namespace}", ROOMY)  # fmt: skip
    environ = {**keys, "RESOLVER_REDIS_URL": redis_url}
    body = {"model": PRIMARY, "messages": MESSAGES, "max_tokens": 400}

    async def burst(url: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            return await asyncio.gather(
                *(client.post(f"{url}/chat/completions", json=body) for _ in range(200))
            )

    with serve(["--snapshot", str(path), "--workers", "2"], environ, tmp_path / "gw.log") as (
        proc,
        url,
    ):
        answers = asyncio.run(burst(url))
        proc.send_signal(signal.SIGTERM)  # a graceful stop sends the last settles first
        assert proc.wait(timeout=30) == 0
    assert [a.status_code for a in answers] == [200] * 200
    served = [a.headers["x-fallback-served-by"] for a in answers]
    assert PRIMARY in served
    assert BACKUP in served
    r = make_resolver(env="prod", overrides=[*chat_server.overrides(), BUDGET,
                                              *shared(redis_url, namespace)])  # fmt: skip
    usage = r.budget_usage()["cents"]
    assert 0 < usage.spent <= 0.03 + estimate(r, 400)
    assert usage.reserved == 0
    priced = sum(
        r.providers[PRIMARY].pricing.cost(
            a.json()["usage"]["prompt_tokens"], a.json()["usage"]["completion_tokens"]
        )
        for a in answers
        if a.headers["x-fallback-served-by"] == PRIMARY
    )
    assert usage.spent == pytest.approx(priced, abs=200 / MICRO)


def test_two_processes_worth_of_resolvers_share_the_budget(chat_server, redis_url, namespace):
    """Two resolvers on one Redis (as two processes would be), 100 concurrent calls each: one
    budget between them, overshot by at most one estimate."""
    settings = [*chat_server.overrides(), BUDGET, *shared(redis_url, namespace)]
    first = make_resolver(env="prod", overrides=settings)
    second = make_resolver(env="prod", overrides=settings)
    keys = ChatServer.environ()

    async def burst() -> list[resolver.Outcome]:
        calls = [
            resolver.achat(PRIMARY, MESSAGES, resolver=r, environ=keys, max_tokens=400)
            for r in (first, second)
            for _ in range(100)
        ]
        outcomes = await asyncio.gather(*calls)
        for r in (first, second):
            await r.ledger.settled()  # type: ignore[attr-defined]
        return outcomes

    outcomes = asyncio.run(burst())
    usage = first.budget_usage()["cents"]
    assert usage.spent <= 0.03 + estimate(first, 400)
    assert second.budget_usage()["cents"].spent == usage.spent
    assert {o.served_by for o in outcomes} == {PRIMARY, BACKUP}


def dead_redis() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"


@pytest.mark.parametrize("mode", ["fail_open", "fail_closed"])
def test_while_redis_is_away_the_policy_decides(chat_server, namespace, mode, caplog):
    """With Redis away, fail_open counts the budget in this process and serves the budgeted
    model; fail_closed passes it over for the backup, saying the store does not answer."""
    r = make_resolver(
        env="prod",
        overrides=[
            *chat_server.overrides(),
            BUDGET,
            *shared(dead_redis(), namespace),
            f"policy.budget.on_store_down={mode}",
        ],
    )
    outcome = resolver.chat(PRIMARY, MESSAGES, resolver=r, environ=ChatServer.environ())
    if mode == "fail_open":
        assert outcome.served_by == PRIMARY
        assert r.budget_usage()["cents"].spent > 0
    else:
        assert outcome.served_by == BACKUP
        (skip,) = outcome.skipped
        assert skip.budget == "cents"
        assert "does not answer" in skip.reason
        assert "fail_closed" in skip.reason


def test_spend_counted_during_an_outage_reaches_redis_when_it_is_back(chat_server, own_redis):
    """fail_open: calls made while Redis is away are counted in this process, and that spend
    is added to the shared budget once Redis answers again; nothing spent is lost."""
    server = own_redis()
    r = make_resolver(
        env="prod",
        overrides=[
            *chat_server.overrides(),
            f"++budgets={{b: {{model: {PRIMARY}, amount: 1, window: day}}}}",
            *shared(server.url, "outage"),
            "policy.health.timeout_s=0.2",
            "policy.health.retry_s=0.1",
        ],
    )
    keys = ChatServer.environ()
    outcomes = [resolver.chat(PRIMARY, MESSAGES, resolver=r, environ=keys)]
    server.stop()
    outcomes += [resolver.chat(PRIMARY, MESSAGES, resolver=r, environ=keys) for _ in range(3)]
    server.start()
    time.sleep(0.2)  # past retry_s: the next call asks Redis again
    outcomes.append(resolver.chat(PRIMARY, MESSAGES, resolver=r, environ=keys))
    price = r.providers[PRIMARY].pricing
    # The first call's spend went down with the Redis (it keeps nothing on disk); the rest is
    # the outage's, and the call after it.
    expected = sum(
        price.cost(o.value.prompt_tokens, o.value.completion_tokens) for o in outcomes[1:]
    )
    fresh = make_resolver(
        env="prod",
        overrides=[
            *chat_server.overrides(),
            f"++budgets={{b: {{model: {PRIMARY}, amount: 1, window: day}}}}",
            *shared(server.url, "outage"),
        ],
    )
    assert fresh.budget_usage()["b"].spent == pytest.approx(expected, abs=5 / MICRO)
