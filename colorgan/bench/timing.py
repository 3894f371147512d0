"""Median images (or calls) per second over repeats: the one timing rule of every bench figure."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def rate(call: Callable[[], object], finish: Callable[[object], object], steps: int, repeats: int,
         warmup: int = 2) -> float:
    """Calls per second: the median over ``repeats`` of ``steps`` timed calls after ``warmup`` untimed ones.
    ``finish(result)`` waits for the last call's result (TF runs ahead asynchronously)."""
    return statistics.median(interleaved({"one": call}, finish, steps, repeats, warmup)["one"])


def interleaved(calls: dict[str, Callable[[], object]], finish: Callable[[object], object], steps: int,
                repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    """Calls per second of each call, repeat by repeat, the calls taking turns (a, b, a, b, ...): a machine that
    speeds up or slows down during the measurement moves every call alike, so their ratio per repeat is fair."""
    for call in calls.values():
        out = None
        for _ in range(warmup):
            out = call()
        finish(out)
    rates: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(steps):
                out = call()
            finish(out)
            rates[name].append(steps / (time.perf_counter() - start))
    return rates
