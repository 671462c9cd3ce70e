"""chat/achat against a real chat-completions server on loopback, fault by fault."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import BACKUP, MESSAGES, PRIMARY

from resolver import FallbackExhausted, Outcome, ProviderError, Resolver, achat, chat
from resolver.http import ChatResult, Client
from resolver.testing import ChatServer, make_resolver

FALLING_BACK = {
    "rate_limit": ("rate_limit", 429),
    "server": ("server", 500),
    "unavailable": ("server", 503),
    "slow": ("timeout", None),
    "drop": ("connection", None),
    "malformed": ("bad_response", 200),
    "empty": ("bad_response", 200),
    "context_window": ("context_window", 400),
    "auth": ("auth", 401),
    "content_policy": ("content_policy", 400),
}


def run_chat(mode: str, resolver: Resolver, **kwargs: Any) -> Outcome[ChatResult]:
    if mode == "sync":
        return chat(PRIMARY, MESSAGES, resolver=resolver, **kwargs)
    return asyncio.run(achat(PRIMARY, MESSAGES, resolver=resolver, **kwargs))


@pytest.mark.parametrize("fault", sorted(FALLING_BACK))
def test_fault_on_primary_is_served_by_backup(fault, mode, prod, roomy, chat_server, keys):
    """When the requested model fails with a fallback-worthy error, its backup answers and the
    outcome records both attempts with the failure's class and status."""
    prod = prod if fault == "slow" else roomy  # 0.2 s primary timeout only where it is tested
    primary = prod.providers[PRIMARY].model
    chat_server.set_fault(primary, fault, delay_s=2.0)

    outcome = run_chat(mode, prod, environ=keys)

    error_class, status = FALLING_BACK[fault]
    assert outcome.requested == PRIMARY
    assert outcome.served_by == BACKUP
    assert outcome.fallback_used
    assert outcome.value.content == f"ok from {prod.providers[BACKUP].model}"
    first, second = outcome.attempts
    assert (first.provider_id, first.error_class, first.status) == (PRIMARY, error_class, status)
    assert (second.provider_id, second.error_class, second.status) == (BACKUP, None, 200)
    assert first.seconds > 0


def test_without_resolver_the_default_resolver_serves(mode, roomy, chat_server, keys):
    """chat and achat called without ``resolver=`` go through the process-wide default
    resolver, as the lookups do: its providers, its backups."""
    from resolver.testing import use_resolver

    chat_server.set_fault(roomy.providers[PRIMARY].model, "server")
    with use_resolver(roomy):
        if mode == "sync":
            outcome = chat(PRIMARY, MESSAGES, environ=keys)
        else:
            outcome = asyncio.run(achat(PRIMARY, MESSAGES, environ=keys))

    assert (outcome.requested, outcome.served_by) == (PRIMARY, BACKUP)
    assert [q.model for q in chat_server.requests] == [
        roomy.providers[PRIMARY].model,
        roomy.providers[BACKUP].model,
    ]


def test_healthy_primary_serves_and_params_pass_through(mode, roomy, chat_server, keys):
    """A healthy primary serves with no fallback, gets the vendor's model string, a Bearer key
    and extra parameters such as response_format unchanged, and usage is parsed."""
    outcome = run_chat(mode, roomy, environ=keys, response_format={"type": "json_object"})

    assert not outcome.fallback_used
    assert outcome.served_by == PRIMARY
    assert outcome.value.finish_reason == "stop"
    assert (
        outcome.value.total_tokens == outcome.value.prompt_tokens + outcome.value.completion_tokens
    )
    assert outcome.value.raw["object"] == "chat.completion"
    (seen,) = chat_server.requests
    assert seen.model == roomy.providers[PRIMARY].model
    assert seen.has_auth
    assert seen.body["response_format"] == {"type": "json_object"}
    assert seen.body["messages"] == MESSAGES


def test_bad_request_does_not_fall_back(mode, roomy, chat_server, keys):
    """A bad request is raised as it is, with its attempt listed, and the backup is never
    called: it would reject the same request."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "bad_request")

    with pytest.raises(ProviderError) as caught:
        run_chat(mode, roomy, environ=keys)

    assert caught.value.error_class == "bad_request"
    assert caught.value.status == 400
    assert [a.provider_id for a in caught.value.attempts] == [PRIMARY]
    assert chat_server.requests_for(roomy.providers[BACKUP].model) == []


def test_both_failing_raises_exhausted_with_two_attempts(mode, roomy, chat_server, keys):
    """When the primary and its backup both fail, one FallbackExhausted carries both attempts
    and chains the backup's error as its cause."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "server")
    chat_server.set_fault(roomy.providers[BACKUP].model, "unavailable")

    with pytest.raises(FallbackExhausted) as caught:
        run_chat(mode, roomy, environ=keys)

    error = caught.value
    assert error.requested == PRIMARY
    assert [(a.provider_id, a.status) for a in error.attempts] == [(PRIMARY, 500), (BACKUP, 503)]
    assert isinstance(error.__cause__, ProviderError)
    assert error.__cause__.status == 503


