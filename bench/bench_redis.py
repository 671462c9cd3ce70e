"""Per-call cost of the Redis health store against the in-memory one, same process, medians.

    RESOLVER_REDIS_URL=redis://127.0.0.1:6379/0 python bench/bench_redis.py

Both resolvers come from the same configuration; only ``policy.health.store`` differs. Paths:
a lookup (get_fallback_provider: one ``in_rotation`` per candidate, one round trip each on Redis)
and a call through the executor (call_with_fallback with a trivial fn: acquire, then record the
success), sync and asyncio. The figures are dominated by Redis round trips on loopback.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import timeit
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resolver.testing import make_resolver

MODEL = "deepseek-r1-0528-syn"
ENVIRON = {"TOGETHER_API_KEY": "bench", "SYNTHETIC_API_KEY": "bench"}


def per_call(fn, number: int, repeat: int = 7) -> float:
    return statistics.median(t / number for t in timeit.repeat(fn, number=number, repeat=repeat))


def per_acall(r, number: int, repeat: int = 7) -> float:
    async def fn(p):
        return p.id

    async def run() -> float:
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            for _ in range(number):
                await r.acall_with_fallback(MODEL, fn, environ=ENVIRON)
            times.append((time.perf_counter() - began) / number)
        return statistics.median(times)

    return asyncio.run(run())


def main() -> None:
    url = os.environ.get("RESOLVER_REDIS_URL", "redis://127.0.0.1:6379/0")
    memory = make_resolver()
    shared = make_resolver(
        overrides=[
            "policy.health.store=redis",
            f"policy.health.url={url}",
            f"policy.health.namespace=bench-{uuid.uuid4().hex[:8]}",
        ]
    )
    shared.health.check()  # a down Redis would measure the in-process fallback instead

    def call(r):
        return lambda: r.call_with_fallback(MODEL, lambda p: p.id, environ=ENVIRON)

    def look(r):
        return lambda: r.get_fallback_provider(MODEL, environ=ENVIRON)

    rows = [
        ("lookup", per_call(look(shared), 5_000), per_call(look(memory), 200_000)),
        ("call_with_fallback", per_call(call(shared), 2_000), per_call(call(memory), 20_000)),
        ("acall_with_fallback", per_acall(shared, 1_000), per_acall(memory, 10_000)),
    ]
    shared.health.reset()
    print(f"Redis at {shared.policy.health.url}")
    print("| path | redis | memory | added | ratio |")
    print("|---|---|---|---|---|")
    for name, on, mem in rows:
        print(
            f"| {name} | {on * 1e6:.1f} us | {mem * 1e6:.2f} us | "
            f"{(on - mem) * 1e6:+.1f} us | {on / mem:.0f}x |"
        )


if __name__ == "__main__":
    main()
