"""Bursts of concurrent calls on a cold pool are served, queue in our own FIFO, and are
attributed as the server saw them; time spent queued is never a provider's failure."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import BACKUP, MESSAGES, PRIMARY

from resolver import (
    FallbackExhausted,
    Outcome,
    Resolver,
    acall_with_fallback,
    achat,
    call_with_fallback,
    chat,
)
from resolver.http import ChatResult, Client
from resolver.testing import ChatServer, make_resolver

pytestmark = pytest.mark.slow  # bursts: `pytest -m slow`, and CI

BURST = 1_000


def _attempts(results: list[Any]) -> list[Any]:
    """Every attempt of every call, served or exhausted."""
    found = []
    for result in results:
        assert isinstance(result, Outcome | FallbackExhausted), repr(result)
        found += result.attempts
    return found


def _sent_per_model(r: Resolver, results: list[Any]) -> Counter[str]:
    return Counter(r.providers[a.provider_id].model for a in _attempts(results) if a.sent)


def _seen_per_model(server: ChatServer) -> Counter[str]:
    return Counter(req.model for req in server.requests if req.model is not None)


async def _burst(r: Resolver, pool: Client, keys: dict[str, str], n: int) -> list[Any]:
    calls = [achat(PRIMARY, MESSAGES, resolver=r, environ=keys, client=pool) for _ in range(n)]
    return await asyncio.gather(*calls, return_exceptions=True)


def test_cold_burst_and_burst_after_idle_are_all_served(roomy, chat_server, keys):
    """1,000 concurrent achat calls on a cold pool are all served within their deadline, and
    so are 1,000 more after an idle gap longer than the pool's keep-alive."""
    r = roomy.with_health()

    async def main() -> tuple[list[Any], list[Any]]:
        async with Client(keepalive_s=0.5) as pool:
            cold = await asyncio.wait_for(_burst(r, pool, keys, BURST), 60)
            await asyncio.sleep(1.0)  # every pooled connection has expired
            again = await asyncio.wait_for(_burst(r, pool, keys, BURST), 60)
            return cold, again

    for results in asyncio.run(main()):
        assert Counter(type(x).__name__ for x in results) == {"Outcome": BURST}
        assert {x.served_by for x in results} == {PRIMARY}
    assert len(chat_server.requests_for(r.providers[PRIMARY].model)) == 2 * BURST


def test_burst_attribution_matches_what_the_server_saw(chat_server, keys):
    """Under a burst where the primary fails for a share of calls, the requests the server
    received per model equal the sent attempts the outcomes report per model."""
    r = make_resolver(
        env="prod",
        overrides=[*chat_server.overrides(), "policy.health.failure_threshold=100000"],
    )
    chat_server.set_fault(r.providers[PRIMARY].model, "server", rate=0.3)

    async def main() -> list[Any]:
        async with Client(max_connections=64) as pool:
            return await asyncio.wait_for(_burst(r, pool, keys, BURST), 60)

    results = asyncio.run(main())

    assert all(isinstance(x, Outcome) for x in results)
    served = Counter(x.served_by for x in results)
    assert served[BACKUP] > 0
    assert served[PRIMARY] > 0
    assert _sent_per_model(r, results) == _seen_per_model(chat_server)


def test_calls_queued_past_the_deadline_are_not_sent_and_cost_no_health(chat_server, keys):
    """With max_concurrency 1 on a slow model, calls still waiting in our queue when the
    deadline passes end as class 'local', not sent, and never count against its health."""
    r = make_resolver(
        env="prod",
        overrides=[
            *chat_server.overrides(),
            f"++models={{{PRIMARY}: {{max_concurrency: 1}}}}",
            "policy.health.failure_threshold=1",
        ],
    )
    chat_server.set_fault(r.providers[PRIMARY].model, "slow", delay_s=1.0)

    async def main() -> list[Any]:
        calls = [
            achat(PRIMARY, MESSAGES, resolver=r, environ=keys, deadline_s=0.8) for _ in range(10)
        ]
        return await asyncio.gather(*calls, return_exceptions=True)

    began = time.monotonic()
    results = asyncio.run(main())
    took = time.monotonic() - began

    assert took < 5, f"a 0.8 s deadline returned after {took:.1f} s"
    not_sent = [a for a in _attempts(results) if not a.sent]
    # One slot, held 1 s by a request and freed at its 0.8 s deadline: the calls started a
    # little later than the first (the first loop turn takes time) may still send one more.
    assert len(not_sent) >= 5
    assert {(a.provider_id, a.error_class) for a in not_sent} == {(PRIMARY, "local")}
    exhausted = [x for x in results if isinstance(x, FallbackExhausted)]
    assert all("not sent" in str(x) for x in exhausted if not x.attempts[-1].sent)
    assert r.health.state(PRIMARY).failures == 0
    assert r.health.in_rotation(PRIMARY)
    time.sleep(1.1)  # the last request sent has been answered or abandoned by now
    assert _sent_per_model(r, results) == _seen_per_model(chat_server)


