"""Gateway benchmark (issue 13): what `fallback-resolver serve` adds in front of an upstream.

    python bench/bench_gateway.py                 # about two minutes on 2 cores
    python bench/bench_gateway.py --quick         # tiny sizes: a smoke run
    python bench/bench_gateway.py --workers 2     # the gateway with two worker processes

The upstream (bench/fast_server.py), the gateway and the client (aiohttp, in this process) are
processes of their own. When there are more cores than gateway workers, the gateway (and
LiteLLM's proxy) runs on cores of its own, one per worker, and the client and the upstreams on
the others, as on a deployment, where a gateway does not take its upstream's cores;
--shared-cores puts every process on every core. Sections:

- overhead, below saturation: 200 completions in flight against an upstream that answers after
  a fixed delay standing for a fast model's short answer (--delay-ms, default 200 ms), so about
  200/delay requests a second are offered, the same straight to the upstream and through the
  gateway; the 200 clients start spread over one delay, so that requests arrive evenly, not in
  waves of 200. Rounds alternate between the two ways; p50 and p99 each way, and the
  milliseconds the gateway adds (targets: +1 ms at p50, +5 ms at p99);
- one completion at a time, straight and through the gateway: what the gateway adds to a
  request with nothing queued;
- throughput at saturation: 200 closed-loop clients against the upstream answering at once,
  straight and through the gateway, interleaved in rounds: requests per second each way, and
  the gateway's CPU per completion (one worker) read from /proc; a reference, not a target;
- LiteLLM's proxy (`litellm --config`, one worker, the same primary and backup on the same
  upstream, with the same fallback edge): requests per second at saturation, interleaved with
  the gateway's (target: ours at least 3x); skipped with a note when there is no `litellm`
  command (`--litellm PATH`, else the one on PATH; it may live in a venv of its own);
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
import secrets
import shutil
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
KEY = "sk-" + secrets.token_hex(32)
"""The client key of this run: the gateway's and LiteLLM's master key, so both check one."""

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
    env = {**os.environ, "PYTHONPATH": str(ROOT), **ChatServer.environ()}
    return env | {"RESOLVER_GATEWAY_KEYS": KEY}


def fast_upstream(tmp: Path, delay_ms: float = 0.0) -> tuple[subprocess.Popen[bytes], str]:
    port_file = tmp / f"port-{delay_ms:g}"
    script = str(ROOT / "bench" / "fast_server.py")
    child = subprocess.Popen(
        [sys.executable, script, str(port_file), "--delay-ms", str(delay_ms)], env=child_env()
    )
    wait_until(lambda: port_file.exists() and port_file.read_text() != "")
    return child, f"http://127.0.0.1:{port_file.read_text()}/v1"


GATEWAY_CORES: set[int] | None = None
"""The cores the gateway (and LiteLLM's proxy) run on, the others being the client's and the
upstreams'; None: every process on every core (--shared-cores, or too few cores)."""


def on_gateway_cores() -> None:
    """Run in a child before it starts the gateway (or the proxy): it, and every worker or
    thread it starts, keeps to GATEWAY_CORES."""
    if GATEWAY_CORES is not None:
        os.sched_setaffinity(0, GATEWAY_CORES)


def split_cores(workers: int) -> None:
    """Give the gateway cores of its own, one per worker (the last ones), and this process, the
    client, the rest, which the upstreams it starts inherit. A deployed gateway does not share
    its cores with its clients and upstreams; on one machine, without this, part of what is
    measured as the gateway's latency is the upstream waiting for a core the gateway holds."""
    global GATEWAY_CORES
    if not hasattr(os, "sched_setaffinity"):  # Linux only
        return
    cores = sorted(os.sched_getaffinity(0))
    if workers >= len(cores):
        return
    GATEWAY_CORES = set(cores[-workers:])
    os.sched_setaffinity(0, set(cores[:-workers]))


def gateway(snapshot: Path, log: Path, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = ["-m", "resolver", "serve", "--snapshot", str(snapshot), "--port", str(port)]
    args += ["--workers", str(workers)]
    with log.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, *args], env=child_env(), stderr=err, preexec_fn=on_gateway_cores
        )
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


# LiteLLM's proxy given the same two models and fallback edge, on the same upstream.
LITELLM_CONFIG = """
model_list:
  - model_name: %(primary)s
    litellm_params: {model: "openai/%(primary_model)s", api_base: "%(base)s", api_key: test-key}
  - model_name: %(backup)s
    litellm_params: {model: "openai/%(backup_model)s", api_base: "%(base)s", api_key: test-key}
router_settings:
  fallbacks: [{"%(primary)s": ["%(backup)s"]}]
"""


def litellm_proxy(binary: str, base_url: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    r = make_resolver(env="prod")
    config = tmp / "litellm.yaml"
    config.write_text(
        LITELLM_CONFIG
        % {
            "primary": PRIMARY,
            "backup": BACKUP,
            "primary_model": r.providers[PRIMARY].model,
            "backup_model": r.providers[BACKUP].model,
            "base": base_url,
        }
    )
    port = free_port()
    env = {
        **child_env(),
        "LITELLM_MASTER_KEY": KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
    }
    with (tmp / "litellm.log").open("wb") as log:
        child = subprocess.Popen(
            [binary, "--config", str(config), "--port", str(port), "--num_workers", "1"],
            env=env,
            stdout=log,
            stderr=log,
            preexec_fn=on_gateway_cores,
        )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(url + "/health/liveliness"), seconds=180)
    return child, url + "/v1"


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


