"""Interleaved timing of in-process calls, shared by the benchmarks that run models."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved_medians(calls: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds of one call of each entry. Every round times each entry once, starting one
    place further along each round, so neither a slow moment of the machine nor a place in the
    order (caches warmed by the one before) favours an entry."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    labels = list(calls)
    seconds: dict[str, list[float]] = {label: [] for label in labels}
    for round_number in range(repeats):
        shift = round_number % len(labels)
        for label in labels[shift:] + labels[:shift]:
            start = time.perf_counter()
            calls[label]()
            seconds[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in seconds.items()}
