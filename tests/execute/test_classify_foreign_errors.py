"""How failures raised by users' own code are classed: real httpx errors from a real server,
Python's own timeout and connection errors, SDK-style status errors, and a user's classify=.

The user's ``fn`` here talks to the loopback chat server with httpx directly (not through the
built-in client), the way an application with its own HTTP code would.
"""

from __future__ import annotations

import contextlib
import socket
import types
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from conftest import BACKUP, MESSAGES, PRIMARY

import resolver
from resolver import Event, FallbackExhausted, Provider, ProviderError, Resolver
from resolver.classify import parse_retry_after
from resolver.testing import ChatServer, make_resolver


def posting(timeout: float = 5.0) -> Callable[[Provider], str]:
    """A user's fn: POST to the provider's chat endpoint with httpx, raise_for_status()."""

    def fn(provider: Provider) -> str:
        response = httpx.post(
            f"{provider.base_url}/chat/completions",
            json={"model": provider.model, "messages": MESSAGES},
            timeout=timeout,
        )
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"])

    return fn


def retrying(server: ChatServer) -> Resolver:
    """One same-model retry allowed; the default backoff (30 s) is over the cap (1 s), so only
    a Retry-After read from the failure can make the retry happen."""
    return make_resolver(
        overrides=[
            *server.overrides(),
            "policy.retries=1",
            "policy.retry_backoff_s=30",
            "policy.retry_max_wait_s=1",
        ]
    )


KEYS = ChatServer.environ()


