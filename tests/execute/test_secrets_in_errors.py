"""A vendor that echoes the bearer key in its error body: the error the caller sees masks it,
and no exception the library raises carries the key anywhere it reaches (args, attributes,
``__cause__``/``__context__`` chain), whether the call went through chat, achat or the user's
own OpenAI SDK client."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging

import openai
import pytest
from conftest import BACKUP, MESSAGES, PRIMARY

import resolver
from resolver import (
    FallbackExhausted,
    Provider,
    ProviderError,
    Resolver,
    acall_with_fallback,
    call_with_fallback,
)
from resolver.http import Client
from resolver.testing import make_resolver

KEYS = {
    "SYNTHETIC_API_KEY": "sk-syn-4f9a1c0e7b2d4e8f9a6b3c5d",
    "TOGETHER_API_KEY": "tgp-v1-0d8e7c6b5a4f3e2d1c0b9a8f",
}


def not_data(obj: object) -> bool:
    """Code, classes and modules, and tracebacks with their frames (which hold the caller's own
    variables, the environment mapping with the keys among them): not data of an error."""
    return any(
        check(obj)
        for check in (
            inspect.isclass,
            inspect.ismodule,
            inspect.isroutine,
            inspect.istraceback,
            inspect.isframe,
            inspect.iscode,
        )
    )


def key_found_in(error: BaseException) -> list[str]:
    """Every string or bytes the garbage collector says ``error`` reaches, tracebacks aside,
    that holds a key."""
    found, seen, todo = [], set(), [error]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or not_data(obj):
            continue
        seen.add(id(obj))
        if isinstance(obj, str | bytes):
            text = obj if isinstance(obj, str) else obj.decode("latin-1")
            found += [text for key in KEYS.values() if key in text]
            continue
        todo.extend(gc.get_referents(obj))
    return found


@pytest.fixture
def echoing(chat_server):
    """Both the requested model and its backup echo the key back in a 401."""

    def setup(r: Resolver) -> None:
        for model_id in (PRIMARY, BACKUP):
            chat_server.set_fault(r.providers[model_id].model, "echo_key")

    return setup


def no_fallback_on_auth(server) -> Resolver:
    return make_resolver(env="prod", overrides=[*server.overrides(), "policy.fallback_on=[server]"])


def sdk_sync(provider: Provider):
    with openai.OpenAI(
        base_url=provider.base_url, api_key=KEYS[provider.api_key_env], max_retries=0
    ) as client:
        return client.chat.completions.create(model=provider.model, messages=MESSAGES)


async def sdk_async(provider: Provider):
    async with openai.AsyncOpenAI(
        base_url=provider.base_url, api_key=KEYS[provider.api_key_env], max_retries=0
    ) as client:
        return await client.chat.completions.create(model=provider.model, messages=MESSAGES)


CALLS = {
    "chat": lambda r: resolver.chat(PRIMARY, MESSAGES, environ=KEYS, resolver=r),
    "achat": lambda r: asyncio.run(resolver.achat(PRIMARY, MESSAGES, environ=KEYS, resolver=r)),
    "sdk": lambda r: call_with_fallback(PRIMARY, sdk_sync, resolver=r, environ=KEYS),
    "async sdk": lambda r: asyncio.run(
        acall_with_fallback(PRIMARY, sdk_async, resolver=r, environ=KEYS)
    ),
}


def test_the_key_really_is_echoed(chat_server):
    """The vendor in these tests does echo the key: the SDK's own error holds it."""
    r = make_resolver(env="prod", overrides=chat_server.overrides())
    chat_server.set_fault(r.providers[PRIMARY].model, "echo_key")

    with pytest.raises(openai.AuthenticationError) as caught:
        sdk_sync(r.providers[PRIMARY])

    assert key_found_in(caught.value)


