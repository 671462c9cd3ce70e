"""Per-call overhead that health tracking adds, same process, medians.

    python bench/bench_health.py

Compares the default in-memory health store against health switched off (a store that does
nothing), on the two paths health touches: a lookup (get_fallback_provider) and a call through
the executor (call_with_fallback with a trivial fn, which acquires and records each attempt).
"""

from __future__ import annotations

import statistics
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resolver.health import NullHealthStore
from resolver.testing import make_resolver, mark_unhealthy

MODEL = "deepseek-r1-0528-syn"
ENVIRON = {"TOGETHER_API_KEY": "bench", "SYNTHETIC_API_KEY": "bench"}


def per_call(fn, number: int, repeat: int = 7) -> float:
    return statistics.median(t / number for t in timeit.repeat(fn, number=number, repeat=repeat))


def main() -> None:
    base = make_resolver()
    tracked = base.with_health()
    busy = base.with_health()
    mark_unhealthy(busy, "kimi-k2-instruct")  # a non-empty store reads the clock on lookups
    off = base.with_health(NullHealthStore())

    def call(r):
        return lambda: r.call_with_fallback(MODEL, lambda p: p.id, environ=ENVIRON)

    def look(r):
        return lambda: r.get_fallback_provider(MODEL, environ=ENVIRON)

    rows = [
        ("lookup", per_call(look(tracked), 200_000), per_call(look(off), 200_000)),
        ("lookup, store not empty", per_call(look(busy), 200_000), per_call(look(off), 200_000)),
        ("call_with_fallback", per_call(call(tracked), 20_000), per_call(call(off), 20_000)),
    ]
    print("| path | health on | health off | added | ratio |")
    print("|---|---|---|---|---|")
    for name, on, no in rows:
        print(
            f"| {name} | {on * 1e6:.3f} us | {no * 1e6:.3f} us | "
            f"{(on - no) * 1e6:+.3f} us | {on / no:.2f}x |"
        )


if __name__ == "__main__":
    main()