def cpu_seconds(pid: int) -> float:
    """The user and system CPU a process has used (Linux: /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def paced(
    session: aiohttp.ClientSession, url: str, model: str, seconds: float, delay_s: float
) -> tuple[list[float], float]:
    """CONCURRENT clients, each sending its next completion when its last is answered, for
    ``seconds``; they start ``delay_s / CONCURRENT`` apart so that requests arrive evenly.
    The latencies of the requests started after the first ``delay_s`` (all clients busy), and
    the requests per second."""
    body = {"model": model, "messages": MESSAGES}
    latencies: list[float] = []
    began = time.perf_counter()
    counted_from, stop = began + delay_s, began + seconds

    async def client(i: int) -> None:
        await asyncio.sleep(i * delay_s / CONCURRENT)
        while (now := time.perf_counter()) < stop:
            took = await timed(session, url + "/chat/completions", body)
            if now >= counted_from:
                latencies.append(took)

    await asyncio.gather(*(client(i) for i in range(CONCURRENT)))
    return latencies, len(latencies) / (stop - counted_from)  # those started in that window


async def below_saturation(
    base_url: str, base_model: str, gateway_url: str, rounds: int, seconds: float, delay_s: float
) -> tuple[list[float], list[float], float, float]:
    """Latencies at CONCURRENT in flight against the delayed upstream, straight and through the
    gateway, alternating rounds; and each way's requests per second."""
    direct: list[float] = []
    through: list[float] = []
    rates: list[list[float]] = [[], []]
    connector = aiohttp.TCPConnector(limit=CONCURRENT)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        for n in range(rounds + 1):  # round 0 warms both pools up and is not counted
            for side, url, model, into in (
                (0, base_url, base_model, direct),
                (1, gateway_url, PRIMARY, through),
            ):
                latencies, rate = await paced(session, url, model, seconds, delay_s)
                if n:
                    into.extend(latencies)
                    rates[side].append(rate)
    return direct, through, statistics.mean(rates[0]), statistics.mean(rates[1])


async def saturated(
    base_url: str, base_model: str, gateway_url: str, rounds: int, gateway_pid: int | None
) -> tuple[float, float, float | None]:
    """Requests per second of CONCURRENT closed-loop clients, straight and through the gateway,
    alternating rounds of CONCURRENT requests each; and the gateway's CPU seconds per request
    (when ``gateway_pid`` is its one serving process)."""
    spent = [0.0, 0.0]
    cpu = 0.0
    connector = aiohttp.TCPConnector(limit=CONCURRENT)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        for n in range(rounds + 1):  # round 0 warms both pools up and is not counted
            for side, url, model in ((0, base_url, base_model), (1, gateway_url, PRIMARY)):
                body = {"model": model, "messages": MESSAGES}
                began, cpu_began = time.perf_counter(), cpu_of(gateway_pid)
                await asyncio.gather(
                    *(timed(session, url + "/chat/completions", body) for _ in range(CONCURRENT))
                )
                if n:
                    spent[side] += time.perf_counter() - began
                    if side:
                        cpu += cpu_of(gateway_pid) - cpu_began
    total = rounds * CONCURRENT
    per_request = cpu / total if gateway_pid is not None else None
    return total / spent[0], total / spent[1], per_request


async def one_at_a_time(
    base_url: str, base_model: str, gateway_url: str, rounds: int, per_round: int
) -> tuple[list[float], list[float]]:
    """Latencies of one completion at a time (nothing queued anywhere), straight to the
    upstream answering at once and through the gateway, alternating rounds."""
    direct: list[float] = []
    through: list[float] = []
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for n in range(rounds + 1):  # round 0 warms both up and is not counted
            for url, model, into in (
                (base_url, base_model, direct),
                (gateway_url, PRIMARY, through),
            ):
                body = {"model": model, "messages": MESSAGES}
                took = [
                    await timed(session, url + "/chat/completions", body) for _ in range(per_round)
                ]
                if n:
                    into.extend(took)
    return direct, through


def cpu_of(pid: int | None) -> float:
    return cpu_seconds(pid) if pid is not None else 0.0


