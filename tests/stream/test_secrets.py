"""No key value in anything a failed stream leaves behind: the exception, its chain, its
attempts, the log."""

from __future__ import annotations

import logging

import pytest
from conftest import MESSAGES, PRIMARY

from resolver import FallbackExhausted, ResolverError, StreamInterrupted, chat_stream
from resolver.testing import make_resolver

KEY = "sk-live-do-not-leak-0123456789"


def chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        stack += [item.__cause__, item.__context__]
    return seen


@pytest.mark.parametrize(
    ("fault", "after"),
    [("sse_cut", 0), ("sse_cut", 2), ("sse_stall", 0), ("sse_malformed", 2), ("sse_error", 0)],
)
def test_failed_streams_carry_no_key(fault, after, server, chat_server, caplog):
    """Whether a stream fails before or after content, by a cut, a stall, malformed data or an
    error event, neither the error nor anything chained to it, its attempts or the log holds
    the key; no HTTP library exception (which keeps the request's headers) is chained."""
    caplog.set_level(logging.DEBUG, logger="resolver")
    resolver = make_resolver(
        env="prod",
        overrides=[
            *server.overrides(),
            *(f"++providers.{v}.first_token_timeout_s=0.3" for v in ("synthetic", "together")),
        ],
    )
    for provider_id in (PRIMARY, "deepseek-r1"):
        chat_server.set_fault(resolver.providers[provider_id].model, fault, after=after, delay_s=5)
    environ = {"SYNTHETIC_API_KEY": KEY, "TOGETHER_API_KEY": KEY}

    def read() -> None:
        with chat_stream(PRIMARY, MESSAGES, resolver=resolver, environ=environ) as stream:
            for _ in stream:
                pass

    with pytest.raises(ResolverError) as caught:
        read()

    error = caught.value
    assert isinstance(error, StreamInterrupted if after else FallbackExhausted)
    for item in chain(error):
        assert KEY not in str(item)
        assert KEY not in repr(item.args)
        assert not type(item).__module__.startswith(("httpx", "httpcore", "h11"))
    assert all(KEY not in a.message for a in error.attempts)
    assert KEY not in caplog.text
