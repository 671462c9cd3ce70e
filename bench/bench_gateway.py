"""Gateway benchmark (issues 13, 24): what `fallback-resolver serve` adds in front of an upstream.

    python bench/bench_gateway.py                 # about three minutes on 2 cores
    python bench/bench_gateway.py --quick         # short rounds: a smoke run (under a minute)
    python bench/bench_gateway.py --workers 2     # the gateway with two worker processes

The upstreams (bench/fast_server.py), the gateway (the shipped prod catalog, compiled into a
snapshot whose vendors point at the upstream), the bare pass-through proxy (bench/bare_proxy.py:
uvicorn + httptools and aiohttp's client, as the gateway, with no fallback logic) and the
client (aiohttp, in this process) are processes of their own. When there are more cores than
gateway workers, the gateway, the bare proxy (and LiteLLM's proxy) run on cores of their own,
one per worker, and the client and the upstreams on the others, as on a deployment, where a
gateway does not take its upstream's cores; --shared-cores puts every process on every core.
Each section starts its own upstream, gateway and bare proxy, and stops them after. Sections:

- CPU per completion at saturation: CONCURRENT (200) closed-loop clients against the upstream
  answering at once, straight, through the gateway and through the bare proxy, interleaved in
  rounds of a few seconds; each proxy's CPU per completion read from /proc (targets: the
  gateway at most 120 us, and at most 1.3x the bare proxy's), and requests per second each way
  (a reference). A fourth way, the raw proxy (bench/raw_proxy.py: the same pass-through on
  asyncio protocols over httptools, with no uvicorn and no aiohttp), shows what those two
  libraries cost (a reference, no target). Then one completion at a time each way but the raw
  proxy: what a hop adds with nothing queued;
- added latency at 1,000 requests/s, open loop: a request launched every millisecond on a fixed
  schedule whatever the answers (a closed loop would slow its own offer when the gateway slows),
  against an upstream answering after --delay-ms (default 20 ms, so about 20 in flight; the
  client and the upstream share their core and sustain the rate with room to spare), straight,
  through the gateway and through the bare proxy, interleaved in rounds; each latency counted
  from when its request was due. The gateway's p50 less the straight p50, and the same at p99
  (targets: 0.35 ms and 1 ms, TensorZero's published overhead at 10,000 QPS);
- resident memory: the gateway's VmHWM (and VmRSS, sampled) from /proc/<pid>/status while it
  serves 500 requests/s, open loop, for several seconds (target: at most 120 MB, Bifrost's
  published figure at 500 RPS); the bare proxy's under the same load beside it. The upstream
  answers in --memory-delay-ms (default 400 ms: 200 completions in flight), the longest that
  rate allows: the gateway holds at most 256 upstream connections (resolver.http's pool), so
  with Bifrost's mock answering in 1.5 s (750 in flight) it serves about 170 requests/s and
  queues the rest, and the note says the rate was not sustained;
- failures injected: the gateway in front of a resolver.testing.ChatServer whose primary fails
  a seeded half of its requests (500s), first 1,000 completions at once on a cold pool, then
  CONCURRENT closed-loop clients (the highest rate the machine sustains) asking the failing
  primary, interleaved with rounds asking its backup directly (the same gateway, upstream and
  load with no failures): requests per second and p50/p99 each way. Every answer's
  x-fallback-served-by header and body model are checked against the upstream's own count of
  the requests each model served: 0 lost and 0 misattributed, else the script exits 1 (a missed
  target never fails it);
- LiteLLM's proxy (`litellm --config`, one worker, the same primary and backup on the same
  upstream, with the same fallback edge) as a further way of the saturation rounds (target: ours
  at least 3x its requests per second); skipped with a note when there is no `litellm` command
  (`--litellm PATH`, else the one on PATH; it may live in a venv of its own).

A row with a target prints "inconclusive" when the machine was busy while it was measured:
bench/run.py's rule (its docstring: the watched processes waited for a core more than 20% of
the CPU time they ran, from Linux's schedstat), applied to the processes whose time the row is
about. Every section watches the gateway and the bare proxy, on cores of their own, where any
wait is another process's doing. The latency rows also watch the client and the upstream, which
share their core by design and so wait for each other: about 15-21% of their CPU time at
1,000 requests/s on a quiet machine, 110-140% with one CPU-bound process more on their core;
their limit is SHARED_WAIT_LIMIT (50%), as is everyone's with --shared-cores. The latency rows
are stricter (LATENCY_WAIT_LIMIT, 5%, and LATENCY_SHARED_WAIT_LIMIT, 30%): a wait there is
latency. Each section's
note gives the 1-minute load average before and after it and those processes' CPU and waiting
seconds; the header, the load average at the start and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402
from run import WAIT_LIMIT, Row, Strain, Watch, load_text, render, watched  # noqa: E402

from resolver.snapshot import write  # noqa: E402
from resolver.testing import ChatServer, make_resolver  # noqa: E402

MESSAGES = [{"role": "user", "content": "Will it rain tomorrow?"}]
PRIMARY, BACKUP = "deepseek-r1-0528-syn", "deepseek-r1"
CONCURRENT = 200
RATE = 1_000
"""Requests per second of the open-loop latency section: one every millisecond."""
MEMORY_RATE = 500
"""Requests per second of the memory section (Bifrost's published 120 MB was at 500 RPS)."""
CPU_TARGET_S, CPU_VS_BARE = 120e-6, 1.3
RAW_NAME = "raw proxy (uvloop + httptools, no uvicorn or aiohttp), same core"
P50_TARGET_S, P99_TARGET_S = 0.35e-3, 1e-3
MEMORY_TARGET_MB = 120.0
KEEPALIVE_S = 3.0
"""The client's idle keep-alive: under uvicorn's 5 s, so that a round never reuses a connection
the server is closing after the other ways' rounds left it idle."""
LATENCY_WAIT_LIMIT = 0.05
"""The latency rows' limit for the gateway and the bare proxy: a wait for a core is added to a
request's latency as it happens, so a little already moves p99. Quiet, they waited 0.2-0.6% of
their CPU time; with a test suite running on the other core, 17.5%, and the gateway's p99 went
from 0.3 ms to 11 ms."""
LATENCY_SHARED_WAIT_LIMIT = 0.3
"""The latency rows' limit for the client and the upstream (15-21% quiet, 40% with the same
test suite running; see SHARED_WAIT_LIMIT)."""
SHARED_WAIT_LIMIT = 0.5
"""Busy above this much waiting for a core per CPU second, for processes that share a core by
design (the client and the upstream; every process with --shared-cores): they wait for each
other. At 1,000 requests/s on a quiet 2-core machine the client and the upstream waited 15-21%
of their CPU time; with one CPU-bound process more on their core, 110-140%."""
KEY = "sk-" + secrets.token_hex(32)
"""The client key of this run: the gateway's and LiteLLM's master key, so both check one."""

# The failure section's upstream: a ChatServer whose primary fails half its requests (seeded);
# prints its port, and when its stdin closes, the requests it saw per model string and how many
# it failed.
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


@dataclass(frozen=True)
class Way:
    """One way to the upstream: straight, or through a proxy (whose processes are ``pids``)."""

    name: str
    url: str
    model: str
    pids: tuple[int, ...] = ()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **ChatServer.environ()}
    return env | {"RESOLVER_GATEWAY_KEYS": KEY}