def test_deadline_cuts_the_chain(mode, roomy, chat_server, keys):
    """An overall deadline that passes during the primary's attempt ends the call there: the
    backup is not started and the error says the deadline was reached."""
    slow = roomy
    chat_server.set_fault(slow.providers[PRIMARY].model, "slow", delay_s=6.0)

    started = time.monotonic()
    with pytest.raises(FallbackExhausted) as caught:
        run_chat(mode, slow, environ=keys, deadline_s=0.3)

    # Far from both: the deadline (0.3 s) and the slow answer a missed deadline waits for (6 s).
    assert time.monotonic() - started < 3.0
    assert "deadline" in caught.value.reason
    assert [a.error_class for a in caught.value.attempts] == ["timeout"]
    assert chat_server.requests_for(slow.providers[BACKUP].model) == []


def test_missing_backup_key_skips_it_with_reason(mode, roomy, chat_server):
    """A backup whose key variable is unset is not called, and the reason is recorded."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "server")

    with pytest.raises(FallbackExhausted) as caught:
        run_chat(mode, roomy, environ=ChatServer.environ("SYNTHETIC_API_KEY"))

    assert [a.provider_id for a in caught.value.attempts] == [PRIMARY]
    (skip,) = caught.value.skipped
    assert skip.provider_id == BACKUP
    assert "TOGETHER_API_KEY is not set" in skip.reason
    assert chat_server.requests_for(roomy.providers[BACKUP].model) == []


def test_missing_primary_key_is_an_auth_failure_not_a_crash(mode, roomy, chat_server):
    """An unset key variable on the requested model is an auth failure that falls back; no
    request goes out without its key."""
    outcome = run_chat(mode, roomy, environ=ChatServer.environ("TOGETHER_API_KEY"))

    assert outcome.served_by == BACKUP
    assert outcome.attempts[0].error_class == "auth"
    assert "SYNTHETIC_API_KEY is not set" in outcome.attempts[0].message
    assert chat_server.requests_for(roomy.providers[PRIMARY].model) == []


def test_retry_after_is_honoured_on_same_model_retry(mode, server, chat_server, keys):
    """With policy.retries=1, a 429 is retried on the same model after its Retry-After, and the
    model that was asked for serves."""
    retrying = make_resolver(overrides=[*server.overrides(), "policy.retries=1"])
    chat_server.set_fault(retrying.providers[PRIMARY].model, "rate_limit", times=1, retry_after=0.2)

    started = time.monotonic()
    outcome = run_chat(mode, retrying, environ=keys)

    assert time.monotonic() - started >= 0.2
    assert outcome.served_by == PRIMARY
    assert [a.error_class for a in outcome.attempts] == ["rate_limit", None]


def test_retry_after_over_the_cap_moves_to_backup(mode, server, chat_server, keys):
    """A Retry-After longer than policy.retry_max_wait_s is not waited for: the backup serves."""
    retrying = make_resolver(
        overrides=[*server.overrides(), "policy.retries=1", "policy.retry_max_wait_s=0.5"]
    )
    chat_server.set_fault(retrying.providers[PRIMARY].model, "rate_limit", retry_after=30)

    started = time.monotonic()
    outcome = run_chat(mode, retrying, environ=keys)

    assert time.monotonic() - started < 5.0  # waiting out the 30 s would not be
    assert outcome.served_by == BACKUP


def test_no_key_value_in_logs_or_errors(mode, roomy, chat_server, caplog):
    """Key values never appear in log records, attempts or error messages, whatever fails."""
    secret = "sk-very-secret-value-123"
    environ = {"SYNTHETIC_API_KEY": secret, "TOGETHER_API_KEY": secret + "-t"}
    chat_server.set_fault(roomy.providers[PRIMARY].model, "auth")
    chat_server.set_fault(roomy.providers[BACKUP].model, "drop")
    caplog.set_level(logging.DEBUG, logger="resolver")

    with pytest.raises(FallbackExhausted) as caught:
        run_chat(mode, roomy, environ=environ)

    assert caplog.records, "attempts and fallbacks are logged"
    texts = [caplog.text, str(caught.value), repr(caught.value.attempts)]
    texts += [repr(vars(r)) for r in caplog.records]
    assert all(secret not in text for text in texts)


def test_concurrent_achat_none_lost_none_hanging(roomy, chat_server, keys):
    """200 concurrent achat calls with the primary failing half the time each end with a
    response or a FallbackExhausted, within a bounded time."""
    # roomy, not prod: the server shares this process's GIL, 0.2 s timeouts would trip
    chat_server.set_fault(roomy.providers[PRIMARY].model, "server", rate=0.5)
    chat_server.set_fault(roomy.providers[BACKUP].model, "unavailable", rate=0.2)

    async def main() -> list[Any]:
        calls = [achat(PRIMARY, MESSAGES, environ=keys, resolver=roomy) for _ in range(200)]
        return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 30)

    results = asyncio.run(main())

    assert len(results) == 200
    outcomes = [r for r in results if isinstance(r, Outcome)]
    exhausted = [r for r in results if isinstance(r, FallbackExhausted)]
    assert len(outcomes) + len(exhausted) == 200, [r for r in results if isinstance(r, Exception)]
    assert any(o.fallback_used for o in outcomes)
    assert any(not o.fallback_used for o in outcomes)
    # Every request the calls report having sent reached the server, and nothing else did
    # (a backup taken out of rotation mid-burst is skipped, not sent).
    sent = sum(a.sent for result in [*outcomes, *exhausted] for a in result.attempts)
    assert len(chat_server.requests) == sent


def test_cancelling_achat_cancels_request_and_starts_no_backup(roomy, chat_server, keys):
    """Cancelling an achat hangs up the request in flight and never starts a backup."""
    slow = roomy
    chat_server.set_fault(slow.providers[PRIMARY].model, "slow", delay_s=5.0)

    async def main() -> None:
        task = asyncio.create_task(achat(PRIMARY, MESSAGES, environ=keys, resolver=slow))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.5)  # time for a wrongly started backup to show up

    asyncio.run(asyncio.wait_for(main(), 10))

    waited = _until(lambda: chat_server.requests_for(slow.providers[PRIMARY].model), 3.0)
    assert [r.disconnected for r in waited] == [True]
    assert chat_server.requests_for(slow.providers[BACKUP].model) == []


def test_own_client_pool_can_be_closed(roomy, chat_server, keys):
    """A Client used as a context manager serves chats and closes its pool on exit."""
    with Client() as client:
        outcome = chat(PRIMARY, MESSAGES, environ=keys, client=client, resolver=roomy)
        assert outcome.served_by == PRIMARY
    assert client._sync is None


def _until(probe: Callable[[], list[Any]], seconds: float) -> list[Any]:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        found = probe()
        if found:
            return found
        time.sleep(0.02)
    return probe()


def test_async_pool_is_closed_when_its_loop_shuts_down(roomy, chat_server, keys):
    """A loop run by asyncio.run closes the async connection pool it used, leaving no open
    sockets behind."""
    pool = Client()

    async def main() -> Any:
        await achat(PRIMARY, MESSAGES, environ=keys, client=pool, resolver=roomy)
        return await pool.async_client()

    session = asyncio.run(main())

    assert session.closed


def test_a_call_is_bounded_by_its_timeout_not_the_http_librarys(
    roomy, chat_server, keys, monkeypatch
):
    """achat waits as long as the provider's timeout_s allows, whatever the HTTP library's own
    default timeout (aiohttp's gives up after 300 s, connecting after 30 s): here that default
    is made shorter than the answer takes, and the answer still comes."""
    import aiohttp

    short = aiohttp.ClientTimeout(total=0.3, sock_connect=0.3, sock_read=0.3)
    monkeypatch.setattr(aiohttp.client, "DEFAULT_TIMEOUT", short)
    assert roomy.providers[PRIMARY].timeout_s > 2
    chat_server.set_fault(roomy.providers[PRIMARY].model, "slow", delay_s=0.8)

    async def main() -> Outcome[ChatResult]:
        async with Client() as client:
            return await achat(
                PRIMARY, MESSAGES, environ=keys, client=client, resolver=roomy, fallback=False
            )

    outcome = asyncio.run(main())
    assert outcome.served_by == PRIMARY
    assert outcome.attempts[0].seconds >= 0.8
