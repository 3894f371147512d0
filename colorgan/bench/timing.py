"""Median images (or calls) per second over repeats: the one timing rule of every bench figure."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def rate(call: Callable[[], object], finish: Callable[[object], object], steps: int, repeats: int,
         warmup: int = 2) -> float:
    """Calls per second: the median over ``repeats`` of ``steps`` timed calls after ``warmup`` untimed ones.
    ``finish(result)`` waits for the last call's result (TF runs ahead asynchronously)."""
    out = None
    for _ in range(warmup):
        out = call()
    finish(out)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            out = call()
        finish(out)
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)