def test_vendor_cap_is_shared_by_its_models(chat_server, keys):
    """A vendor's max_concurrency bounds the calls in flight to all its models together."""
    r = make_resolver(
        env="prod",
        overrides=[*chat_server.overrides(), "++providers.synthetic.max_concurrency=1"],
    )
    others = [m for m, p in r.providers.items() if p.vendor == "synthetic" and p.enabled]
    for model_id in others:
        chat_server.set_fault(r.providers[model_id].model, "slow", delay_s=0.3)

    async def main() -> list[Any]:
        calls = [achat(m, MESSAGES, resolver=r, environ=keys, deadline_s=0.45) for m in others * 2]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())

    sent = [
        a for a in _attempts(results) if a.sent and r.providers[a.provider_id].vendor == "synthetic"
    ]
    # One at a time, 0.3 s each, within 0.45 s: two, and one more when the cap frees at the
    # second's deadline and a call whose first step ran a little later still has time left.
    assert len(sent) <= 3
    assert sum(not a.sent for a in _attempts(results)) >= len(others) * 2 - 3


def test_sync_chat_burst_through_a_small_pool_is_served(roomy, chat_server, keys):
    """1,000 chat calls from 100 threads through a pool of 16 connections are all served:
    calls over the pool's size wait their turn instead of failing."""
    with Client(max_connections=16) as pool, ThreadPoolExecutor(100) as threads:

        def one(_: int) -> Outcome[ChatResult]:
            return chat(PRIMARY, MESSAGES, resolver=roomy, environ=keys, client=pool)

        results = list(threads.map(one, range(BURST)))

    assert Counter(x.served_by for x in results) == {PRIMARY: BURST}


def test_sync_call_queued_for_a_connection_past_its_deadline_is_not_sent(roomy, chat_server, keys):
    """A sync chat that waits for a free connection until its deadline passes ends as class
    'local', not sent, and the provider's health is untouched."""
    r = roomy.with_health()
    chat_server.set_fault(r.providers[PRIMARY].model, "slow", delay_s=1.0)
    with Client(max_connections=1) as pool, ThreadPoolExecutor(2) as threads:
        first = threads.submit(chat, PRIMARY, MESSAGES, resolver=r, environ=keys, client=pool)
        time.sleep(0.1)  # the first call holds the only connection
        with pytest.raises(FallbackExhausted) as caught:
            chat(PRIMARY, MESSAGES, resolver=r, environ=keys, client=pool, deadline_s=0.3)
        first.result()

    (attempt,) = caught.value.attempts
    assert (attempt.provider_id, attempt.error_class, attempt.sent) == (PRIMARY, "local", False)
    assert r.health.state(PRIMARY).failures == 0


def _capped(chat_server: ChatServer, cap: int) -> Resolver:
    return make_resolver(
        env="prod",
        overrides=[*chat_server.overrides(), f"++models={{{PRIMARY}: {{max_concurrency: {cap}}}}}"],
    )


def test_calls_over_max_concurrency_are_served_first_come_first_served(chat_server, keys):
    """Calls over a model's max_concurrency wait in arrival order: with a cap of 1 they reach
    the user's fn one at a time, in the order they were made."""
    r = _capped(chat_server, 1)
    entered: list[int] = []
    inside = [0, 0]  # now, most at once

    def call(i: int) -> Any:
        async def fn(provider: Any) -> int:
            entered.append(i)
            inside[0] += 1
            inside[1] = max(inside)
            await asyncio.sleep(0.005)
            inside[0] -= 1
            return i

        return acall_with_fallback(PRIMARY, fn, resolver=r, environ=keys)

    async def main() -> list[Any]:
        return await asyncio.gather(*(call(i) for i in range(30)))

    outcomes = asyncio.run(main())

    assert inside[1] == 1
    assert entered == list(range(30))
    assert [o.value for o in outcomes] == list(range(30))


def test_sync_call_over_max_concurrency_waits_and_is_not_sent_past_its_deadline(chat_server, keys):
    """A sync call_with_fallback over a model's max_concurrency waits while another holds the
    slot, and ends as class 'local' (not sent, no health penalty) when its deadline passes."""
    r = _capped(chat_server, 1)
    holding = threading.Event()

    def slow(provider: Any) -> str:
        holding.set()
        time.sleep(0.6)
        return provider.id

    with ThreadPoolExecutor(1) as threads:
        first = threads.submit(call_with_fallback, PRIMARY, slow, resolver=r, environ=keys)
        holding.wait(5)
        with pytest.raises(FallbackExhausted) as caught:
            call_with_fallback(PRIMARY, slow, resolver=r, environ=keys, deadline_s=0.2)
        assert first.result().served_by == PRIMARY

    (attempt,) = caught.value.attempts
    assert (attempt.error_class, attempt.sent) == ("local", False)
    assert "not sent" in str(caught.value)
    assert r.health.state(PRIMARY).failures == 0
