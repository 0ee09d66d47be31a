"""`netgen bench`: measure a network's backends on this machine, batch size by batch size.

For each batch size every backend is prepared and called once (the first call: compiling, for
torch.compile), its logits are held to the plain module's, and then the backends are timed in
interleaved rounds after a warm-up: each round calls every backend once, starting one place
further along, so a slow moment of the machine touches every backend alike. Then one more call
of each measures its peak memory, and with per_layer the profiled module attributes the time to
the spec's rows.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from netgen.bench.candidates import (
    TRAINING_BACKENDS,
    Backend,
    BackendUnavailable,
    Models,
    Prepared,
    Settings,
    check_available,
    images,
    inference_call,
    placed,
    prepare,
    reference_logits,
    sgd,
    targets,
    training_step,
)
from netgen.bench.per_layer import profile_rows, row_table
from netgen.bench.subject import Subject
from netgen.bench.timing import interleaved_timings
from netgen.ir.graph import Graph
from netgen.ir.ops import OpKind

# The logits of every inference backend must equal the plain module's in float32 on the CPU
# within this share of their largest magnitude: GPUs' TF32 convolutions and folded batch norm
# round differently, and a wrong network differs by the whole magnitude. bfloat16 keeps 8 bits.
AGREEMENT = {"float32": 1e-2, "bfloat16 autocast": 0.25}


@dataclass(frozen=True)
class Plan:
    batches: tuple[int, ...]
    backends: tuple[Backend, ...]
    settings: Settings
    repeats: int
    warmup: int  # calls before the timed ones, the first call included
    per_layer: bool = False
    profile_calls: int = 3
    skipped: tuple[tuple[Backend, str], ...] = field(default=())

    @property
    def mode(self) -> str:
        return "train" if self.settings.train else "inference"

    @property
    def calls(self) -> int:
        """Every call the run makes, for a progress bar."""
        per_backend = self.warmup + self.repeats + 1  # warm-up (first call included), timed, memory
        per_batch = len(self.backends) * per_backend + (1 + self.profile_calls if self.per_layer else 0)
        return len(self.batches) * per_batch


def training_batch_problem(graph: Graph, batches: tuple[int, ...]) -> str | None:
    """Why a training step cannot run at one of `batches`, or None: batch norm in training mode
    needs more than one value per channel, which a batch of one lacks after a global pool."""
    if min(batches) > 1 or not any(_normalises(node) for node in graph.nodes()):
        return None
    return "--train needs batches of 2 or more: this network has batch norm, which in training mode needs more than one value per channel"


def _normalises(node) -> bool:
    return node.kind is OpKind.BATCHNORM or (node.kind is OpKind.CONV and node.attrs.bn_eps is not None)


def choose_backends(
    subject: Subject, requested: list[Backend] | None, settings: Settings, quick: bool
) -> tuple[tuple[Backend, ...], tuple[tuple[Backend, str], ...]]:
    """The backends to run and those left out, with why. A backend asked for by name that cannot
    run raises BackendUnavailable; of the default set, those that cannot run are left out."""
    if requested is not None:
        for backend in requested:
            check_available(backend, subject, settings)
        return tuple(dict.fromkeys(requested)), ()
    chosen, skipped = [], []
    for backend in TRAINING_BACKENDS if settings.train else tuple(Backend):
        if quick and backend is Backend.COMPILE:
            skipped.append((backend, "left out by --quick: compiling takes minutes on a CPU; --backend adds it"))
            continue
        try:
            check_available(backend, subject, settings)
        except BackendUnavailable as exc:
            skipped.append((backend, str(exc)))
            continue
        chosen.append(backend)
    return tuple(chosen), tuple(skipped)


def bench(subject: Subject, plan: Plan, on_call: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure every backend of `plan` at every batch size; the result is `netgen bench --json`'s."""
    settings = plan.settings
    torch.set_num_threads(settings.threads)
    if settings.device == "cuda":
        torch.backends.cudnn.benchmark = True  # static shapes: let cuDNN pick its fastest algorithms
    heard = on_call or (lambda _description: None)
    models = Models(subject, settings)
    load_before = os.getloadavg()
    results, per_layer = [], []
    for batch in plan.batches:
        results += _measure_batch(subject, plan, models, batch, heard)
        if plan.per_layer:
            per_layer.append(_per_layer(subject, plan, batch, heard))
    return {
        "name": subject.name,
        "input": list(subject.input),
        "mode": plan.mode,
        "device": settings.device,
        "machine": machine(settings.device),
        "threads": settings.threads,
        "precision": "bfloat16 autocast" if settings.bf16 else "float32",
        "channels_last": settings.channels_last,
        "batches": list(plan.batches),
        "repeats": plan.repeats,
        "warmup": plan.warmup,
        "macs_per_image": subject.macs_train if settings.train else subject.macs,
        "flops_per_mac": 6 if settings.train else 2,
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "versions": versions(),
        "results": results,
        "skipped": [{"backend": backend.value, "label": backend.label, "reason": why} for backend, why in plan.skipped],
        "per_layer": per_layer,
    }