@contextlib.contextmanager
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """A list to put a section's children in; each is stopped (SIGTERM) and waited for at the
    end of the section, so that the next starts on a machine without them."""
    children: list[subprocess.Popen[bytes]] = []
    try:
        yield children
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)


def fast_upstream(
    tmp: Path, children: list[subprocess.Popen[bytes]], delay_ms: float = 0.0
) -> tuple[subprocess.Popen[bytes], str]:
    port_file = tmp / f"port-{delay_ms:g}"
    port_file.unlink(missing_ok=True)
    script = str(ROOT / "bench" / "fast_server.py")
    child = subprocess.Popen(
        [sys.executable, script, str(port_file), "--delay-ms", str(delay_ms)], env=child_env()
    )
    children.append(child)
    wait_until(lambda: port_file.exists() and port_file.read_text() != "")
    return child, f"http://127.0.0.1:{port_file.read_text()}/v1"


GATEWAY_CORES: set[int] | None = None
"""The cores the gateway (and the bare and LiteLLM's proxies) run on, the others being the
client's and the upstreams'; None: every process on every core (--shared-cores, or too few
cores)."""


def on_gateway_cores() -> None:
    """Run in a child before it starts the gateway (or a proxy): it, and every worker or
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


def alone_limit() -> float:
    """The waiting limit of the gateway and the proxies: WAIT_LIMIT on cores of their own, where
    any wait is another process's doing; SHARED_WAIT_LIMIT with --shared-cores."""
    return WAIT_LIMIT if GATEWAY_CORES is not None else SHARED_WAIT_LIMIT


def gateway(
    snapshot: Path, log: Path, children: list[subprocess.Popen[bytes]], workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = ["-m", "resolver", "serve", "--snapshot", str(snapshot), "--port", str(port)]
    args += ["--workers", str(workers)]
    with log.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, *args], env=child_env(), stderr=err, preexec_fn=on_gateway_cores
        )
    children.append(child)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(url + "/healthz"), log=log)
    return child, url + "/v1"


def bare_proxy(
    upstream_url: str,
    client: str,
    log: Path,
    children: list[subprocess.Popen[bytes]],
    script: str = "bare_proxy.py",
) -> tuple[subprocess.Popen[bytes], str]:
    """bench/bare_proxy.py (or ``script``: raw_proxy.py) in front of ``upstream_url``, on the
    gateway's cores."""
    port = free_port()
    args = [str(ROOT / "bench" / script), upstream_url, "--port", str(port)]
    if script == "bare_proxy.py":
        args += ["--client", client]
    with log.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, *args],
            env=child_env(),
            stderr=err,
            preexec_fn=on_gateway_cores,
        )
    children.append(child)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(url + "/healthz"), log=log)
    return child, url + "/v1"


def answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_until(condition: object, seconds: float = 30.0, log: Path | None = None) -> None:
    give_up = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > give_up:
            said = log.read_text()[-3000:] if log is not None and log.exists() else ""
            raise RuntimeError(f"a benchmark process did not start\n{said}")
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


def litellm_proxy(
    binary: str, base_url: str, tmp: Path, children: list[subprocess.Popen[bytes]]
) -> tuple[subprocess.Popen[bytes], str]:
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
    children.append(child)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(url + "/health/liveliness"), seconds=180)
    return child, url + "/v1"


def snapshot_for(base_url: str, path: Path) -> Path:
    overrides = [f"providers.{v}.base_url={base_url}" for v in ("synthetic", "together")]
    # Health is not what this measures: keep the failing half from opening the breaker, so that
    # every request tries the primary first and the upstream's counts are exact.
    write(make_resolver(env="prod", overrides=[*overrides, "policy.health.enabled=false"]), path)
    return path


# --- what /proc says of a process --------------------------------------------------------------


