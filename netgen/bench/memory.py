"""Peak memory of one call: the most a backend holds at once while it runs a batch.

That is what it holds between calls (weights, buffers, optimizer state) plus the most its call
allocates on top at any moment (activations, workspaces, gradients), each read where it can be:

- PyTorch on a GPU: the CUDA caching allocator's peak counter;
- PyTorch on a CPU: the allocations and frees the profiler records (profile_memory), replayed;
- ONNX Runtime, which allocates through its own arena: how far a session, built and run once in
  a process of its own, raises that process's peak resident size.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

CUDA_ALLOCATOR = "CUDA allocator peak"
CPU_ALLOCATOR = "torch CPU allocations, profiled"
PROCESS_PEAK = "ONNX Runtime: peak resident size of a process running one session"


@dataclass(frozen=True)
class Memory:
    bytes: int | None
    method: str  # how it was measured, or why it was not


def torch_peak(call: Callable[[], Any], resident: int, device: str) -> Memory:
    """`resident` bytes plus the most `call` allocates on top of what was held before it."""
    if device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        call()
        torch.cuda.synchronize()
        return Memory(resident + torch.cuda.max_memory_allocated() - before, CUDA_ALLOCATOR)
    from torch.profiler import ProfilerActivity, profile

    with quiet_native_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        call()
    events = [event for event in profiler.profiler.kineto_results.events() if event.name() == "[memory]"]
    live = peak = 0
    for event in sorted(events, key=lambda event: event.start_ns()):
        live += event.nbytes()  # negative for a free
        peak = max(peak, live)
    return Memory(resident + peak, CPU_ALLOCATOR)


# Run in a process of its own, so that memory this process freed and keeps for reuse does not
# hide what the session takes: the growth of the peak resident size from after the imports to
# after one run. Linux carries a parent's peak across fork and exec, so there the peak restarts
# (clear_refs) from the resident size after the imports; elsewhere ru_maxrss (bytes on macOS).
_ONNXRUNTIME_PEAK = """
import re, resource, sys
import numpy, onnxruntime
path, threads, provider, shape = sys.argv[1], int(sys.argv[2]), sys.argv[3], [int(n) for n in sys.argv[4:]]
def status(field):
    with open("/proc/self/status") as lines:
        return int(re.search(field + r":\\s+(\\d+) kB", lines.read()).group(1)) * 1024
try:
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before, peak = status("VmRSS"), lambda: status("VmHWM")
except OSError:
    unit = 1 if sys.platform == "darwin" else 1024
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
    before = peak()
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = threads
session = onnxruntime.InferenceSession(path, options, providers=[provider])
session.run(None, {session.get_inputs()[0].name: numpy.zeros(shape, numpy.float32)})
print(peak() - before)
"""


def onnxruntime_peak(path: Path, shape: tuple[int, ...], threads: int, provider: str) -> Memory:
    """What an ONNX Runtime session of the model at `path` takes, built and run once on a batch of
    `shape`: its weights, its arena and its workspace."""
    if provider != "CPUExecutionProvider":
        return Memory(None, "not measured: ONNX Runtime reports no GPU memory")
    command = [sys.executable, "-c", _ONNXRUNTIME_PEAK, str(path), str(threads), provider, *map(str, shape)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
        return Memory(int(result.stdout.split()[-1]), PROCESS_PEAK)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        return Memory(None, f"not measured: {type(exc).__name__}")


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """The profiler's native library writes lines of its own (`USDT: ... profiler_start`) straight to
    the process's standard error; they are caught here, and anything else it writes is passed on."""
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor, as under pytest
        yield
        return
    sys.stderr.flush()
    saved = os.dup(descriptor)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), descriptor)
        try:
            yield
        finally:
            os.dup2(saved, descriptor)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().splitlines(keepends=True) if not re.match(rb"(USDT|STAGE):", line)]
            if kept:
                os.write(descriptor, b"".join(kept))
