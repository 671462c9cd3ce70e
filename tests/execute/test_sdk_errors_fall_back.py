"""The official OpenAI SDK inside a user's ``fn``: its timeout and connection errors fall back
like any other, with no ``classify=``, sync and async, against a real loopback server."""

from __future__ import annotations

import asyncio

import openai
import pytest
from conftest import BACKUP, MESSAGES, PRIMARY

from resolver import Provider, acall_with_fallback, call_with_fallback

# ChatServer fault -> the class the attempt must get. The SDK raises APITimeoutError for the
# first two and APIConnectionError for the last, each wrapping an exception of its transport.
TRANSPORT_FAULTS = {"slow": "timeout", "stall": "timeout", "drop": "connection"}
SDK_TIMEOUT_S = 0.3


def ask_sync(keys):
    def ask(provider: Provider):
        with openai.OpenAI(
            base_url=provider.base_url,
            api_key=keys[provider.api_key_env],
            max_retries=0,
            timeout=SDK_TIMEOUT_S,
        ) as client:
            return client.chat.completions.create(model=provider.model, messages=MESSAGES)

    return ask


def ask_async(keys):
    async def ask(provider: Provider):
        async with openai.AsyncOpenAI(
            base_url=provider.base_url,
            api_key=keys[provider.api_key_env],
            max_retries=0,
            timeout=SDK_TIMEOUT_S,
        ) as client:
            return await client.chat.completions.create(model=provider.model, messages=MESSAGES)

    return ask


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("fault", sorted(TRANSPORT_FAULTS))
def test_sdk_transport_errors_fall_back(fault, mode, roomy, chat_server, keys):
    """An SDK APITimeoutError or APIConnectionError on the requested model moves the call to
    its backup, whose answer is served, and the attempt gets the timeout/connection class."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, fault, delay_s=2.0)

    if mode == "sync":
        outcome = call_with_fallback(PRIMARY, ask_sync(keys), resolver=roomy, environ=keys)
    else:
        outcome = asyncio.run(
            acall_with_fallback(PRIMARY, ask_async(keys), resolver=roomy, environ=keys)
        )

    assert outcome.served_by == BACKUP
    assert outcome.value.choices[0].message.content == f"ok from {roomy.providers[BACKUP].model}"
    first, second = outcome.attempts
    assert (first.provider_id, first.error_class) == (PRIMARY, TRANSPORT_FAULTS[fault])
    assert second.ok


@pytest.mark.parametrize(
    ("fault", "error_class", "status"),
    [("rate_limit", "rate_limit", 429), ("not_found", "not_found", 404), ("server", "server", 500)],
)
def test_sdk_status_errors_fall_back(fault, error_class, status, roomy, chat_server, keys):
    """The SDK's status errors are classed by their HTTP status and fall back."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, fault)

    outcome = call_with_fallback(PRIMARY, ask_sync(keys), resolver=roomy, environ=keys)

    assert outcome.served_by == BACKUP
    assert (outcome.attempts[0].error_class, outcome.attempts[0].status) == (error_class, status)


class WrappedTimeout(Exception):
    """A user's own exception type, raised ``from`` the SDK's."""


def test_user_exception_raised_from_an_sdk_timeout_falls_back(roomy, chat_server, keys):
    """A user's exception raised ``from`` an SDK timeout is classed by that cause."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "slow", delay_s=2.0)
    sdk = ask_sync(keys)

    def ask(provider: Provider):
        try:
            return sdk(provider)
        except openai.APITimeoutError as exc:
            raise WrappedTimeout("the model did not answer") from exc

    outcome = call_with_fallback(PRIMARY, ask, resolver=roomy, environ=keys)

    assert outcome.served_by == BACKUP
    assert outcome.attempts[0].error_class == "timeout"


def test_bug_while_handling_an_sdk_timeout_is_not_hidden(roomy, chat_server, keys):
    """An unrelated error raised while handling an SDK timeout (not ``from`` it) is a bug in
    ``fn``: it is re-raised unchanged and the backup is never called."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "slow", delay_s=2.0)
    sdk = ask_sync(keys)

    def ask(provider: Provider):
        try:
            return sdk(provider)
        except openai.APITimeoutError:
            return {}["missing"]  # a KeyError whose __context__ is the timeout

    with pytest.raises(KeyError):
        call_with_fallback(PRIMARY, ask, resolver=roomy, environ=keys)

    assert chat_server.requests_for(roomy.providers[BACKUP].model) == []


@pytest.mark.parametrize("fault", sorted(TRANSPORT_FAULTS))
def test_sdk_error_types_are_known_without_their_cause(fault, roomy, chat_server, keys):
    """The SDK's timeout and connection types fall back by their type alone, also when a
    wrapper re-raises them ``from None``, hiding the transport error beneath."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, fault, delay_s=2.0)
    sdk = ask_sync(keys)

    def ask(provider: Provider):
        try:
            return sdk(provider)
        except openai.APIConnectionError as exc:  # APITimeoutError is one too
            raise exc from None

    outcome = call_with_fallback(PRIMARY, ask, resolver=roomy, environ=keys)

    assert outcome.served_by == BACKUP
    assert outcome.attempts[0].error_class == TRANSPORT_FAULTS[fault]
