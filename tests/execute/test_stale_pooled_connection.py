"""A pooled connection the server has given up on costs the call nothing: the request, which
never reached the server's handling, is sent again once on a fresh connection, for `achat` and
for `achat_stream` alike."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from conftest import BACKUP, MESSAGES, PRIMARY

from resolver import FallbackExhausted, Outcome, Resolver, achat, achat_stream
from resolver.http import Client
from resolver.testing import make_resolver

ANSWER = {
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "yes"}}],
}


class OneShotServer:
    """Answers the first request on each connection and keeps the connection open, then hangs
    up without a word when the next request arrives on it: a server whose idle timeout fired
    just as the client reused the connection. With ``drop_all``, it hangs up on every request
    of ``model``, fresh connections included."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.drop_all = False
        self.seen: Counter[str] = Counter()  # answered / dropped, and connections

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.seen["connections"] += 1
        first = True
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = json.loads(await reader.readexactly(length))
                if not first or (self.drop_all and body["model"] == self.model):
                    self.seen["dropped"] += 1
                    return
                first = False
                self.seen["answered"] += 1
                if body.get("stream"):  # the whole event stream, with a length: reusable
                    kind, data = b"text/event-stream", _events(body["model"])
                else:
                    kind, data = (
                        b"application/json",
                        json.dumps({**ANSWER, "model": body["model"]}).encode(),
                    )
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (kind, len(data), data)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


def _events(model: str) -> bytes:
    chunk = {
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [{"index": 0, "delta": {"content": "yes"}, "finish_reason": "stop"}],
    }
    return b"data: %s\n\ndata: [DONE]\n\n" % json.dumps(chunk).encode()


def _resolver(port: int) -> Resolver:
    base = f"http://127.0.0.1:{port}/v1"
    return make_resolver(
        env="prod",
        overrides=[f"providers.{v}.base_url={base}" for v in ("synthetic", "together")],
    ).with_health()


async def _one(r: Resolver, keys: dict[str, str], pool: Client, stream: bool) -> Outcome[Any]:
    if not stream:
        return await achat(PRIMARY, MESSAGES, resolver=r, environ=keys, client=pool)
    async with achat_stream(PRIMARY, MESSAGES, resolver=r, environ=keys, client=pool) as chunks:
        assert "".join([chunk.content async for chunk in chunks]) == "yes"
        assert chunks.outcome is not None
        return chunks.outcome


async def _calls(
    server: OneShotServer, keys: dict[str, str], n: int, stream: bool = False
) -> tuple[Resolver, list[Any]]:
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    r = _resolver(port)
    server.model = r.providers[PRIMARY].model
    results: list[Any] = []
    async with listening, Client() as pool:
        for _ in range(n):  # one after the other: each reuses the connection the last one used
            try:
                results.append(await _one(r, keys, pool, stream))
            except FallbackExhausted as exc:
                results.append(exc)
    return r, results


@pytest.mark.parametrize("stream", [False, True], ids=["achat", "achat_stream"])
def test_request_on_a_connection_the_server_dropped_is_served_by_the_primary(keys, stream):
    """A request that meets a reused connection the server hung up on, before any byte of an
    answer, is sent again on a fresh connection: served by the primary, one attempt, and the
    primary's health is not charged."""
    server = OneShotServer("")
    r, results = asyncio.run(_calls(server, keys, 4, stream))

    for outcome in results:
        assert isinstance(outcome, Outcome)
        assert outcome.served_by == PRIMARY
        assert [(a.provider_id, a.error_class) for a in outcome.attempts] == [(PRIMARY, None)]
    assert r.health.state(PRIMARY).failures == 0
    # Calls 2 and 4 met a dropped connection and were each sent again on a new one.
    assert server.seen == {"connections": 4, "answered": 4, "dropped": 2}


def test_fresh_connection_hung_up_on_is_a_connection_failure_sent_once(keys):
    """A request that a fresh connection's server hangs up on is not sent again: the primary is
    charged one connection failure and the backup serves."""
    server = OneShotServer("")
    server.drop_all = True
    r, results = asyncio.run(_calls(server, keys, 1))

    (outcome,) = results
    assert isinstance(outcome, Outcome), outcome
    assert outcome.served_by == BACKUP
    assert [(a.provider_id, a.error_class) for a in outcome.attempts] == [
        (PRIMARY, "connection"),
        (BACKUP, None),
    ]
    assert r.health.state(PRIMARY).failures == 1
    assert server.seen["dropped"] == 1