async def burst(gateway_url: str, n: int) -> Counter[str]:
    """n completions at once; counts of who served, by header and by body, and the lost."""
    counts: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=n)
    timeout = aiohttp.ClientTimeout(total=120)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers
    ) as session:

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
    parser.add_argument("--litellm", metavar="PATH", help="LiteLLM's `litellm` command")
    parser.add_argument(
        "--delay-ms",
        type=float,
        default=200.0,
        help="the upstream's answer time in the overhead section (default: 200)",
    )
    parser.add_argument("--workers", type=int, default=1, help="the gateway's worker processes")
    parser.add_argument(
        "--shared-cores",
        action="store_true",
        help="run the gateway on the same cores as the client and the upstreams (by default it "
        "gets cores of its own, one per worker, when there are more cores than workers)",
    )
    args = parser.parse_args(argv)
    if not args.shared_cores:
        split_cores(args.workers)
    litellm = args.litellm or shutil.which("litellm")
    peer: tuple[float, float] | None = None
    delay_s = args.delay_ms / 1000
    rounds, seconds, n = (2, 1.0, 100) if args.quick else (20, 2.0, 1_000)
    paced_rounds = 2 if args.quick else 8
    r = make_resolver(env="prod")
    primary_model, backup_model = r.providers[PRIMARY].model, r.providers[BACKUP].model
    children: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        try:
            upstream, upstream_url = fast_upstream(tmp)
            slow, slow_url = fast_upstream(tmp, args.delay_ms)
            children += [upstream, slow]
            snapshot_for(slow_url, tmp / "slow.json")
            served, gateway_url = gateway(tmp / "slow.json", tmp / "slow.log", args.workers)
            children.append(served)
            direct, through, direct_paced, gateway_paced = asyncio.run(
                below_saturation(
                    slow_url, primary_model, gateway_url, paced_rounds, seconds, delay_s
                )
            )
            snapshot_for(upstream_url, tmp / "fast.json")
            served, gateway_url = gateway(tmp / "fast.json", tmp / "fast.log", args.workers)
            children.append(served)
            pid = served.pid if args.workers == 1 else None
            direct_rps, gateway_rps, cpu = asyncio.run(
                saturated(upstream_url, primary_model, gateway_url, rounds, pid)
            )
            alone = asyncio.run(
                one_at_a_time(upstream_url, primary_model, gateway_url, paced_rounds, 250)
            )
            if litellm is not None:
                proxy, proxy_url = litellm_proxy(litellm, upstream_url, tmp)
                children.append(proxy)
                litellm_rps, ours_rps, _ = asyncio.run(
                    saturated(proxy_url, PRIMARY, gateway_url, rounds, None)
                )
                peer = (ours_rps, litellm_rps)
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
            served, gateway_url = gateway(tmp / "burst.json", tmp / "burst.log", args.workers)
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
    offered = f"{CONCURRENT} in flight, upstream answering in {args.delay_ms:g} ms"
    rows = [
        Row("gateway", f"completion, {offered}, p50", p50(through),
            "straight to the upstream, p50, + 1 ms", p50(direct) + 0.001, "ms", "<= +1 ms", 1.0),
        Row("gateway", f"completion, {offered}, p99", pct(through, 99),
            "straight to the upstream, p99, + 5 ms", pct(direct, 99) + 0.005, "ms", "<= +5 ms",
            1.0),
        # Requests per second as seconds per 1,000 requests, so that lower is better like the
        # other rows and the ratio reads as ours against theirs.
        Row("gateway", f"1,000 completions at saturation ({CONCURRENT} closed-loop clients)",
            1000 / gateway_rps, "the upstream alone, same clients", 1000 / direct_rps, "s",
            "none (a reference)"),
    ]  # fmt: skip
    if peer is not None:
        rows.append(
            Row("gateway", f"1,000 completions at saturation ({CONCURRENT} closed-loop clients)",
                1000 / peer[0], "LiteLLM proxy, same config and upstream", 1000 / peer[1], "s",
                ">= 3x throughput", 1 / 3)
        )  # fmt: skip
    print(render(rows))
    workers = f"{args.workers} worker{'s' if args.workers > 1 else ''}"
    if GATEWAY_CORES is None:
        print("- cores: every process on every core")
    else:
        rest = sorted(os.sched_getaffinity(0))
        print(
            f"- cores: the gateway on {sorted(GATEWAY_CORES)}, the client and upstreams on {rest}"
        )
    print(
        f"- below saturation ({offered}: about {CONCURRENT / delay_s:,.0f} requests/s offered; "
        f"served {direct_paced:,.0f}/s straight, {gateway_paced:,.0f}/s through the gateway, "
        f"{workers}): added at p50 {(p50(through) - p50(direct)) * 1000:+.2f} ms, at p99 "
        f"{(pct(through, 99) - pct(direct, 99)) * 1000:+.2f} ms (straight p50 "
        f"{p50(direct) * 1000:.2f} ms, p99 {pct(direct, 99) * 1000:.2f} ms; {len(through):,} "
        "completions each way)"
    )
    print(
        f"- one completion at a time (the upstream answering at once): added at p50 "
        f"{(p50(alone[1]) - p50(alone[0])) * 1000:+.2f} ms, at p99 "
        f"{(pct(alone[1], 99) - pct(alone[0], 99)) * 1000:+.2f} ms (straight p50 "
        f"{p50(alone[0]) * 1000:.2f} ms)"
    )
    spent = f"; the gateway's CPU {cpu * 1e6:,.0f} us per completion" if cpu is not None else ""
    print(
        f"- at saturation (the upstream answering at once): gateway "
        f"{gateway_rps:,.0f} requests/s ({workers}), the upstream alone {direct_rps:,.0f}{spent}"
    )
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
