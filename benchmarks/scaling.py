"""How `netgen check` and `netgen build` grow with the network: wall time (median of
interleaved repeats) and peak memory of whole processes on synthetic specs of N Inception
modules (benchmarks/synthetic.py), and the growth exponent fitted over the sizes where growth shows.

    python benchmarks/scaling.py                       # 10, 100, 1,000, 3,000 and 10,000 modules, 3 repeats
    python benchmarks/scaling.py 10 100 --repeats 5 --no-build

Specs of more than 50,000 layers need `--max-layers`, which every run here passes.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes import timed  # noqa: E402
from synthetic import synthetic_spec  # noqa: E402


def fitted_exponent(sizes: list[int], seconds: list[float]) -> float:
    """Slope of log(time) against log(size): 1.0 is linear."""
    xs, ys = [math.log(size) for size in sizes], [math.log(value) for value in seconds]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)


def measure(sizes: list[int], repeats: int, commands: list[str]) -> dict[tuple[str, int], tuple[float, int, float]]:
    """(command, size) -> (median wall seconds, peak resident KiB, median CPU seconds)."""
    walls: dict[tuple[str, int], list[float]] = {}
    cpus: dict[tuple[str, int], list[float]] = {}
    peaks: dict[tuple[str, int], int] = {}
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for size in sizes:
            paths[size] = Path(folder) / f"synthetic_{size}.yaml"
            paths[size].write_text(synthetic_spec(size), encoding="utf-8")
        for _ in range(repeats):  # interleaved: a slow moment of the machine touches every size
            for size in sizes:
                for command in commands:
                    extra = ["--out", str(Path(folder) / f"out_{size}")] if command == "build" else []
                    run = [sys.executable, "-m", "netgen", command, str(paths[size]), "--max-layers", "1000000", *extra]
                    wall, peak, cpu = timed(run)
                    walls.setdefault((command, size), []).append(wall)
                    cpus.setdefault((command, size), []).append(cpu)
                    peaks[command, size] = max(peaks.get((command, size), 0), peak)
    return {key: (statistics.median(values), peaks[key], statistics.median(cpus[key])) for key, values in walls.items()}


def growth_exponent(sizes: list[int], seconds: dict[int, float]) -> tuple[float, list[int]] | None:
    """The exponent of the part of the time that grows with the network, and the sizes it is fitted
    over. Each process also pays a fixed start-up (imports), about the smallest size's time; only
    sizes whose growth above it is at least a quarter of it are fitted, as below that the
    difference is the machine's noise, not the network's."""
    base = seconds[min(sizes)]
    fitted = [size for size in sizes if seconds[size] - base >= 0.25 * base]
    if len(fitted) < 2:
        return None
    return fitted_exponent(fitted, [seconds[size] - base for size in fitted]), fitted


TARGET_EXPONENT = 1.1
TARGET_CHECK_SECONDS = 10.0  # for 10,000 modules


def run(sizes: list[int], repeats: int = 3, commands: tuple[str, ...] = ("check", "build")) -> dict:
    """Print the table; return the measurements and each command's growth exponent."""
    load = os.getloadavg()[0]
    results = measure(sizes, repeats, list(commands))
    print(
        f"whole-process wall time and CPU time (user + system), medians of {repeats}; peak resident memory; "
        f"load average over a minute {load:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    header = "".join(f"  {command + ' s':>9}  {command + ' CPU s':>11}  {command + ' MiB':>10}" for command in commands)
    print(f"{'modules':>8}{header}")
    for size in sizes:
        cells = "".join(
            f"  {results[command, size][0]:>9.2f}  {results[command, size][2]:>11.2f}  {results[command, size][1] / 1024:>10.0f}"
            for command in commands
        )
        print(f"{size:>8}{cells}")
    exponents, cpu_exponents = {}, {}
    for command in commands:
        for found, column, what in ((exponents, 0, "wall"), (cpu_exponents, 2, "CPU")):
            fit = growth_exponent(sizes, {size: results[command, size][column] for size in sizes})
            if fit is not None:
                found[command], fitted = fit
                shown = ", ".join(f"{size:,}" for size in fitted)
                print(f"{command}: growth exponent of {what} time over {shown} modules (start-up removed): {found[command]:.2f}")
    return {"results": results, "exponents": exponents, "cpu_exponents": cpu_exponents}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10, 100, 1000, 3000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-build", action="store_true", help="time check only")
    args = parser.parse_args()
    run(args.sizes, args.repeats, ("check",) if args.no_build else ("check", "build"))


if __name__ == "__main__":
    main()
