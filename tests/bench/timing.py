"""Shared by the bench_*.py scripts: interleaved timing, medians, ratios and one result line per goal.

The compared variants run alternately inside one process (order flipped every round, so drift and
warm-up hit both alike) and the ratio is taken between medians of the same run. Not a test module:
pytest collects test_*.py only.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `python tests/bench/bench_x.py` from anywhere
    sys.path.insert(0, str(ROOT))

RESULTS: list[str] = []


def quick() -> bool:
    """BENCH_QUICK=1: fewer repetitions (smoke run); the numbers are then only indicative."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0")


def reps(full: int, fast: int) -> int:
    return fast if quick() else full


def interleave(variants: dict[str, Callable[[], object]], rounds: int, *, warmup: int = 1,
               clock: Callable[[], float] = time.perf_counter,
               measure: Callable[[Callable[[], object]], float] | None = None) -> dict[str, list[float]]:
    """Seconds per call of each variant, ``rounds`` samples each, order alternating every round.

    ``measure(fn) -> seconds`` replaces the plain clock when a variant needs its own accounting
    (CPU time minus the server's, for instance).
    """
    names = list(variants)
    samples: dict[str, list[float]] = {n: [] for n in names}

    def one(name: str) -> float:
        fn = variants[name]
        if measure is not None:
            return measure(fn)
        start = clock()
        fn()
        return clock() - start

    for _ in range(warmup):
        for name in names:
            one(name)
    for i in range(rounds):
        for name in (names if i % 2 == 0 else names[::-1]):
            samples[name].append(one(name))
    return samples


def med(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """Median with the inter-quartile range, in milliseconds."""
    if len(values) < 4:
        return f"{med(values) * 1e3:9.3f} ms"
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{med(values) * 1e3:9.3f} ms (IQR {q1 * 1e3:.3f}-{q3 * 1e3:.3f})"


def ratio_ci(ours: Sequence[float], base: Sequence[float], n: int = 2000, seed: int = 7) -> tuple[float, float]:
    """Bootstrap 95% interval of median(ours)/median(base): how much of the ratio is noise."""
    rng = random.Random(seed)
    values = []
    for _ in range(n):
        a = [rng.choice(ours) for _ in ours]
        b = [rng.choice(base) for _ in base]
        values.append(med(a) / med(b))
    values.sort()
    return values[int(0.025 * n)], values[int(0.975 * n) - 1]


def header(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def row(label: str, text: str) -> None:
    print(f"  {label:<44} {text}", flush=True)


def goal(name: str, value: float, limit: float, unit: str = "x", below: bool = False) -> None:
    """One line per goal, collected again at the end of run_all.sh."""
    ok = value < limit if below else value <= limit
    shown = f"{value:.3f}{unit}" if unit == "x" else f"{value:.1f} {unit}"
    cmp = "<" if below else "<="
    limit_shown = f"{limit}{unit}" if unit == "x" else f"{limit} {unit}"
    line = f"RESULT {name}: {shown} (goal {cmp} {limit_shown}) {'MET' if ok else 'MISSED'}"
    RESULTS.append(line)
    print(line, flush=True)
