"""What `netgen check` costs next to the usual way of checking a network's shapes: wall time of
whole processes, `netgen check specs/googlenet.yaml` against `python benchmarks/handwritten_googlenet.py`
(import torch, build GoogLeNet, one forward pass of one image), medians of interleaved repeats.
The target is a ratio check/handwritten of at most 0.10.

    python benchmarks/startup.py                 # 5 repeats
    python benchmarks/startup.py --repeats 11
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes import timed  # noqa: E402

TARGET_RATIO = 0.10

COMMANDS = {
    "netgen check": [sys.executable, "-m", "netgen", "check", "specs/googlenet.yaml"],
    "handwritten": [sys.executable, "benchmarks/handwritten_googlenet.py"],
}


def wall_seconds(command: list[str]) -> float:
    return timed(command)[0]


def measure(repeats: int) -> dict[str, float]:
    """Median wall seconds of each command."""
    walls: dict[str, list[float]] = {label: [] for label in COMMANDS}
    for command in COMMANDS.values():
        wall_seconds(command)  # untimed: the first run writes the bytecode caches every later run reads
    for _ in range(repeats):  # interleaved: a slow moment of the machine touches both commands
        for label, command in COMMANDS.items():
            walls[label].append(wall_seconds(command))
    return {label: statistics.median(values) for label, values in walls.items()}


def report(medians: dict[str, float], repeats: int) -> float:
    """Print the table; return the ratio check/handwritten."""
    print(f"whole-process wall time, median of {repeats}")
    print(f"{'command':<14}  {'seconds':>8}")
    for label, seconds in medians.items():
        print(f"{label:<14}  {seconds:>8.3f}")
    ratio = medians["netgen check"] / medians["handwritten"]
    print(f"ratio check/handwritten: {ratio:.3f} (target <= {TARGET_RATIO:.2f})")
    return ratio


def run(repeats: int = 5) -> float:
    return report(measure(repeats), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    run(args.repeats)


if __name__ == "__main__":
    main()
