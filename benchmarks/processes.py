"""Whole-process timing, shared by the benchmarks that run netgen's command line."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def user_env() -> dict[str, str]:
    """The environment as a user's shell has it: Python writes and reads its bytecode caches, as it
    does for any installed package (some CI images switch that off, which would time compiling
    every module's source on every run instead)."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str]) -> tuple[float, int, float]:
    """Wall seconds, peak resident KiB and CPU seconds (user and system) of one process run from
    the repository's top. On a machine other work shares, the CPU seconds are what the process
    itself needed; the wall time also holds its waits for a core."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=user_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()}")
    return wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime
