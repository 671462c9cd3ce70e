"""Streaming benchmark (issue 12): what `achat_stream` adds over streaming by hand.

    python bench/bench_stream.py            # about a minute on 2 cores
    python bench/bench_stream.py --quick    # tiny sizes: a smoke run

The chat server runs in a child process (`resolver.testing.ChatServer` on loopback), so the
client side has a core of its own. Sections, each interleaving ours with the baseline:

- time to first token: from the request to the first content chunk, `achat_stream` against
  an aiohttp stream on the same pooled session, parsing SSE and JSON by hand (p50 and
  the milliseconds added at p50; target <= 1 ms);
- chunk throughput: a 2,000-chunk answer read to its end, the same two ways (target <= 1.1x);
- bursts of concurrent streams: a quarter of the primaries failing before the first token (all
  must be served, by the backup where the primary failed), and a quarter cut after two chunks
  (every one must end in StreamInterrupted): 0 lost, 0 reported as success after a break.

Prints a Markdown table (ratios against the baseline of the same run) and the burst counts;
exits 1 if a stream was lost or reported as a success after a break (ratios never fail it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402
from run import Row, render  # noqa: E402

import resolver  # noqa: E402
from resolver.http import Client  # noqa: E402
from resolver.testing import ChatServer, make_resolver  # noqa: E402

MESSAGES = [{"role": "user", "content": "Will it rain tomorrow?"}]
SHORT = "Yes, it will rain tomorrow."
LONG = " ".join(f"w{i}" for i in range(2_000))
TTFT_MODEL = "deepseek-r1"  # no faults
LONG_MODEL = "deepseek-v3-0324-syn"  # answers LONG
BEFORE = "deepseek-r1-0528-syn"  # a quarter fail before the first token; backup deepseek-r1
CUT = "kimi-k2-thinking-syn"  # a quarter cut after two chunks; backup kimi-k2-instruct

# The child: a ChatServer with the replies and faults above; prints its port, serves until
# its stdin closes.
SERVER = """
import sys
from resolver.testing import ChatServer, make_resolver
r = make_resolver(env="prod")
m = {k: p.model for k, p in r.providers.items()}
server = ChatServer(seed=12).start()
for model in m.values():
    server.reply(model, %(short)r)
server.reply(m[%(long_id)r], %(long)r)
server.set_fault(m[%(before)r], "sse_error", rate=0.25)
server.set_fault(m[%(cut)r], "sse_cut", after=2, rate=0.25)
print(server.port, flush=True)
sys.stdin.read()
"""


def start_server() -> tuple[subprocess.Popen[str], int]:
    code = SERVER % {
        "short": SHORT,
        "long": LONG,
        "long_id": LONG_MODEL,
        "before": BEFORE,
        "cut": CUT,
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    return child, int(child.stdout.readline())


async def direct(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes
) -> tuple[float, int]:
    """Stream by hand on the same aiohttp session: (seconds to the first content chunk, chunks
    read)."""
    began = time.perf_counter()
    first = 0.0
    chunks = 0
    async with session.post(url, headers=headers, data=body) as response:
        response.raise_for_status()
        async for raw in response.content:
            line = raw.decode().rstrip("\r\n")
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                continue  # read on to the end, as achat_stream does, so the connection pools
            chunk = json.loads(data)
            chunks += 1
            choices = chunk.get("choices")
            if not first and choices and choices[0]["delta"].get("content"):
                first = time.perf_counter() - began
    return first, chunks


async def ours(
    r: resolver.Resolver, model_id: str, pool: Client, environ: dict[str, str]
) -> tuple[float, int]:
    began = time.perf_counter()
    first = 0.0
    chunks = 0
    async with resolver.achat_stream(
        model_id, MESSAGES, resolver=r, environ=environ, client=pool
    ) as stream:
        async for chunk in stream:
            chunks += 1
            if not first and chunk.content:
                first = time.perf_counter() - began
    return first, chunks


async def compare(
    r: resolver.Resolver, model_id: str, pool: Client, environ: dict[str, str], rounds: int
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Interleaved rounds: (our TTFTs, direct TTFTs, our totals, direct totals)."""
    provider = r.providers[model_id]
    client = await pool.async_client()
    url = provider.base_url + "/chat/completions"
    headers = {
        "Authorization": f"Bearer {environ[provider.api_key_env or '']}",
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
    }
    body = json.dumps(
        {
            "stream_options": {"include_usage": True},
            "model": provider.model,
            "messages": MESSAGES,
            "stream": True,
        }
    ).encode()
    ttft: tuple[list[float], list[float]] = ([], [])
    total: tuple[list[float], list[float]] = ([], [])
    for i in range(rounds + 3):  # the first rounds warm the pool up
        for j, fn in enumerate(
            (lambda: ours(r, model_id, pool, environ), lambda: direct(client, url, headers, body))
        ):
            began = time.perf_counter()
            first, _ = await fn()
            if i >= 3:
                ttft[j].append(first)
                total[j].append(time.perf_counter() - began)
    return ttft[0], ttft[1], total[0], total[1]


