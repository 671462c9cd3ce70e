"""The burst section of bench/run.py: concurrent `achat` calls on a cold pool.

Each round starts N calls at once on a pool with no connection open yet, against a fast
loopback server in a process of its own (bench/fast_server.py, aiohttp's web server), and
does the same N requests with aiohttp directly on an equally sized pool, once as they come and
once behind an ``asyncio.Semaphore`` of the pool's size (what a careful hand-written client
does: no more requests begun than there are connections). It reports the wall
time, each call's latency (p50, p99) and the longest time the event loop was blocked, read by
a ticker that asks to wake every millisecond and records how late it woke. Each side then
idles past its pool's keep-alive and does the same again, on a pool gone cold.

Three rows show what is not either client's: the harness alone (the gather of N tasks that only
yield, with the same ticker), the longest pause of Python's garbage collector in each round
(read from ``gc.callbacks``; a full collection walks every object of the process, and a burst
of thousands of calls in flight sets one off), and the longest block less the collector's
pauses inside it (where a full collection lands, in the harness's turn that creates the tasks
or elsewhere, is the process's, not the calls'). On a machine shared with other work the
longest block also holds time the system gave to other processes, so it is shown beside the
CPU time the loop's thread spent in that stretch (``time.thread_time``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL = "deepseek-r1-0528-syn"
MESSAGES = [{"role": "user", "content": "Will it rain tomorrow? Answer yes or no."}]
KEEPALIVE_S = 2.0
"""Both sides' pool keep-alive: short, so that the idle gap between rounds stays short."""


@dataclass(frozen=True)
class Round:
    wall: float
    p50: float
    p99: float
    lag: float
    busy: float
    """The most CPU time the loop's thread spent between two ticks of the ticker: the longest
    block less the time the system gave to other processes."""
    gc: float
    """The longest garbage-collector pause during the round, in CPU time."""
    lag_less_gc: float
    """The longest block less the collector's pauses inside it: what the calls and the harness
    held the loop for, wherever CPython's collector happened to run."""


@dataclass(frozen=True)
class Burst:
    """Median rounds of one burst size."""

    ours: Round
    theirs: Round
    ours_idle: Round
    """After an idle gap longer than the pool's keep-alive."""
    theirs_idle: Round
    gated: Round
    """aiohttp behind an asyncio.Semaphore of the pool's size."""
    gated_idle: Round
    harness: Round
    """N tasks that only yield: what the harness itself costs."""


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
    worst = busy = less_gc = 0.0
    done = False
    collecting = [0.0, 0.0, 0.0]  # since, longest, all so far

    def collector(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[0] = time.thread_time()
        else:
            pause = time.thread_time() - collecting[0]
            collecting[1] = max(collecting[1], pause)
            collecting[2] += pause

    async def ticker() -> None:
        nonlocal worst, busy, less_gc
        while not done:
            asked, cpu, collected = loop.time(), time.thread_time(), collecting[2]
            await asyncio.sleep(0.001)
            lag = loop.time() - asked - 0.001
            worst = max(worst, lag)
            busy = max(busy, time.thread_time() - cpu)
            less_gc = max(less_gc, lag - (collecting[2] - collected))

    async def timed() -> float:
        start = time.perf_counter()
        await one()
        return time.perf_counter() - start

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)  # the ticker is running before the burst starts
    gc.callbacks.append(collector)
    start = time.perf_counter()
    try:
        latencies = sorted(await asyncio.gather(*(timed() for _ in range(n))))
    finally:
        wall = time.perf_counter() - start
        gc.callbacks.remove(collector)
    done = True
    await tick
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    return Round(wall, p50, p99, worst, busy, collecting[1], less_gc)


def burst_rounds(base_url: str, n: int, repeat: int) -> Burst:
    """Median rounds of N concurrent calls through `achat` and through aiohttp directly,
    alternated, each on a cold pool of its own and again after an idle gap; and of the
    harness alone."""
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

    async def ours() -> tuple[Round, Round]:
        async with Client(keepalive_s=KEEPALIVE_S) as pool:

            async def one() -> None:
                outcome = await resolver.achat(
                    MODEL, MESSAGES, environ=environ, client=pool, resolver=r, deadline_s=60
                )
                assert outcome.value.content

            return await _cold_then_idle(n, one)

    async def direct(gated: bool) -> tuple[Round, Round]:
        connector = aiohttp.TCPConnector(
            limit=MAX_CONNECTIONS, limit_per_host=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S
        )
        gate = asyncio.Semaphore(MAX_CONNECTIONS) if gated else contextlib.nullcontext()
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one() -> None:
                async with gate:
                    body = json.dumps({"model": provider.model, "messages": MESSAGES})
                    async with session.post(url, data=body, headers=headers) as response:
                        answer = json.loads(await response.read())
                assert answer["choices"][0]["message"]["content"]

            return await _cold_then_idle(n, one)

    sides: dict[str, Callable[[], Coroutine[None, None, tuple[Round, Round]]]] = {
        "ours": ours,
        "theirs": lambda: direct(gated=False),
        "gated": lambda: direct(gated=True),
    }
    rounds: dict[str, list[Round]] = {f: [] for f in Burst.__dataclass_fields__}
    for _ in range(repeat):
        for side, run in sides.items():
            cold, idle = asyncio.run(run())
            rounds[side].append(cold)
            rounds[f"{side}_idle"].append(idle)
        rounds["harness"].append(asyncio.run(_round(n, lambda: asyncio.sleep(0))))
    return Burst(**{f: _median(x) for f, x in rounds.items()})


async def _cold_then_idle(n: int, one: Callable[[], Awaitable[None]]) -> tuple[Round, Round]:
    cold = await _round(n, one)
    await asyncio.sleep(KEEPALIVE_S * 1.5)  # every pooled connection has expired
    return cold, await _round(n, one)


def _median(rounds: list[Round]) -> Round:
    return Round(
        *(statistics.median(getattr(x, f) for x in rounds) for f in Round.__dataclass_fields__)
    )
