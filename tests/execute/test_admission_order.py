"""A burst larger than the calls one loop turn lets start is sent in the order it was made."""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import PRIMARY

from resolver import Outcome, achat
from resolver.http import STARTS_PER_TURN, Client

CALLS = 2 * STARTS_PER_TURN + 50  # starts over three loop turns, at least


def test_burst_through_one_connection_is_sent_first_come_first_served(roomy, chat_server, keys):
    """Calls made at once through a pool of one connection reach the server one at a time, in
    the order they were made, and each is answered."""
    r = roomy.with_health()

    async def main() -> list[Any]:
        async with Client(max_connections=1) as pool:
            calls = [
                achat(PRIMARY, [{"role": "user", "content": f"call {i}"}], resolver=r,
                      environ=keys, client=pool)
                for i in range(CALLS)
            ]  # fmt: skip
            return await asyncio.wait_for(asyncio.gather(*calls), 60)

    outcomes = asyncio.run(main())

    assert all(isinstance(o, Outcome) and o.served_by == PRIMARY for o in outcomes)
    seen = [req.body["messages"][0]["content"] for req in chat_server.requests]
    assert seen == [f"call {i}" for i in range(CALLS)]
