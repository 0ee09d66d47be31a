"""How `netgen check` grows with the network: wall time (median of interleaved repeats) and peak
memory of whole `netgen check` processes on synthetic specs of N Inception modules, and the
growth exponent fitted over the sizes from 100 up.

    python benchmarks/scaling.py                 # 10, 100, 1000 and 2500 modules, 3 repeats
    python benchmarks/scaling.py 10 100 --repeats 5

Each module holds about 177,000 float32 weights (708 KB), so one ONNX file (2 GiB) holds at most
about 2,900 of them, and `check` refuses more, as `build` would.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import synthetic_spec  # noqa: E402


def timed(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak resident KiB of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()}")
    return wall, usage.ru_maxrss


def fitted_exponent(sizes: list[int], seconds: list[float]) -> float:
    """Slope of log(time) against log(size): 1.0 is linear."""
    xs, ys = [math.log(size) for size in sizes], [math.log(value) for value in seconds]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10, 100, 1000, 2500])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for size in args.sizes:
            paths[size] = Path(folder) / f"synthetic-{size}.yaml"
            paths[size].write_text(synthetic_spec(size), encoding="utf-8")
        walls: dict[int, list[float]] = {size: [] for size in args.sizes}
        peaks: dict[int, int] = dict.fromkeys(args.sizes, 0)
        for _ in range(args.repeats):  # interleaved: a slow moment of the machine touches every size
            for size in args.sizes:
                wall, peak = timed([sys.executable, "-m", "netgen", "check", str(paths[size])])
                walls[size].append(wall)
                peaks[size] = max(peaks[size], peak)
    print(f"{'modules':>8}  {'check s':>8}  {'peak MiB':>8}")
    medians = {size: statistics.median(values) for size, values in walls.items()}
    for size in args.sizes:
        print(f"{size:>8}  {medians[size]:>8.2f}  {peaks[size] / 1024:>8.0f}")
    fitted = [size for size in args.sizes if size >= 100]
    if len(fitted) >= 2:
        # Each process also pays a fixed start-up (imports); subtracting the smallest size's time
        # leaves the part that grows with the network.
        base = medians[min(args.sizes)]
        growth = [max(medians[size] - base, 1e-3) for size in fitted]
        print(f"growth exponent over {fitted[0]}..{fitted[-1]} modules (start-up removed): {fitted_exponent(fitted, growth):.2f}")


if __name__ == "__main__":
    main()