class VendorError(Exception):
    """An SDK-style error: the HTTP status on ``status_code``, the vendor's message in str()."""

    def __init__(self, status_code: Any, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


def raising(exc: Exception, on: str = PRIMARY) -> Callable[[Provider], str]:
    def fn(provider: Provider) -> str:
        if provider.id == on:
            raise exc
        return provider.id

    return fn


def first_attempt(r: Resolver, exc: Exception, **kwargs: Any) -> Event:
    """The event of the first attempt of a call whose requested model raises ``exc``."""
    events: list[Event] = []
    with contextlib.suppress(FallbackExhausted):
        resolver.call_with_fallback(
            PRIMARY, raising(exc), environ=KEYS, on_event=events.append, **kwargs, resolver=r
        )
    return next(e for e in events if e.kind == "attempt")


# --- httpx errors from a real server -----------------------------------------------------------


def test_an_httpx_429_is_a_rate_limit_and_its_retry_after_is_honoured(server, chat_server, keys):
    """A 429 raised by httpx's raise_for_status is classed rate_limit with status 429, and the
    Retry-After header on its response decides the retry on the same model."""
    r = retrying(server)
    chat_server.set_fault(r.providers[PRIMARY].model, "rate_limit", times=1, retry_after=0.05)

    outcome = resolver.call_with_fallback(PRIMARY, posting(), environ=keys, resolver=r)

    assert outcome.served_by == PRIMARY
    first = outcome.attempts[0]
    assert (first.provider_id, first.error_class, first.status) == (PRIMARY, "rate_limit", 429)


@pytest.mark.parametrize(
    ("fault", "error_class", "status"),
    [("server", "server", 500), ("unavailable", "server", 503), ("auth", "auth", 401)],
)
def test_httpx_status_errors_are_classed_by_status(
    roomy, chat_server, keys, fault, error_class, status
):
    """httpx status errors from a real server are classed by their status and fall back."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, fault)

    outcome = resolver.call_with_fallback(PRIMARY, posting(), environ=keys, resolver=roomy)

    assert outcome.served_by == BACKUP
    first = outcome.attempts[0]
    assert (first.error_class, first.status) == (error_class, status)


def test_an_httpx_400_is_a_bad_request_raised_without_the_key(roomy, chat_server, keys):
    """A plain 400 is classed bad_request (the attempt is reported with its status) and does not
    fall back; since httpx's error keeps the request and its Authorization header, it reaches
    the caller as a ProviderError of the same class and status, holding no key."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "bad_request")
    events: list[Event] = []

    with pytest.raises(ProviderError) as caught:
        resolver.call_with_fallback(
            PRIMARY, posting(), environ=keys, on_event=events.append, resolver=roomy
        )

    assert (caught.value.error_class, caught.value.status) == ("bad_request", 400)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    attempts = [(e.provider_id, e.error_class, e.status) for e in events if e.kind == "attempt"]
    assert attempts == [(PRIMARY, "bad_request", 400)]
    assert chat_server.requests_for(roomy.providers[BACKUP].model) == []


def test_an_httpx_timeout_is_a_timeout_with_its_message(roomy, chat_server, keys):
    """httpx's read timeout is classed timeout, and the attempt keeps the error's message."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "slow", delay_s=2.0)
    raised: list[str] = []
    post = posting(timeout=0.2)

    def fn(provider: Provider) -> str:
        try:
            return post(provider)
        except httpx.TimeoutException as e:
            raised.append(str(e))
            raise

    outcome = resolver.call_with_fallback(PRIMARY, fn, environ=keys, resolver=roomy)

    first = outcome.attempts[0]
    assert (first.error_class, first.status, outcome.served_by) == ("timeout", None, BACKUP)
    assert raised
    assert first.message == raised[0]


def test_an_httpx_connection_error_is_a_connection_failure(keys):
    """Nothing listening on the primary's port: httpx's connect error is classed connection."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    r = make_resolver(overrides=[f"providers.synthetic.base_url=http://127.0.0.1:{closed_port}/v1"])

    raised: list[str] = []

    def fn(provider: Provider) -> str:
        if provider.id != PRIMARY:
            return provider.id
        try:
            return posting()(provider)
        except httpx.ConnectError as e:
            raised.append(str(e))
            raise

    outcome = resolver.call_with_fallback(PRIMARY, fn, environ=keys, resolver=r)

    first = outcome.attempts[0]
    assert (first.error_class, first.status, outcome.served_by) == ("connection", None, BACKUP)
    assert raised
    assert first.message == raised[0]  # httpx's own description


# --- Python's own errors and SDK-style status errors -------------------------------------------


@pytest.mark.parametrize(
    ("exc", "error_class", "message"),
    [
        (TimeoutError("upstream took too long"), "timeout", "upstream took too long"),
        (TimeoutError(), "timeout", "TimeoutError"),
        (ConnectionResetError("peer reset"), "connection", "peer reset"),
        (ConnectionError(), "connection", "ConnectionError"),
    ],
)
def test_python_timeout_and_connection_errors_fall_back(roomy, exc, error_class, message):
    """TimeoutError and ConnectionError from a user's fn fall back, with their message (or
    their type's name when they have none)."""
    outcome = resolver.call_with_fallback(PRIMARY, raising(exc), environ=KEYS, resolver=roomy)

    first = outcome.attempts[0]
    assert (first.error_class, first.status, first.message) == (error_class, None, message)
    assert outcome.served_by == BACKUP


@pytest.mark.parametrize(
    ("status", "message", "error_class"),
    [
        (400, "This model's maximum context length is 8192 tokens", "context_window"),
        (400, "the prompt was flagged by moderation", "content_policy"),
        (413, "payload too large", "context_window"),
        (500, "maximum context length exceeded while loading", "server"),
        (500, "content filter service crashed", "server"),
        (502, "bad gateway", "server"),
    ],
)
def test_sdk_status_errors_are_classed_by_status_and_message(roomy, status, message, error_class):
    """An SDK-style error (status on .status_code) is classed by status, refined by the
    vendor's message for 4xx only: a 5xx mentioning context length is still a server error."""
    first = first_attempt(roomy, VendorError(status, message))

    assert (first.error_class, first.status, first.message) == (error_class, status, message)


def test_long_messages_are_clipped_to_500_characters(roomy):
    """A failure's message is kept whole up to 500 characters and clipped with '...' beyond."""
    exact = "x" * 500
    longer = "y" * 600
    assert first_attempt(roomy, TimeoutError(exact)).message == exact
    assert first_attempt(roomy, TimeoutError(exact + "z")).message == "x" * 497 + "..."
    assert first_attempt(roomy, TimeoutError(longer)).message == "y" * 497 + "..."


def test_odd_status_attributes_leave_a_failure_unclassed(roomy):
    """An exception whose status (on itself or its response) is not an int gets no class: it
    is re-raised unchanged and no backup is called."""
    odd_response = VendorError(None, "odd")
    odd_response.response = types.SimpleNamespace(status_code="503", headers={})
    for exc in (VendorError(True, "odd"), VendorError("429", "odd"), odd_response):
        with pytest.raises(VendorError) as caught:
            resolver.call_with_fallback(PRIMARY, raising(exc), environ=KEYS, resolver=roomy)
        assert caught.value is exc


# --- a user's classify= ------------------------------------------------------------------------


def test_a_users_classify_keeps_the_status_and_retry_after_of_an_httpx_error(
    server, chat_server, keys
):
    """classify= may re-class an httpx 429 (here as server); the attempt keeps status 429 and
    the response's Retry-After still decides the same-model retry."""
    r = retrying(server)
    chat_server.set_fault(r.providers[PRIMARY].model, "rate_limit", times=1, retry_after=0.05)

    def as_server(exc: BaseException) -> Any:
        return "server" if isinstance(exc, httpx.HTTPStatusError) else None

    outcome = resolver.call_with_fallback(
        PRIMARY, posting(), environ=keys, classify=as_server, resolver=r
    )

    assert outcome.served_by == PRIMARY
    first = outcome.attempts[0]
    assert (first.error_class, first.status) == ("server", 429)


def test_a_users_classify_keeps_the_status_of_a_provider_error(roomy):
    """classify= re-classing a ProviderError keeps that error's status and message."""
    exc = ProviderError("bad_request", "odd vendor answer", 422)

    first = first_attempt(roomy, exc, classify=lambda e: "server")

    assert (first.error_class, first.status) == ("server", 422)
    assert "odd vendor answer" in first.message


def test_a_provider_errors_own_retry_after_decides_the_retry():
    """A ProviderError raised with retry_after=0.05 is retried on the same model even though
    the default backoff is over the cap."""
    r = make_resolver(
        overrides=["policy.retries=1", "policy.retry_backoff_s=30", "policy.retry_max_wait_s=1"]
    )
    calls: list[str] = []

    def fn(provider: Provider) -> str:
        calls.append(provider.id)
        if len(calls) == 1:
            raise ProviderError("rate_limit", "slow down", 429, retry_after=0.05)
        return provider.id

    outcome = resolver.call_with_fallback(PRIMARY, fn, environ={}, resolver=r)

    assert calls == [PRIMARY, PRIMARY]
    assert outcome.served_by == PRIMARY


def test_a_retry_after_date_in_the_past_means_no_wait():
    """An HTTP-date Retry-After already past is a wait of zero seconds, never negative or more."""
    assert parse_retry_after(formatdate(0, usegmt=True)) == 0.0