@pytest.mark.parametrize("call", sorted(CALLS))
def test_exhausted_chain_carries_no_key(call, roomy, echoing, caplog):
    """When every candidate echoes its key, FallbackExhausted and everything it reaches hold
    no key, its attempts say what failed with the key masked, and no log line has it."""
    echoing(roomy)

    with caplog.at_level(logging.DEBUG, logger="resolver"), pytest.raises(FallbackExhausted) as e:
        CALLS[call](roomy)

    assert key_found_in(e.value) == []
    assert [(a.error_class, a.status) for a in e.value.attempts] == [("auth", 401)] * 2
    assert all("Incorrect API key provided: ***" in a.message for a in e.value.attempts)
    assert isinstance(e.value.__cause__, Exception)
    assert not any(key in caplog.text for key in KEYS.values())


@pytest.mark.parametrize("call", sorted(CALLS))
def test_error_that_does_not_fall_back_carries_no_key(call, chat_server, echoing):
    """When the echoing failure does not fall back, the error raised in its place is a
    ProviderError of the same class and status, masked, and reaches no key."""
    r = no_fallback_on_auth(chat_server)
    echoing(r)

    with pytest.raises(ProviderError) as caught:
        CALLS[call](r)

    error = caught.value
    assert (error.error_class, error.status, error.provider_id) == ("auth", 401, PRIMARY)
    assert "***" in str(error)
    assert [a.provider_id for a in error.attempts] == [PRIMARY]
    assert key_found_in(error) == []


def test_served_call_records_the_echo_masked(roomy, chat_server):
    """When the backup serves after the requested model echoed its key, the outcome's attempt
    and the events listeners receive quote the vendor's message with the key masked."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "echo_key")
    events = []

    outcome = call_with_fallback(
        PRIMARY, sdk_sync, resolver=roomy, environ=KEYS, on_event=events.append
    )

    assert outcome.served_by == BACKUP
    assert "Incorrect API key provided: ***" in outcome.attempts[0].message
    assert not any(key in repr(outcome.attempts) + repr(events) for key in KEYS.values())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_builtin_client_transport_error_carries_no_key(mode, roomy, chat_server):
    """A dropped connection met by the built-in Client, used on its own, raises a ProviderError
    that reaches no key (httpx's own error keeps the request, Authorization header and all)."""
    provider = roomy.providers[PRIMARY]
    chat_server.set_fault(provider.model, "drop")

    async def acall() -> object:
        async with Client() as client:
            return await client.acall(provider, MESSAGES, {}, KEYS)

    def call() -> object:
        if mode == "async":
            return asyncio.run(acall())
        with Client() as client:
            return client.call(provider, MESSAGES, {}, KEYS)

    with pytest.raises(ProviderError) as caught:
        call()

    assert caught.value.error_class == "connection"
    assert key_found_in(caught.value) == []


class VendorDown(Exception):
    """A user's own error with an HTTP status, and whatever it chose to keep."""

    status_code = 503

    def __init__(self, kept: object) -> None:
        super().__init__("vendor unavailable")
        self.kept = kept


def nested(depth: int) -> object:
    value: object = "nothing secret down here"
    for _ in range(depth):
        value = {"inner": value}
    return value


def test_clean_error_is_chained_as_it_is(roomy):
    """A failure that holds no key is chained unchanged as FallbackExhausted.__cause__."""
    raised = []

    def fail(provider: Provider):
        raised.append(VendorDown(kept={"detail": "overloaded"}))
        raise raised[-1]

    with pytest.raises(FallbackExhausted) as caught:
        call_with_fallback(PRIMARY, fail, resolver=roomy, environ=KEYS)

    assert caught.value.__cause__ is raised[-1]


def test_error_too_deep_to_read_is_replaced(roomy):
    """A failure that reaches more than can be read whole is treated as holding a key: a
    masked ProviderError of the same class and status is chained in its place."""

    def fail(provider: Provider):
        raise VendorDown(kept=nested(50))

    with pytest.raises(FallbackExhausted) as caught:
        call_with_fallback(PRIMARY, fail, resolver=roomy, environ=KEYS)

    cause = caught.value.__cause__
    assert isinstance(cause, ProviderError)
    assert (cause.error_class, cause.status, cause.provider_id) == ("server", 503, BACKUP)