def tree(pid: int) -> tuple[int, ...]:
    """``pid`` and its descendants (a gateway with --workers is a supervisor and its workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = [pid]
    for child in found:  # grows as it goes: breadth first
        found += [p for p, parent in parents.items() if parent == child]
    return tuple(found)


def cpu_seconds(pid: int) -> float:
    """The user and system CPU a process has used (Linux: /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(pids: Sequence[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def memory_mb(pid: int) -> tuple[float, float]:
    """A process's resident memory now (VmRSS) and at its peak (VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss, hwm = (int(status.split(f"{name}:")[1].split()[0]) for name in ("VmRSS", "VmHWM"))
    return rss / 1024, hwm / 1024


# --- load --------------------------------------------------------------------------------------


def session(limit: int, timeout_s: float = 60.0) -> aiohttp.ClientSession:
    """The client: a pool of ``limit`` connections (0: no limit), with this run's key."""
    connector = aiohttp.TCPConnector(limit=limit, keepalive_timeout=KEEPALIVE_S)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        headers={"Authorization": f"Bearer {KEY}"},
    )


async def timed(client: aiohttp.ClientSession, way: Way, since: float | None = None) -> float:
    """Seconds to one completion (from ``since`` when given: when it was due); raises unless
    it is answered 200."""
    began = time.perf_counter() if since is None else since
    body = {"model": way.model, "messages": MESSAGES}
    async with client.post(way.url + "/chat/completions", json=body) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{way.name}: HTTP {response.status}")
    return time.perf_counter() - began


async def attributed(client: aiohttp.ClientSession, way: Way, counts: Counter[str]) -> float:
    """Seconds to one completion through the gateway, counted in ``counts`` by who served it
    (the x-fallback-served-by header, which must name the body's model), or as lost."""
    began = time.perf_counter()
    try:
        body = {"model": way.model, "messages": MESSAGES}
        async with client.post(way.url + "/chat/completions", json=body) as response:
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
    return time.perf_counter() - began


async def closed_loop(
    clients: int, seconds: float, one: Callable[[], Awaitable[float]]
) -> tuple[list[float], float]:
    """``clients`` each sending its next request when its last is answered, for ``seconds``:
    every latency, and the wall seconds until the last answer."""
    latencies: list[float] = []
    began = time.perf_counter()
    stop = began + seconds

    async def client() -> None:
        while time.perf_counter() < stop:
            latencies.append(await one())

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, time.perf_counter() - began


async def open_loop(
    client: aiohttp.ClientSession, way: Way, rate: float, seconds: float
) -> list[float]:
    """Requests launched on a fixed schedule, one every 1/``rate`` s for ``seconds`` whatever
    the answers; each latency counted from when its request was due, so that a launch the
    client made late (its loop busy) is not a shorter latency."""
    due = time.perf_counter() + 0.005
    launched = []
    for i in range(round(rate * seconds)):
        at = due + i / rate
        if (wait := at - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        launched.append(asyncio.ensure_future(timed(client, way, since=at)))
    return list(await asyncio.gather(*launched))


@dataclass(frozen=True)
class Saturation:
    rps: float
    cpu: float
    """CPU seconds of the way's processes per completion (0 straight to the upstream: none)."""
    utilization: float
    """Their CPU seconds per wall second of their rounds: 1.0 is a core kept busy."""


async def saturated(ways: Sequence[Way], rounds: int, seconds: float) -> dict[str, Saturation]:
    """CONCURRENT closed-loop clients on each way in turn, ``rounds`` rounds of ``seconds``
    (a first one warms every pool up and is not counted): requests per second each way, and
    the CPU per completion of each proxy, read from /proc around its rounds."""
    done = {way.name: 0 for way in ways}
    wall = {way.name: 0.0 for way in ways}
    cpu = {way.name: 0.0 for way in ways}
    async with session(CONCURRENT) as client:
        for n in range(rounds + 1):
            for way in ways:
                spent = cpu_of(way.pids)
                latencies, took = await closed_loop(
                    CONCURRENT, seconds, lambda w=way: timed(client, w)
                )
                if n:
                    done[way.name] += len(latencies)
                    wall[way.name] += took
                    cpu[way.name] += cpu_of(way.pids) - spent
    return {
        way.name: Saturation(
            done[way.name] / wall[way.name],
            cpu[way.name] / done[way.name],
            cpu[way.name] / wall[way.name],
        )
        for way in ways
    }


async def one_at_a_time(ways: Sequence[Way], rounds: int, per_round: int) -> dict[str, list[float]]:
    """Latencies of one completion at a time (nothing queued anywhere) each way, alternating
    rounds (a first one warms up and is not counted)."""
    took: dict[str, list[float]] = {way.name: [] for way in ways}
    async with session(1) as client:
        for n in range(rounds + 1):
            for way in ways:
                latencies = [await timed(client, way) for _ in range(per_round)]
                if n:
                    took[way.name] += latencies
    return took


async def paced(
    ways: Sequence[Way], rate: float, rounds: int, seconds: float
) -> dict[str, list[float]]:
    """Open-loop latencies at ``rate`` each way, alternating rounds of ``seconds`` (a first
    one warms every pool up and is not counted)."""
    took: dict[str, list[float]] = {way.name: [] for way in ways}
    async with session(0) as client:
        for n in range(rounds + 1):
            for way in ways:
                latencies = await open_loop(client, way, rate, seconds)
                if n:
                    took[way.name] += latencies
    return took


@dataclass(frozen=True)
class Memory:
    idle: float
    """VmRSS before the load, MB."""
    rss: float
    """The highest VmRSS sampled under the load, MB."""
    hwm: float
    """VmHWM after the load: the kernel's own peak of the process, MB."""
    rps: float
    p50: float


async def resident(way: Way, rate: float, seconds: float) -> Memory:
    """Open-loop load at ``rate`` for ``seconds`` through ``way``, its process's resident memory
    sampled every 100 ms (the largest of its processes with several workers)."""
    largest = max(way.pids, key=lambda pid: memory_mb(pid)[1])
    idle = memory_mb(largest)[0]
    rss = [idle]
    loading = True

    async def sample() -> None:
        while loading:
            rss.append(memory_mb(largest)[0])
            await asyncio.sleep(0.1)

    sampler = asyncio.ensure_future(sample())
    async with session(0) as client:
        latencies = await open_loop(client, way, rate, seconds)
    loading = False
    await sampler
    # The rate answers came back at, from the first to the last (request i was due at i / rate):
    # the offered rate when nothing queued, less when the gateway's upstream pool was full.
    answered = [i / rate + latency for i, latency in enumerate(latencies)]
    served = (len(answered) - 1) / (max(answered) - min(answered))
    return Memory(idle, max(rss), memory_mb(largest)[1], served, statistics.median(latencies))


async def failing(
    gateway_way: Way, n: int, rounds: int, seconds: float
) -> tuple[Counter[str], dict[str, tuple[list[float], float]], Counter[str]]:
    """n completions at once on a cold pool through the gateway, then CONCURRENT closed-loop
    clients asking the failing primary, alternating with rounds asking its backup directly.
    The attribution counts of the primary's requests and of the backup's, and each way's
    latencies and requests per second."""
    counts: Counter[str] = Counter()
    healthy: Counter[str] = Counter()
    async with session(n, timeout_s=120) as client:
        await asyncio.gather(*(attributed(client, gateway_way, counts) for _ in range(n)))
    ways = (
        (gateway_way, counts),
        (Way("backup asked directly", gateway_way.url, BACKUP), healthy),
    )
    took: dict[str, tuple[list[float], float]] = {way.name: ([], 0.0) for way, _ in ways}
    async with session(CONCURRENT, timeout_s=120) as client:
        for i in range(rounds + 1):  # the first warms both up, and is counted for attribution
            for way, into in ways:
                latencies, wall = await closed_loop(
                    CONCURRENT, seconds, lambda w=way, c=into: attributed(client, w, c)
                )
                if i:
                    so_far = took[way.name]
                    took[way.name] = (so_far[0] + latencies, so_far[1] + wall)
    return counts, took, healthy


# --- the run -----------------------------------------------------------------------------------


def pct(values: Sequence[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def added(took: dict[str, list[float]], name: str) -> tuple[float, float]:
    """What way ``name`` adds to the straight way's latency, at p50 and at p99."""
    way, straight = took[name], took["straight"]
    return p50(way) - p50(straight), pct(way, 99) - pct(straight, 99)


@dataclass
class Run:
    """What the sections share: options, the scratch directory, the notes printed under the
    table, and whether a request was lost or misattributed."""

    quick: bool
    tmp: Path
    workers: int
    client: str
    litellm: str | None
    delay_ms: float
    memory_delay_ms: float
    notes: list[str]
    failed: bool = False

    @property
    def worker_text(self) -> str:
        return f"{self.workers} worker{'s' if self.workers > 1 else ''}"

    def note(self, section: str, strain: Strain) -> None:
        self.notes.append(f"{section}: {strain}")


def section_saturation(run: Run) -> list[Row]:
    rounds, seconds = (1, 0.5) if run.quick else (6, 2.0)
    with processes() as children:
        _, upstream_url = fast_upstream(run.tmp, children)
        r = make_resolver(env="prod")
        snapshot = snapshot_for(upstream_url, run.tmp / "fast.json")
        served, gateway_url = gateway(snapshot, run.tmp / "fast.log", children, run.workers)
        bare, bare_url = bare_proxy(upstream_url, run.client, run.tmp / "bare.log", children)
        raw, raw_url = bare_proxy(upstream_url, "", run.tmp / "raw.log", children, "raw_proxy.py")
        ours = Way("gateway", gateway_url, PRIMARY, tree(served.pid))
        ways = [
            Way("straight", upstream_url, r.providers[PRIMARY].model),
            ours,
            Way("bare proxy", bare_url, PRIMARY, (bare.pid,)),
            Way("raw proxy", raw_url, PRIMARY, (raw.pid,)),
        ]
        if run.litellm is not None:
            proxy, proxy_url = litellm_proxy(run.litellm, upstream_url, run.tmp, children)
            ways.append(Way("LiteLLM", proxy_url, PRIMARY, tree(proxy.pid)))
        watch = Watch([pid for way in ways for pid in way.pids], own=False, limit=alone_limit())
        got = asyncio.run(saturated(ways, rounds, seconds))
        strain = watch.stop()
        alone = asyncio.run(one_at_a_time(ways[:3], 2 if run.quick else 8, 250))
    run.note("saturation", strain)
    gw, base, straight, raw_way = (
        got["gateway"], got["bare proxy"], got["straight"], got["raw proxy"]
    )  # fmt: skip
    case = f"CPU per completion at saturation ({CONCURRENT} closed-loop clients, {run.worker_text})"
    bare_name = f"bare pass-through proxy (uvicorn + httptools, {run.client}), same core"
    saturation = f"1,000 completions at saturation ({CONCURRENT} closed-loop clients)"
    rows = [
        Row("gateway", case, gw.cpu, "the 120 us target", CPU_TARGET_S, "us", "<= 120 us", 1.0),
        Row("gateway", case, gw.cpu, bare_name, base.cpu, "us", f"<= {CPU_VS_BARE:g}x",
            CPU_VS_BARE),
        # What uvicorn and aiohttp cost: the bare proxy against the same pass-through on
        # asyncio protocols over httptools (bench/raw_proxy.py). Not a target: the floor the
        # 120 us target would have to be met above.
        Row("gateway", f"{case}: the bare proxy", base.cpu, RAW_NAME, raw_way.cpu, "us",
            "none (a reference)"),
        Row("gateway", case, gw.cpu, RAW_NAME, raw_way.cpu, "us", "none (a reference)"),
        # Requests per second as seconds per 1,000 requests, so that lower is better like the
        # other rows and the ratio reads as ours against theirs.
        Row("gateway", saturation, 1000 / gw.rps, "the upstream alone, same clients",
            1000 / straight.rps, "s", "none (a reference)"),
        Row("gateway", saturation, 1000 / gw.rps, "the bare proxy, same clients",
            1000 / base.rps, "s", "none (a reference)"),
    ]  # fmt: skip
    if "LiteLLM" in got:
        rows.append(
            Row("gateway", saturation, 1000 / gw.rps, "LiteLLM proxy, same config and upstream",
                1000 / got["LiteLLM"].rps, "s", ">= 3x throughput", 1 / 3)
        )  # fmt: skip
    else:
        run.notes.append("peer: LiteLLM's proxy skipped, no `litellm` command (--litellm PATH)")
    run.notes.append(
        f"at saturation (the upstream answering at once): the gateway {gw.rps:,.0f} requests/s "
        f"({run.worker_text}), {gw.cpu * 1e6:,.0f} us of CPU per completion, its core "
        f"{gw.utilization:.0%} busy; the bare proxy {base.rps:,.0f} requests/s, "
        f"{base.cpu * 1e6:,.0f} us, {base.utilization:.0%}; the raw proxy "
        f"{raw_way.rps:,.0f} requests/s, {raw_way.cpu * 1e6:,.0f} us, "
        f"{raw_way.utilization:.0%}; the upstream alone "
        f"{straight.rps:,.0f} requests/s"
    )
    (gw50, gw99), (bare50, bare99) = added(alone, "gateway"), added(alone, "bare proxy")
    run.notes.append(
        "one completion at a time (the upstream answering at once): the gateway adds "
        f"{gw50 * 1000:+.2f} ms at p50 and {gw99 * 1000:+.2f} ms at p99, the bare proxy "
        f"{bare50 * 1000:+.2f} and {bare99 * 1000:+.2f} ms (straight p50 "
        f"{ms(p50(alone['straight']))})"
    )
    return watched(rows, strain)


def section_latency(run: Run) -> list[Row]:
    rounds, seconds = (1, 1.0) if run.quick else (6, 3.0)
    with processes() as children:
        upstream, upstream_url = fast_upstream(run.tmp, children, run.delay_ms)
        snapshot = snapshot_for(upstream_url, run.tmp / "delayed.json")
        served, gateway_url = gateway(snapshot, run.tmp / "delayed.log", children, run.workers)
        bare, bare_url = bare_proxy(upstream_url, run.client, run.tmp / "bare.log", children)
        model = make_resolver(env="prod").providers[PRIMARY].model
        ways = [
            Way("straight", upstream_url, model),
            Way("gateway", gateway_url, PRIMARY, tree(served.pid)),
            Way("bare proxy", bare_url, PRIMARY, (bare.pid,)),
        ]
        # Waits add to latency directly: a lower limit than the CPU rows'.
        pids = [pid for way in ways for pid in way.pids]
        proxies = Watch(pids, own=False, limit=min(alone_limit(), LATENCY_WAIT_LIMIT))
        shared = Watch([upstream.pid], limit=LATENCY_SHARED_WAIT_LIMIT)  # we are the client
        took = asyncio.run(paced(ways, RATE, rounds, seconds))
        strain, on_their_core = proxies.stop(), shared.stop()
    run.note("latency, the gateway and the bare proxy", strain)
    run.note("latency, the client and the upstream", on_their_core)
    straight = took["straight"]
    (gw50, gw99), (bare50, bare99) = added(took, "gateway"), added(took, "bare proxy")
    case = (
        f"added latency at {RATE:,} requests/s (open loop, upstream answering in "
        f"{run.delay_ms:g} ms, {run.worker_text})"
    )
    rows = [
        Row("gateway", f"{case}, p50", gw50, "the 0.35 ms target", P50_TARGET_S, "ms",
            "<= 0.35 ms", 1.0),
        Row("gateway", f"{case}, p99", gw99, "the 1 ms target", P99_TARGET_S, "ms", "<= 1 ms",
            1.0),
    ]  # fmt: skip
    run.notes.append(
        f"open loop at {RATE:,} requests/s, upstream answering in {run.delay_ms:g} ms: "
        f"straight p50 {ms(p50(straight))}, p99 {ms(pct(straight, 99))}; through the gateway "
        f"p50 {ms(p50(took['gateway']))}, p99 {ms(pct(took['gateway'], 99))}; through the bare "
        f"proxy p50 {ms(p50(took['bare proxy']))}, p99 {ms(pct(took['bare proxy'], 99))}: the "
        f"bare proxy adds {bare50 * 1000:+.2f} ms at p50 and "
        f"{bare99 * 1000:+.2f} ms at p99 ({len(straight):,} completions each "
        "way, latencies from when each request was due)"
    )
    return watched(rows, strain, on_their_core)


def section_memory(run: Run) -> list[Row]:
    seconds = 3.0 if run.quick else 8.0
    with processes() as children:
        _, upstream_url = fast_upstream(run.tmp, children, run.memory_delay_ms)
        snapshot = snapshot_for(upstream_url, run.tmp / "slow.json")
        served, gateway_url = gateway(snapshot, run.tmp / "slow.log", children, run.workers)
        bare, bare_url = bare_proxy(upstream_url, run.client, run.tmp / "bare.log", children)
        ours = Way("gateway", gateway_url, PRIMARY, tree(served.pid))
        theirs = Way("bare proxy", bare_url, PRIMARY, (bare.pid,))
        watch = Watch([*ours.pids, *theirs.pids], own=False, limit=alone_limit())
        gw = asyncio.run(resident(ours, MEMORY_RATE, seconds))
        base = asyncio.run(resident(theirs, MEMORY_RATE, seconds))
        strain = watch.stop()
    run.note("memory", strain)
    in_flight = MEMORY_RATE * run.memory_delay_ms / 1000
    case = (
        f"peak resident memory (VmHWM) serving {MEMORY_RATE} requests/s for {seconds:g} s, "
        f"upstream answering in {run.memory_delay_ms:g} ms (~{in_flight:,.0f} in flight), "
        "shipped catalog"
    )
    rows = [
        Row("gateway", case, gw.hwm, "the 120 MB target", MEMORY_TARGET_MB, "MB", "<= 120 MB",
            1.0),
        Row("gateway", case, gw.hwm, "the bare proxy, same load", base.hwm, "MB"),
    ]  # fmt: skip
    for name, m in (("gateway", gw), ("bare proxy", base)):
        # An upstream pool full (256 connections) queues the rest: then it did not serve the rate.
        short = " (**not sustained**)" if m.rps < 0.95 * MEMORY_RATE else ""
        run.notes.append(
            f"memory, the {name}: VmRSS {m.idle:.1f} MB before the load, at most {m.rss:.1f} MB "
            f"sampled under it, VmHWM {m.hwm:.1f} MB; served {m.rps:,.0f} requests/s{short}, p50 "
            f"{ms(m.p50)}"
        )
    return watched(rows, strain)


def section_failures(run: Run) -> list[Row]:
    n = 100 if run.quick else 1_000
    rounds, seconds = (1, 0.5) if run.quick else (5, 2.0)
    r = make_resolver(env="prod")
    primary_model, backup_model = r.providers[PRIMARY].model, r.providers[BACKUP].model
    with processes() as children:
        chat = subprocess.Popen(
            [sys.executable, "-c", SERVER % {"primary": PRIMARY}],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env(),
        )
        assert chat.stdin is not None
        assert chat.stdout is not None
        try:
            chat_url = f"http://127.0.0.1:{int(chat.stdout.readline())}/v1"
            snapshot = snapshot_for(chat_url, run.tmp / "burst.json")
            served, gateway_url = gateway(snapshot, run.tmp / "burst.log", children, run.workers)
            ours = Way("half the primaries failing", gateway_url, PRIMARY, tree(served.pid))
            watch = Watch(ours.pids, own=False, limit=alone_limit())
            counts, took, healthy = asyncio.run(failing(ours, n, rounds, seconds))
            strain = watch.stop()
        finally:
            chat.stdin.close()
            upstream_counts = json.loads(chat.stdout.readline())
            chat.wait(timeout=30)
    run.note("failures", strain)
    (bad, bad_s), (good, good_s) = took[ours.name], took["backup asked directly"]
    rows = [
        Row("failures", f"1,000 completions, {CONCURRENT} closed-loop clients, half the "
            "primaries failing", 1000 * bad_s / len(bad), "no failures: the backup asked "
            "directly, same gateway and upstream", 1000 * good_s / len(good), "s"),
        Row("failures", "the same, latency p50", p50(bad), "no failures, p50", p50(good), "ms"),
        Row("failures", "the same, latency p99", pct(bad, 99), "no failures, p99", pct(good, 99),
            "ms"),
    ]  # fmt: skip
    run.notes.append(
        f"failures: {len(bad) / bad_s:,.0f} requests/s with half the primaries failing, "
        f"{len(good) / good_s:,.0f} with none; {ms(p50(bad) - p50(good))} more at p50 and "
        f"{ms(pct(bad, 99) - pct(good, 99))} at p99 (a closed loop at saturation: latency is "
        f"about {CONCURRENT} / throughput, and each fallback a second request to the upstream)"
    )
    shown = ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items()))
    run.notes.append(
        f"{n:,} concurrent completions then {CONCURRENT} closed-loop clients, half the "
        f"primaries failing: {shown}; the backup asked directly: "
        + ", ".join(f"{k}: {v:,}" for k, v in sorted(healthy.items()))
    )
    seen, failed = Counter(upstream_counts["seen"]), Counter(upstream_counts["failed"])
    served_by = counts + healthy
    expected = {
        f"served by {PRIMARY}": seen[primary_model] - failed[primary_model],
        f"served by {BACKUP}": seen[backup_model] - failed[backup_model],
    }
    lost = sum(v for k, v in served_by.items() if not k.startswith("served by"))
    wrong = {k: (served_by[k], v) for k, v in expected.items() if served_by[k] != v}
    run.notes.append(
        f"upstream counts: {primary_model}: {seen[primary_model]:,} requests, "
        f"{failed[primary_model]:,} failed; {backup_model}: {seen[backup_model]:,} requests"
    )
    run.notes.append(
        f"lost: {lost}; attribution that disagrees with the upstream's counts: {wrong or 0}"
    )
    run.failed = bool(lost or wrong)
    return watched(rows, strain)


SECTIONS: dict[str, Callable[[Run], list[Row]]] = {
    "saturation": section_saturation,
    "latency": section_latency,
    "memory": section_memory,
    "failures": section_failures,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short rounds: a smoke run")
    parser.add_argument("--only", choices=sorted(SECTIONS), nargs="+", help="these sections")
    parser.add_argument("--litellm", metavar="PATH", help="LiteLLM's `litellm` command")
    parser.add_argument(
        "--delay-ms",
        type=float,
        default=20.0,
        help="the upstream's answer time in the latency section (default: 20)",
    )
    parser.add_argument(
        "--memory-delay-ms",
        type=float,
        default=400.0,
        help="the upstream's answer time in the memory section (default: 400)",
    )
    parser.add_argument("--workers", type=int, default=1, help="the gateway's worker processes")
    parser.add_argument(
        "--bare-client",
        choices=("aiohttp", "httpx"),
        default="aiohttp",
        help="the bare proxy's upstream client (default: aiohttp, as the gateway's)",
    )
    parser.add_argument(
        "--shared-cores",
        action="store_true",
        help="run the gateway on the same cores as the client and the upstreams (by default it "
        "gets cores of its own, one per worker, when there are more cores than workers)",
    )
    args = parser.parse_args(argv)
    if not args.shared_cores:
        split_cores(args.workers)
    started, load_at_start = time.perf_counter(), os.getloadavg()[0]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(
            quick=args.quick,
            tmp=Path(tmp),
            workers=args.workers,
            client=args.bare_client,
            litellm=args.litellm or shutil.which("litellm"),
            delay_ms=args.delay_ms,
            memory_delay_ms=args.memory_delay_ms,
            notes=[],
        )
        for name, section in SECTIONS.items():
            if args.only and name not in args.only:
                continue
            print(f"[{time.perf_counter() - started:6.1f}s] {name}...", file=sys.stderr)
            rows += section(run)
    command = " ".join(sys.argv[1:] if argv is None else argv)
    print(
        f"{datetime.date.today()}, Python {platform.python_version()}, {os.cpu_count()} CPUs; "
        f"`python bench/bench_gateway.py {command}` took {time.perf_counter() - started:.0f} s; "
        f"{load_text(load_at_start)}.\n"
    )
    print(render(rows))
    if GATEWAY_CORES is None:
        print("- cores: every process on every core")
    else:
        rest = sorted(os.sched_getaffinity(0))
        print(
            f"- cores: the gateway and the bare proxy on {sorted(GATEWAY_CORES)}, the client and "
            f"the upstreams on {rest}"
        )
    for note in run.notes:
        print(f"- {note}")
    return 1 if run.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
