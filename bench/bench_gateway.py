"""Gateway benchmark (issue 13): what `fallback-resolver serve` adds in front of an upstream.

    python bench/bench_gateway.py            # about a minute on 2 cores
    python bench/bench_gateway.py --quick    # tiny sizes: a smoke run

The upstream and the gateway each run in a process of their own, and the client (aiohttp) in
this one. Sections:

- overhead: completions at 200 concurrent, straight to a fast upstream (bench/fast_server.py)
  against the same through the gateway, interleaved in rounds; p50 and p99 and the milliseconds
  added (targets: +1 ms at p50, +5 ms at p99), and the gateway's throughput;
- LiteLLM's proxy: not measured here yet; the section prints a note (issue 13 asks for the
  throughput ratio against it when it is installed);
- a burst of 1,000 concurrent completions through the gateway with half the primaries failing
  (resolver.testing.ChatServer, a seeded 50% of 500s): 0 lost, and each answer's attribution
  (the x-fallback-served-by header and the body's model) checked against the upstream's own
  count of the requests each model served.

Prints a Markdown table (ratios against the baseline of the same run) and the burst counts;
exits 1 if a request was lost or misattributed (a missed ratio never fails it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402
from run import Row, render  # noqa: E402

from resolver.snapshot import write  # noqa: E402
from resolver.testing import ChatServer, make_resolver  # noqa: E402

MESSAGES = [{"role": "user", "content": "Will it rain tomorrow?"}]
PRIMARY, BACKUP = "deepseek-r1-0528-syn", "deepseek-r1"
CONCURRENT = 200

# The burst's upstream: a ChatServer whose primary fails half its requests (seeded); prints its
# port, and when its stdin closes, the requests it saw per model string and how many it failed.
SERVER = """
import json, sys
from collections import Counter
from resolver.testing import ChatServer, make_resolver
r = make_resolver(env="prod")
server = ChatServer(seed=13).start()
server.set_fault(r.providers[%(primary)r].model, "server", rate=0.5)
print(server.port, flush=True)
sys.stdin.read()
seen = Counter(q.model for q in server.requests)
failed = Counter(q.model for q in server.requests if q.fault is not None)
print(json.dumps({"seen": seen, "failed": failed}), flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **ChatServer.environ()}


def fast_upstream(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port_file = tmp / "port"
    child = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fast_server.py"), str(port_file)], env=child_env()
    )
    wait_until(lambda: port_file.exists() and port_file.read_text() != "")
    return child, f"http://127.0.0.1:{port_file.read_text()}/v1"


def gateway(snapshot: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = ["-m", "resolver", "serve", "--snapshot", str(snapshot), "--port", str(port)]
    with log.open("wb") as err:
        child = subprocess.Popen([sys.executable, *args], env=child_env(), stderr=err)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(url + "/healthz"))
    return child, url + "/v1"


def answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_until(condition: object, seconds: float = 30.0) -> None:
    give_up = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > give_up:
            raise RuntimeError("a benchmark process did not start")
        time.sleep(0.05)


def snapshot_for(base_url: str, path: Path) -> None:
    overrides = [f"providers.{v}.base_url={base_url}" for v in ("synthetic", "together")]
    # Health is not what this measures: keep the failing half from opening the breaker, so that
    # every request tries the primary first and the upstream's counts are exact.
    write(make_resolver(env="prod", overrides=[*overrides, "policy.health.enabled=false"]), path)


async def timed(session: aiohttp.ClientSession, url: str, body: dict[str, object]) -> float:
    began = time.perf_counter()
    async with session.post(url, json=body) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}")
    return time.perf_counter() - began


async def overhead(
    direct_url: str, gateway_url: str, model: str, rounds: int
) -> tuple[list[float], list[float], float, float]:
    """Latencies at CONCURRENT in flight, direct and through the gateway, alternating rounds;
    and each side's requests per second."""
    direct: list[float] = []
    through: list[float] = []
    spent = {"direct": 0.0, "gateway": 0.0}
    connector = aiohttp.TCPConnector(limit=CONCURRENT)
    async with aiohttp.ClientSession(connector=connector) as session:
        for n in range(rounds + 1):  # round 0 warms both pools up and is not counted
            for name, url, body, into in (
                ("direct", direct_url, {"model": model, "messages": MESSAGES}, direct),
                ("gateway", gateway_url, {"model": PRIMARY, "messages": MESSAGES}, through),
            ):
                began = time.perf_counter()
                seconds = await asyncio.gather(
                    *(timed(session, url + "/chat/completions", body) for _ in range(CONCURRENT))
                )
                if n:
                    spent[name] += time.perf_counter() - began
                    into.extend(seconds)
    total = rounds * CONCURRENT
    return direct, through, total / spent["direct"], total / spent["gateway"]


