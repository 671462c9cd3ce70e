"""Spend budgets: a call reserves its estimate before it is sent and settles its real cost after,
so concurrent calls overshoot a budget by at most one call's estimate; a spent budget passes the
deployment over for its backup (class ``budget``), never charged to health."""

from __future__ import annotations

import asyncio

import pytest

import resolver
from resolver.budgets import MICRO, Hold, call_estimate, sized
from resolver.testing import ChatServer, make_resolver

PRIMARY = "deepseek-r1-0528-syn"
BACKUP = "deepseek-r1"
MESSAGES = [{"role": "user", "content": "Will it rain tomorrow? Answer yes or no."}]


def budgeted(server: ChatServer, *entries: str, extra: tuple[str, ...] = ()) -> resolver.Resolver:
    budgets = ", ".join(entries)
    return make_resolver(
        env="prod", overrides=[*server.overrides(), f"++budgets={{{budgets}}}", *extra]
    )


def spent(r: resolver.Resolver, budget_id: str) -> float:
    return r.budget_usage()[budget_id].spent


def priced(r: resolver.Resolver, outcome: resolver.Outcome) -> float:
    """What the upstream's own usage answer says the call cost, at the catalog's prices."""
    usage = outcome.value.raw["usage"]
    return outcome.provider.pricing.cost(usage["prompt_tokens"], usage["completion_tokens"])


def test_concurrent_calls_overshoot_a_budget_by_at_most_one_estimate(chat_server):
    """200 concurrent achat calls against a budget of 3 cents: the spend stays within the
    budget plus one call's estimate, the calls it had no room for are served by the backup,
    and the budgeted model's health is not charged."""
    r = budgeted(chat_server, f"cents: {{model: {PRIMARY}, amount: 0.03, window: hour}}")
    keys = ChatServer.environ()
    params = {"max_tokens": 400}

    async def burst() -> list[resolver.Outcome]:
        calls = (
            resolver.achat(PRIMARY, MESSAGES, resolver=r, environ=keys, **params)
            for _ in range(200)
        )
        return await asyncio.gather(*calls)

    outcomes = asyncio.run(burst())
    estimate = call_estimate(r.providers[PRIMARY], sized(MESSAGES, params)[0], 400, r.policy)
    usage = r.budget_usage()["cents"]
    assert usage.spent <= 0.03 + estimate / MICRO
    assert usage.reserved == 0
    served = [o for o in outcomes if o.served_by == PRIMARY]
    backed = [o for o in outcomes if o.served_by == BACKUP]
    assert served
    assert backed
    assert len(served) + len(backed) == 200
    # The spend is what the upstream's answers say, at the catalog's prices.
    assert usage.spent == pytest.approx(sum(priced(r, o) for o in served), abs=len(served) / MICRO)
    for o in backed:
        assert [s.budget for s in o.skipped] == ["cents"]
    assert r.health.state(PRIMARY).failures == 0


def test_spend_is_the_upstreams_usage_times_the_prices_over_hundreds_of_calls(chat_server):
    """Three hundred sync and async calls under a roomy budget: its spend is the sum of what
    the upstream's usage answers cost at the catalog's prices, to the micro-dollar."""
    r = budgeted(chat_server, "all: {env: true, amount: 100, window: day}")
    keys = ChatServer.environ()
    outcomes = [
        resolver.chat(PRIMARY, [{"role": "user", "content": "x" * n}], resolver=r, environ=keys)
        for n in range(100)
    ]

    async def more() -> list[resolver.Outcome]:
        return await asyncio.gather(
            *(
                resolver.achat(BACKUP, [{"role": "user", "content": "y" * n}], resolver=r,
                               environ=keys)
                for n in range(200)
            )
        )  # fmt: skip

    outcomes += asyncio.run(more())
    expected = sum(priced(r, o) for o in outcomes)
    assert spent(r, "all") == pytest.approx(expected, abs=len(outcomes) / MICRO)


def test_a_failed_call_releases_its_reservation_and_costs_nothing(chat_server):
    """A call whose primary fails: nothing is charged to the primary's budget and nothing
    stays reserved; the backup's cost is charged to the budget covering it."""
    r = budgeted(
        chat_server,
        f"primary: {{model: {PRIMARY}, amount: 1, window: day}}",
        f"backup: {{model: {BACKUP}, amount: 1, window: day}}",
    )
    chat_server.set_fault(r.providers[PRIMARY].model, "server")
    outcome = resolver.chat(PRIMARY, MESSAGES, resolver=r, environ=ChatServer.environ())
    assert outcome.served_by == BACKUP
    usage = r.budget_usage()
    assert (usage["primary"].spent, usage["primary"].reserved) == (0, 0)
    assert usage["backup"].spent == pytest.approx(priced(r, outcome), abs=1 / MICRO)


def test_a_spent_budget_with_no_backup_refuses_with_a_class_of_its_own(chat_server):
    """When the budget of a model without a usable backup has no room, the call is not sent:
    FallbackExhausted says over_budget, names the budget, and health is not charged."""
    r = budgeted(chat_server, "tiny: {vendor: together, amount: 0.000001, window: minute}")
    with pytest.raises(resolver.FallbackExhausted) as caught:
        resolver.chat(BACKUP, MESSAGES, resolver=r, environ=ChatServer.environ())
    assert caught.value.over_budget
    assert not caught.value.attempts
    assert "budget tiny" in str(caught.value)
    assert chat_server.requests == []
    assert r.health.state(BACKUP).failures == 0