def _measure_batch(subject: Subject, plan: Plan, models: Models, batch: int, heard) -> list[dict[str, Any]]:
    settings = plan.settings
    reference = None if settings.train else reference_logits(subject, batch, settings)
    prepared: dict[Backend, Prepared] = {}
    results: dict[Backend, dict[str, Any]] = {}
    for backend in plan.backends:
        result = results[backend] = {"backend": backend.value, "label": backend.label, "batch": batch, "ok": False}
        heard(f"batch {batch}: {backend.label}{' (compiling)' if backend is Backend.COMPILE else ''}")
        try:
            ready = prepare(models, backend, batch)
            start = time.perf_counter()
            output = ready.call()
            result["first_call_ms"] = (time.perf_counter() - start) * 1e3
            result["precision"] = ready.precision
            if reference is not None:
                result["max_difference"] = _difference(subject.logits(output), reference)
                if result["max_difference"] > AGREEMENT[ready.precision]:
                    result["error"] = (
                        f"its logits differ from the plain module's by {result['max_difference']:.2g} of their "
                        f"largest magnitude (allowed: {AGREEMENT[ready.precision]:g})"
                    )
                    continue
        except Exception as exc:  # noqa: BLE001 - a backend that fails here is reported, the others still run
            result["error"] = f"{type(exc).__name__}: {first_line(exc)}"
            continue
        prepared[backend] = ready
    calls = {backend: ready.call for backend, ready in prepared.items()}
    timings = interleaved_timings(
        calls, plan.repeats, max(plan.warmup - 1, 0), on_call=lambda backend: heard(f"batch {batch}: {backend.label}")
    )
    flops = (6 if settings.train else 2) * (subject.macs_train if settings.train else subject.macs) * batch
    for backend, ready in prepared.items():
        timing, result = timings[backend], results[backend]
        first, third = timing.quartiles
        heard(f"batch {batch}: {backend.label} (memory)")
        memory = ready.memory()
        result.update(
            ok=True,
            median_ms=timing.median * 1e3,
            q1_ms=first * 1e3,
            q3_ms=third * 1e3,
            iqr_ms=timing.iqr * 1e3,
            samples=len(timing.seconds),
            images_per_s=batch / timing.median,
            gflops=flops / timing.median / 1e9,
            peak_memory_bytes=memory.bytes,
            memory_method=memory.method,
        )
        if backend is Backend.COMPILE:
            result["compile_s"] = max(result["first_call_ms"] / 1e3 - timing.median, 0.0)
    return [results[backend] for backend in plan.backends]


def _per_layer(subject: Subject, plan: Plan, batch: int, heard) -> dict[str, Any]:
    """The profiled module run as the eager backend runs, its time attributed to the spec's rows."""
    settings = plan.settings
    model = placed(subject.profiled(), settings)
    model.train(settings.train)
    x = images(subject, batch, settings)
    if settings.train:
        call = training_step(model, sgd(model), subject, x, targets(subject, batch, settings), settings)
    else:
        call = inference_call(model, x, settings)
    heard(f"batch {batch}: per layer (warm-up)")
    call()
    ranges = {
        subject.range_prefix + row["name"]: row["name"] for row in [*subject.summary["rows"], *subject.summary["heads"]]
    }
    row_ms, call_ms = profile_rows(call, ranges, plan.profile_calls, settings.device, settings.train)
    for _ in range(plan.profile_calls):
        heard(f"batch {batch}: per layer")
    return row_table(subject.summary, row_ms, call_ms, batch, plan.mode, subject.heads_in_eval)


def _difference(output, reference: torch.Tensor) -> float:
    """The largest difference from the reference logits, as a share of their largest magnitude."""
    difference = (output.detach().float().cpu() - reference).abs().max().item()
    return difference / max(reference.abs().max().item(), 1e-12)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def machine(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            name = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name}, {os.cpu_count()} logical cores"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        import onnxruntime

        found["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        found["cuda"] = torch.version.cuda or ""
    return found
