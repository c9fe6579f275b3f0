"""Timing helper shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_rate(fn: Callable[[], object], n_items: int, repeats: int = 3) -> float:
    """Items per second of ``fn`` (which makes ``n_items``): one warm-up call, then the best of
    ``repeats`` timed calls (the least disturbed by other work on the machine)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_items / best