def test_a_stream_is_charged_its_usage(chat_server):
    """A stream served under a budget settles what its final usage chunk reports."""
    r = budgeted(chat_server, f"s: {{model: {PRIMARY}, amount: 1, window: day}}")
    with resolver.chat_stream(
        PRIMARY, MESSAGES, resolver=r, environ=ChatServer.environ()
    ) as stream:
        for _ in stream:
            pass
    result = stream.outcome.value
    assert result.prompt_tokens is not None
    price = r.providers[PRIMARY].pricing.cost(result.prompt_tokens, result.completion_tokens)
    assert spent(r, "s") == pytest.approx(price, abs=1 / MICRO)
    assert r.budget_usage()["s"].reserved == 0


@pytest.mark.parametrize(
    ("entry", "code", "where"),
    [
        ("b: {model: deepseek-r1, amount: -1, window: day}", "bad-value", "budgets.b.amount"),
        ("b: {model: deepseek-r1, amount: .nan, window: day}", "wrong-type", "budgets.b.amount"),
        ("b: {model: deepseek-r1, amount: 0, window: day}", "bad-value", "budgets.b.amount"),
        ("b: {model: deepseek-r1, amount: 1, window: week}", "bad-value", "budgets.b.window"),
        ("b: {model: deepseek-r1, vendor: together, amount: 1, window: day}", "budget-scope",
         "budgets.b"),
        ("b: {amount: 1, window: day}", "budget-scope", "budgets.b"),
        ("b: {model: deepseek-r9, amount: 1, window: day}", "unknown-target", "budgets.b.model"),
        ("b: {vendor: togther, amount: 1, window: day}", "unknown-target", "budgets.b.vendor"),
        ("b: {model: deepseek-r1, amount: 1}", "missing-field", "budgets.b.window"),
    ],
)  # fmt: skip
def test_a_bad_budget_is_refused_where_it_is(entry, code, where):
    """A budget with a bad amount, window or scope is refused with its key named."""
    with pytest.raises(resolver.ConfigError) as caught:
        resolver.load("prod", [f"++budgets={{{entry}}}"])
    problems = [(p.code, p.key) for p in caught.value.problems]
    assert (code, where) in problems, problems


def test_validate_warns_of_budgets_too_small_or_without_headroom():
    """A budget below one call's estimate, and one covering a model and all its backups, are
    warnings naming the budget."""
    r = resolver.load(
        "prod",
        [
            "++budgets={small: {model: deepseek-r1, amount: 0.0000001, window: day}, "
            "all: {env: true, amount: 100, window: 30d}}"
        ],
        environ=ChatServer.environ(),
    )
    found = {(w.code, w.key) for w in r.warnings}
    assert ("budget-too-small", "budgets.small.amount") in found
    assert ("budget-no-headroom", "budgets.all") in found


def test_a_reservation_left_by_a_dead_process_expires(chat_server, monkeypatch):
    """A reservation that is never settled (its process died) stops holding room once its
    hold time is over."""
    import time

    r = budgeted(chat_server, f"b: {{model: {PRIMARY}, amount: 1, window: day}}")
    budget = r.budgets["b"]
    hold = r.ledger.reserve([budget], 500_000, 1.0)
    assert isinstance(hold, Hold)
    assert r.budget_usage()["b"].reserved == pytest.approx(0.5)
    later = time.time() + 2
    monkeypatch.setattr(time, "time", lambda: later)
    assert r.budget_usage()["b"].reserved == 0


def test_a_snapshot_keeps_its_budgets_and_refuses_a_hand_made_bad_one(tmp_path):
    """Budgets survive compiling to a snapshot; one edited to a negative amount (with its hash
    recomputed, as a hand would) is refused naming the budget."""
    import json

    from resolver import snapshot

    r = resolver.load("prod", ["++budgets={b: {vendor: together, amount: 2.5, window: hour}}"])
    path = tmp_path / "s.json"
    snapshot.write(r, path)
    assert resolver.load_snapshot(path).budgets == r.budgets
    content = json.loads(path.read_text())
    content["budgets"]["b"]["amount"] = -1
    del content["integrity"]
    content["integrity"] = snapshot._digest(content)
    path.write_text(json.dumps(content))
    with pytest.raises(resolver.SnapshotError, match=r"budgets\.b\.amount"):
        resolver.load_snapshot(path)


def test_the_gateway_shows_spend_on_metrics_and_status(chat_server):
    """After calls through the gateway, /metrics and /status.json show each budget's amount,
    spend, what calls hold and what is left, as the resolver counts them."""
    import httpx
    from gateway_support import gateway_for, sdk, serving

    r = budgeted(chat_server, f"b: {{model: {PRIMARY}, amount: 2, window: day}}")
    with serving(gateway_for(r, ChatServer.environ())) as url:
        for _ in range(3):
            sdk(url).chat.completions.create(model=PRIMARY, messages=MESSAGES)
        root = url.removesuffix("/v1")
        metrics = httpx.get(root + "/metrics").text
        status = httpx.get(root + "/status.json").json()
    usage = r.budget_usage()["b"]
    assert usage.spent > 0
    assert f'llm_budget_spent_usd{{budget="b",window="day"}} {usage.spent}' in metrics
    assert f'llm_budget_left_usd{{budget="b",window="day"}} {usage.left}' in metrics
    assert status["budgets"] == [
        {"id": "b", "scope": "model", "target": PRIMARY, "window": "day", "amount": 2.0,
         "spent": usage.spent, "reserved": 0.0, "left": usage.left}
    ]  # fmt: skip
