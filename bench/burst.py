"""The burst section of bench/run.py: concurrent `achat` calls on a cold pool.

Each round starts N calls at once on a pool with no connection open yet, against a fast
loopback server in a process of its own (bench/fast_server.py, aiohttp's web server), and
does the same N requests with aiohttp directly on an equally sized pool. It reports the wall
time, each call's latency (p50, p99) and the longest time the event loop was blocked, read by
a ticker that asks to wake every millisecond and records how late it woke.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL = "deepseek-r1-0528-syn"
MESSAGES = [{"role": "user", "content": "Will it rain tomorrow? Answer yes or no."}]


@dataclass(frozen=True)
class Round:
    wall: float
    p50: float
    p99: float
    lag: float


@contextlib.contextmanager
def fast_server(tmp: Path) -> Iterator[str]:
    """The base URL of a fresh bench/fast_server.py, stopped on exit."""
    port_file = tmp / "fast-server.port"
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, str(HERE / "fast_server.py"), str(port_file)])
    try:
        end = time.monotonic() + 20
        while not (port_file.exists() and port_file.read_text()):
            if time.monotonic() > end or proc.poll() is not None:
                raise RuntimeError("bench/fast_server.py did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text()}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _round(n: int, one: Callable[[], Awaitable[None]]) -> Round:
    loop = asyncio.get_running_loop()
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        while not done:
            asked = loop.time()
            await asyncio.sleep(0.001)
            worst = max(worst, loop.time() - asked - 0.001)

    async def timed() -> float:
        start = time.perf_counter()
        await one()
        return time.perf_counter() - start

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)  # the ticker is running before the burst starts
    start = time.perf_counter()
    latencies = sorted(await asyncio.gather(*(timed() for _ in range(n))))
    wall = time.perf_counter() - start
    done = True
    await tick
    return Round(wall, latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)], worst)


def burst_rounds(base_url: str, n: int, repeat: int) -> tuple[Round, Round]:
    """Median rounds of N concurrent calls through `achat` and through aiohttp directly,
    alternated, each on a cold pool of its own."""
    import aiohttp

    import resolver
    from resolver.http import MAX_CONNECTIONS, Client
    from resolver.testing import ChatServer, make_resolver

    r = make_resolver(
        overrides=[f"providers.{v}.base_url={base_url}" for v in ("synthetic", "together")]
    )
    environ = ChatServer.environ()
    provider = r.providers[MODEL]
    url = base_url + "/chat/completions"
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {environ[provider.api_key_env or '']}",
    }

    async def ours() -> Round:
        async with Client() as pool:

            async def one() -> None:
                outcome = await resolver.achat(
                    MODEL, MESSAGES, environ=environ, client=pool, resolver=r, deadline_s=60
                )
                assert outcome.value.content

            return await _round(n, one)

    async def direct() -> Round:
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=MAX_CONNECTIONS)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one() -> None:
                body = json.dumps({"model": provider.model, "messages": MESSAGES})
                async with session.post(url, data=body, headers=headers) as response:
                    answer = json.loads(await response.read())
                assert answer["choices"][0]["message"]["content"]

            return await _round(n, one)

    mine: list[Round] = []
    theirs: list[Round] = []
    for _ in range(repeat):
        mine.append(asyncio.run(ours()))
        theirs.append(asyncio.run(direct()))
    return _median(mine), _median(theirs)


def _median(rounds: list[Round]) -> Round:
    return Round(
        *(statistics.median(getattr(x, f) for x in rounds) for f in ("wall", "p50", "p99", "lag"))
    )
