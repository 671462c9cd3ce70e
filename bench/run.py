"""Benchmarks, printed as a Markdown table of medians and ratios measured in the same run.

    python bench/run.py            # every section
    python bench/run.py --quick    # tiny sizes, a smoke run (CI)

Writes the table to bench/results/latest.md as well (not committed: it is this machine's).
Each figure is a median of several repeats; each ratio compares against a baseline measured in
the same process (or, for whole-process figures, the same run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import resolver  # noqa: E402


@dataclass(frozen=True)
class Row:
    section: str
    case: str
    ours: float
    baseline_name: str
    baseline: float
    unit: str
    target: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")


def per_call(fn: Callable[[], object], *, number: int, repeat: int) -> float:
    """Median seconds per call over ``repeat`` timings of ``number`` calls."""
    return statistics.median(t / number for t in timeit.repeat(fn, number=number, repeat=repeat))


def bench_lookup(quick: bool) -> list[Row]:
    r = resolver.load()
    os.environ["TOGETHER_API_KEY"] = "bench"
    # The same work done by hand: a dict of first usable candidates, and the key check.
    table = {
        source: (r.providers[targets[0]], r.providers[targets[0]].api_key_env)
        for source, targets in r.fallbacks.items()
        if targets
    }

    def plain(model: str) -> object:
        entry = table.get(model)
        if entry is None:
            return None
        provider, key = entry
        return provider if key is None or os.environ.get(key) else None

    number, repeat = (2_000, 3) if quick else (200_000, 7)
    rows = []
    for model in ("deepseek-r1-0528-syn", "glm-4.6-syn", "unknown-model"):
        assert plain(model) == r.get_fallback_provider(model), model
        ours = per_call(lambda m=model: r.get_fallback_provider(m), number=number, repeat=repeat)
        base = per_call(lambda m=model: plain(m), number=number, repeat=repeat)
        rows.append(
            Row("lookup", f"get_fallback_provider({model!r})", ours, "dict.get + os.environ.get",
                base, "us", "<= 2x")
        )  # fmt: skip
    return rows


SECTIONS: dict[str, Callable[[bool], list[Row]]] = {"lookup": bench_lookup}


def render(rows: list[Row]) -> str:
    lines = [
        "| section | case | ours | baseline | baseline value | ratio | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        scale = 1e6 if row.unit == "us" else 1.0
        lines.append(
            f"| {row.section} | {row.case} | {row.ours * scale:.3f} {row.unit} | "
            f"{row.baseline_name} | {row.baseline * scale:.3f} {row.unit} | "
            f"{row.ratio:.2f}x | {row.target} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench/results/latest.md")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for name in args.only or SECTIONS:
        rows += SECTIONS[name](args.quick)
    table = render(rows)
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
