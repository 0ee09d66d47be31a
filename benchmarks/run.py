"""Every benchmark in one go: scaling.py, startup.py, editor.py, eager.py and onnx_runtime.py,
each printing its table; at the end one summary of what each measures against its target.

    python benchmarks/run.py            # each benchmark at its default sizes and repeats
    python benchmarks/run.py --quick    # a smoke run: few repeats, small sizes
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import editor  # noqa: E402
import scaling  # noqa: E402
import startup  # noqa: E402

# eager and onnx_runtime import torch, so they are imported once scaling has run: a process
# forked from one holding torch would count torch's memory in its peak.


@dataclass
class Settings:
    scaling_sizes: list[int]
    scaling_repeats: int
    startup_repeats: int
    editor_edits: int
    eager_batches: list[int]
    eager_repeats: int
    onnx_batches: list[int]
    onnx_repeats: int
    peak_runs: int


FULL = Settings([10, 100, 1000, 3000, 10000], 3, 5, 60, [1, 32], 20, [1, 8], 20, 10)
QUICK = Settings([10, 100, 300], 1, 2, 10, [1, 8], 3, [1, 8], 3, 3)


@dataclass
class Row:
    benchmark: str
    measured: str
    target: str
    met: bool


def print_load(when: str) -> None:
    # Two threads on a two-core machine: any other busy process makes the numbers meaningless.
    print(f"load average over the last minute {when}: {os.getloadavg()[0]:.2f}", flush=True)


def section(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def scaling_rows(sizes: list[int], repeats: int) -> list[Row]:
    measured = scaling.run(sizes, repeats)
    rows = [
        Row(
            f"scaling: {command} growth exponent{what}",
            f"{exponent:.2f}",
            f"<= {scaling.TARGET_EXPONENT:.1f}",
            exponent <= scaling.TARGET_EXPONENT,
        )
        for key, what in (("exponents", ""), ("cpu_exponents", " (CPU time)"))
        for command, exponent in measured[key].items()
    ]
    largest = max(sizes)
    seconds = measured["results"]["check", largest][0]
    rows.append(
        Row(
            f"scaling: check of {largest:,} modules (s)",
            f"{seconds:.1f}",
            f"< {scaling.TARGET_CHECK_SECONDS:.0f}" if largest == 10_000 else "(at 10,000)",
            seconds < scaling.TARGET_CHECK_SECONDS,
        )
    )
    return rows


def startup_rows(repeats: int) -> list[Row]:
    ratio = startup.run(repeats)
    return [
        Row(
            "startup: check/handwritten",
            f"{ratio:.3f}",
            f"<= {startup.TARGET_RATIO:.2f}",
            ratio <= startup.TARGET_RATIO,
        )
    ]


def editor_rows(edits: int) -> list[Row]:
    return [
        Row(f"editor: {row.spec} {row.place}, median ms", f"{row.median_ms:.1f}", f"<= {row.target_ms:.0f}", row.met)
        for row in editor.run(edits)
    ]


def eager_rows(batches: list[int], repeats: int) -> list[Row]:
    import eager

    low, high = eager.TARGET
    rows = []
    for batch, ratios in eager.run(batches, repeats).items():
        for label, ratio in ratios.items():
            # The plain module must match hand-written code; the optimized one should beat it.
            target, met = (
                (f"{low:.2f} to {high:.2f}", low <= ratio <= high) if label == "generated" else ("< 1.00", ratio < 1.0)
            )
            rows.append(Row(f"eager batch {batch}: {label}/handwritten", f"{ratio:.3f}", target, met))
    return rows


def onnx_rows(batches: list[int], repeats: int, peak_runs: int) -> list[Row]:
    import onnx_runtime

    result = onnx_runtime.run(batches, repeats, peak_runs=peak_runs)
    netgen_labels = [label for label in next(iter(result.medians.values())) if label != "torch export"]
    rows = [
        Row(
            f"onnx batch {batch}: {label}/torch export ({result.exporter})",
            f"{result.ratio(batch, label):.3f}",
            f"<= {onnx_runtime.TARGET_RATIO:.1f}",
            result.ratio(batch, label) <= onnx_runtime.TARGET_RATIO,
        )
        for batch in batches
        for label in netgen_labels
    ]
    peak_batch = onnx_runtime.TARGET_PEAK_BATCH
    if peak_batch in batches:
        target = onnx_runtime.TARGET_PEAK_SHARE
        for label in netgen_labels:
            share = result.peak_share(peak_batch, label)
            rows.append(
                Row(
                    f"onnx batch {peak_batch}: {label} share of matmul peak",
                    f"{share:.0%}",
                    f">= {target:.0%}",
                    share >= target,
                )
            )
    return rows


def print_summary(rows: list[Row]) -> None:
    section("summary")
    width = max(len(row.benchmark) for row in rows)
    print(f"{'benchmark':<{width}}  {'measured':>8}  {'target':>12}  met?")
    for row in rows:
        print(f"{row.benchmark:<{width}}  {row.measured:>8}  {row.target:>12}  {'yes' if row.met else 'no'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repeats and small sizes, for a smoke run")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    print_load("before")
    section("scaling")
    rows = scaling_rows(settings.scaling_sizes, settings.scaling_repeats)
    section("startup")
    rows += startup_rows(settings.startup_repeats)
    section("editor")
    rows += editor_rows(settings.editor_edits)
    section("eager")
    rows += eager_rows(settings.eager_batches, settings.eager_repeats)
    section("onnx runtime")
    rows += onnx_rows(settings.onnx_batches, settings.onnx_repeats, settings.peak_runs)
    print_summary(rows)
    print_load("after")


if __name__ == "__main__":
    main()
