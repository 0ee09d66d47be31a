"""`netgen bench --per-layer`: measured time per row of the spec, beside the row's multiply-adds.

The module built with `--profile` runs each row of forward() inside a torch.profiler range
named <Class>.<row>. Under the profiler, a row's time is its range's: wall time on a CPU, the
GPU kernels it launched on a GPU. In a training step, the backward of every op is matched to
the row whose range ran its forward (the autograd engine records the forward op's sequence
number on the backward function), so a row's time is its forward and its backward.

Rows are the spec's top-level layers, in order, and in a training step its heads (in eval mode
too where `outputs: {when: always}` runs them there). A row that forward() does not run (a final
softmax, which predict() applies; the heads in eval mode) has no time. What no row holds (the
loss, the optimizer step, the input transform, the profiler's own bookkeeping) is reported as
time outside the rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from netgen.bench.memory import quiet_native_stderr

BACKWARD_PREFIX = "autograd::engine::evaluate_function: "
# A row is named as costing far more than its multiply-adds say when its share of the time is at
# least FAR_ABOVE times its share of the multiply-adds, and at least MIN_SHARE of the time (below
# that, a row is too small to be worth a designer's attention whatever its ratio).
FAR_ABOVE = 2.0
MIN_SHARE = 0.02
# Floating-point operations per multiply-add: one forward pass, and a training step (the backward
# pass computes two products per forward one: the input's gradient and the weights').
FLOPS_PER_MAC = {"inference": 2, "train": 6}


def profile_rows(
    call: Callable[[], Any], ranges: dict[str, str], calls: int, device: str, train: bool
) -> tuple[dict[str, float], float]:
    """Milliseconds per call of each row that ran (by row name), and of the whole call, over `calls`
    calls under the profiler. `ranges` maps a profiler range's name to its row."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with quiet_native_stderr(), profile(activities=activities) as profiler:
        start = time.perf_counter()
        for _ in range(calls):
            call()
        wall = time.perf_counter() - start
    events = profiler.events()

    def spent(event) -> float:  # microseconds
        return event.device_time_total if device == "cuda" else event.cpu_time_total

    totals: dict[str, float] = {}
    forward_row: dict[int, str] = {}  # sequence number of a forward op -> its row
    for event in events:
        row = ranges.get(event.name)
        if row is not None:
            totals[row] = totals.get(row, 0.0) + spent(event)
    if train:
        for event in events:
            if event.sequence_nr < 0 or event.name.startswith(BACKWARD_PREFIX):
                continue
            row = _enclosing_row(event, ranges)
            if row is not None:
                forward_row.setdefault(event.sequence_nr, row)
        for event in events:
            if event.name.startswith(BACKWARD_PREFIX) and event.sequence_nr in forward_row:
                row = forward_row[event.sequence_nr]
                totals[row] = totals.get(row, 0.0) + spent(event)
    return {row: micros / 1e3 / calls for row, micros in totals.items()}, wall * 1e3 / calls


def _enclosing_row(event, ranges: dict[str, str]) -> str | None:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name in ranges:
            return ranges[parent.name]
        parent = parent.cpu_parent
    return None


def row_table(
    summary: dict[str, Any],
    row_ms: dict[str, float],
    call_ms: float,
    batch: int,
    mode: str,
    heads_in_eval: bool = False,
) -> dict[str, Any]:
    """The per-layer table of one batch size: each row of the summary (and, training or where
    forward() runs them in eval mode too, each head) with its multiply-adds, measured
    milliseconds, shares and achieved GFLOP/s."""
    heads = summary["heads"] if mode == "train" or heads_in_eval else []
    rows = [*summary["rows"], *heads]
    measured = [row for row in rows if row["name"] in row_ms]
    total_ms = sum(row_ms[row["name"]] for row in measured)
    total_macs = sum(row["macs"] for row in measured)
    flops_per_mac = FLOPS_PER_MAC[mode]
    out = []
    for row in rows:
        ms = row_ms.get(row["name"])
        entry = {
            "name": row["name"],
            "type": row["type"],
            "patch": row["patch"],
            "output": row["output"],
            "head": any(row is head for head in heads),
            "macs": row["macs"],
            "ms": ms,
            "time_share": ms / total_ms if ms is not None and total_ms else None,
            "mac_share": row["macs"] / total_macs if ms is not None and total_macs else None,
            "gflops": flops_per_mac * row["macs"] * batch / (ms / 1e3) / 1e9 if ms and row["macs"] else None,
        }
        entry["far_above"] = _far_above(entry)
        out.append(entry)
    return {
        "batch": batch,
        "rows": out,
        "rows_ms": total_ms,
        "call_ms": call_ms,
        "outside_ms": max(call_ms - total_ms, 0.0),
        "far_above": [entry["name"] for entry in out if entry["far_above"]],
        "not_run": [entry["name"] for entry in out if entry["ms"] is None],
    }


def _far_above(entry: dict[str, Any]) -> bool:
    share, mac_share = entry["time_share"], entry["mac_share"]
    if share is None or share < MIN_SHARE:
        return False
    return share >= FAR_ABOVE * mac_share
