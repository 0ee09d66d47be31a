"""Interleaved timing of in-process calls, shared by `netgen bench` and the scripts in benchmarks/."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds of the timed calls of one candidate."""

    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def quartiles(self) -> tuple[float, float]:
        """The first and third quartile (the median of one sample is its only value)."""
        if len(self.seconds) < 2:
            return self.seconds[0], self.seconds[0]
        first, _, third = statistics.quantiles(self.seconds, n=4, method="inclusive")
        return first, third

    @property
    def iqr(self) -> float:
        first, third = self.quartiles
        return third - first


def interleaved_timings(
    calls: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int = 2,
    on_call: Callable[[str], None] | None = None,
) -> dict[str, Timing]:
    """The timed calls of each entry after `warmup` untimed ones. Every round times each entry
    once, starting one place further along each round, so neither a slow moment of the machine
    nor a place in the order (caches warmed by the one before) favours an entry. `on_call` hears
    of every call, timed or not, by its entry's label (a progress bar)."""
    for label, call in calls.items():
        for _ in range(warmup):
            call()
            if on_call is not None:
                on_call(label)
    labels = list(calls)
    seconds: dict[str, list[float]] = {label: [] for label in labels}
    for round_number in range(repeats):
        shift = round_number % len(labels)
        for label in labels[shift:] + labels[:shift]:
            start = time.perf_counter()
            calls[label]()
            seconds[label].append(time.perf_counter() - start)
            if on_call is not None:
                on_call(label)
    return {label: Timing(tuple(values)) for label, values in seconds.items()}


def interleaved_medians(calls: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds of one call of each entry, timed as interleaved_timings() times them."""
    return {label: timing.median for label, timing in interleaved_timings(calls, repeats, warmup).items()}