async def burst(
    r: resolver.Resolver, model_id: str, pool: Client, environ: dict[str, str], n: int
) -> Counter[str]:
    """n concurrent streams: how each ended."""
    expected = {pid: SHORT for pid in r.providers}

    async def one() -> str:
        text: list[str] = []
        try:
            async with resolver.achat_stream(
                model_id, MESSAGES, resolver=r, environ=environ, client=pool
            ) as stream:
                async for chunk in stream:
                    text.append(chunk.content or "")
        except resolver.StreamInterrupted as exc:
            return "interrupted" if exc.partial == "".join(text) else "interrupted, wrong partial"
        except Exception as exc:
            return f"lost ({type(exc).__name__})"
        outcome = stream.outcome
        if outcome is None:
            return "lost (no outcome)"
        if outcome.value.content != expected[outcome.served_by] or "".join(text) != SHORT:
            return "success after a break"
        return "served by backup" if outcome.fallback_used else "served by primary"

    return Counter(await asyncio.gather(*(one() for _ in range(n))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args(argv)
    rounds, long_rounds, n = (10, 3, 100) if args.quick else (300, 30, 1_000)
    child, port = start_server()
    try:
        base = f"http://127.0.0.1:{port}/v1"
        overrides = [f"providers.{v}.base_url={base}" for v in ("synthetic", "together")]
        # Health is not what this measures: keep the failing quarter from opening the breaker.
        r = make_resolver(env="prod", overrides=[*overrides, "policy.health.enabled=false"])
        environ = ChatServer.environ()

        async def measure() -> tuple[
            tuple[list[float], ...], tuple[list[float], ...], Counter[str], Counter[str]
        ]:
            async with Client() as pool:
                short = await compare(r, TTFT_MODEL, pool, environ, rounds)
                long = await compare(r, LONG_MODEL, pool, environ, long_rounds)
                before = await burst(r, BEFORE, pool, environ, n)
                cut = await burst(r, CUT, pool, environ, n)
            return short, long, before, cut

        short, long, before, cut = asyncio.run(measure())
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)

    p50 = statistics.median
    added = p50(short[0]) - p50(short[1])
    rows = [
        Row("stream", "time to first token, `achat_stream`, p50", p50(short[0]),
            "aiohttp stream + SSE/JSON by hand, p50", p50(short[1]), "ms"),
        Row("stream", "time to first token, `achat_stream`, p50", p50(short[0]),
            "the same by hand, p50, + 1 ms", p50(short[1]) + 0.001, "ms", "<= +1 ms", 1.0),
        Row("stream", f"{LONG.count(' ') + 1:,}-chunk answer read to the end, p50", p50(long[2]),
            "the same by hand", p50(long[3]), "ms", "<= 1.10x", 1.10),
    ]  # fmt: skip
    print(render(rows))
    for name, counts in (
        ("a quarter failing before the first token", before),
        ("a quarter cut after two chunks", cut),
    ):
        shown = ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items()))
        print(f"- {n:,} concurrent streams, {name}: {shown}")
    lost = sum(v for k, v in (before + cut).items() if k.startswith("lost"))
    broken = (before + cut)["success after a break"] + (before + cut)["interrupted, wrong partial"]
    print(f"- lost: {lost}; reported as success after a break (or a wrong partial): {broken}")
    print(f"- raw added TTFT at p50: {added * 1000:+.3f} ms (negative: within noise)")
    return 1 if lost or broken else 0  # a correctness failure, unlike a missed ratio


if __name__ == "__main__":
    raise SystemExit(main())