async def burst(gateway_url: str, n: int) -> Counter[str]:
    """n completions at once; counts of who served, by header and by body, and the lost."""
    counts: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=n)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> None:
            body = {"model": PRIMARY, "messages": MESSAGES}
            try:
                async with session.post(gateway_url + "/chat/completions", json=body) as response:
                    data = await response.json()
                    served = response.headers.get("x-fallback-served-by")
                    if response.status != 200:
                        counts[f"lost: HTTP {response.status}"] += 1
                    elif data.get("model") != served:
                        counts["misattributed: body and header differ"] += 1
                    else:
                        counts[f"served by {served}"] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                counts[f"lost: {type(exc).__name__}"] += 1

        await asyncio.gather(*(one() for _ in range(n)))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args(argv)
    rounds, n = (2, 100) if args.quick else (20, 1_000)
    r = make_resolver(env="prod")
    primary_model, backup_model = r.providers[PRIMARY].model, r.providers[BACKUP].model
    children: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        try:
            upstream, upstream_url = fast_upstream(tmp)
            children.append(upstream)
            snapshot_for(upstream_url, tmp / "fast.json")
            served, gateway_url = gateway(tmp / "fast.json", tmp / "fast.log")
            children.append(served)
            direct, through, direct_rps, gateway_rps = asyncio.run(
                overhead(upstream_url, gateway_url, primary_model, rounds)
            )
        finally:
            for child in children:
                child.terminate()
                child.wait(timeout=30)
        children.clear()

        chat = subprocess.Popen(
            [sys.executable, "-c", SERVER % {"primary": PRIMARY}],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        assert chat.stdin is not None
        assert chat.stdout is not None
        try:
            chat_url = f"http://127.0.0.1:{int(chat.stdout.readline())}/v1"
            snapshot_for(chat_url, tmp / "burst.json")
            served, gateway_url = gateway(tmp / "burst.json", tmp / "burst.log")
            try:
                counts = asyncio.run(burst(gateway_url, n))
            finally:
                served.terminate()
                served.wait(timeout=30)
        finally:
            chat.stdin.close()
            upstream_counts = json.loads(chat.stdout.readline())
            chat.wait(timeout=30)

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1]

    p50 = statistics.median
    rows = [
        Row("gateway", f"completion at {CONCURRENT} concurrent, p50", p50(through),
            "straight to the upstream, p50, + 1 ms", p50(direct) + 0.001, "ms", "<= +1 ms", 1.0),
        Row("gateway", f"completion at {CONCURRENT} concurrent, p99", pct(through, 99),
            "straight to the upstream, p99, + 5 ms", pct(direct, 99) + 0.005, "ms", "<= +5 ms",
            1.0),
    ]  # fmt: skip
    print(render(rows))
    print(
        f"- added at p50: {(p50(through) - p50(direct)) * 1000:+.2f} ms; at p99: "
        f"{(pct(through, 99) - pct(direct, 99)) * 1000:+.2f} ms "
        f"(direct p50 {p50(direct) * 1000:.2f} ms, p99 {pct(direct, 99) * 1000:.2f} ms)"
    )
    print(f"- throughput: gateway {gateway_rps:,.0f} requests/s, upstream alone {direct_rps:,.0f}")
    try:
        import litellm  # noqa: F401
    except ImportError:
        print("- LiteLLM's proxy: skipped, LiteLLM is not installed (pip install litellm)")
    else:
        print("- LiteLLM's proxy: installed, but this benchmark does not drive it yet")
    shown = ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items()))
    print(f"- {n:,} concurrent completions, half the primaries failing: {shown}")
    seen, failed = Counter(upstream_counts["seen"]), Counter(upstream_counts["failed"])
    expected = {
        f"served by {PRIMARY}": seen[primary_model] - failed[primary_model],
        f"served by {BACKUP}": seen[backup_model] - failed[backup_model],
    }
    lost = sum(v for k, v in counts.items() if not k.startswith("served by"))
    wrong = {k: (counts[k], v) for k, v in expected.items() if counts[k] != v}
    print(
        f"- upstream counts: {primary_model}: {seen[primary_model]:,} requests, "
        f"{failed[primary_model]:,} failed; {backup_model}: {seen[backup_model]:,} requests"
    )
    print(f"- lost: {lost}; attribution that disagrees with the upstream's counts: {wrong or 0}")
    return 1 if lost or wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
