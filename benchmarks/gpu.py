"""Training throughput and inference latency on a GPU: GoogLeNet-BN, Inception-v3 and the fastest
of the other shipped specs, beside the hand-written GoogLeNet (benchmarks/handwritten_googlenet.py,
the same network as GoogLeNet-BN). Training: images/s of a step (forward, training loss with the
auxiliary heads, backward, SGD) at batch 256 under bfloat16 autocast with channels_last, eager
and torch.compile (compile time apart). Inference: milliseconds of a forward pass at batch 1,
same settings, eager, torch.compile and `build --optimize`. Every number is measured by
`netgen bench`'s code (netgen/bench), backends interleaved; the script prints a Markdown table
for BENCHMARKS.md.

    python benchmarks/gpu.py                        # on a machine with a GPU, a few minutes
    python benchmarks/gpu.py --json gpu.json        # also every measurement as JSON
    python benchmarks/gpu.py --quick                # a smoke run anywhere, CPU included
    python benchmarks/gpu.py --quick --input 3,64,64 --fastest-of   # a smaller one

The fastest other spec is found by timing a few eager training steps of each other shipped spec
(--fastest-of names others; --fastest-of with no spec skips the search). --quick runs batch 2,
one warm-up and two timed calls, and on a CPU compiles with torch.compile's 'eager' backend
(TorchDynamo only: inductor's C++ compile takes minutes there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from netgen.bench.candidates import Backend, Settings
from netgen.bench.run import Plan, bench, machine
from netgen.bench.subject import Subject, built_subject, randomize
from netgen.build import output_stem
from netgen.compile import compile_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from handwritten_googlenet import GoogLeNet  # noqa: E402

SPECS = [ROOT / "specs" / "googlenet-bn.yaml", ROOT / "specs" / "inception-v3.yaml"]
HANDWRITTEN_AS = ROOT / "specs" / "googlenet-bn.yaml"  # the spec the hand-written model equals
AUX_WEIGHT = 0.3  # torchvision's GoogLeNet training recipe


@dataclass(frozen=True)
class Setup:
    train_batch: int
    infer_batch: int
    repeats: int
    warmup: int
    screen_repeats: int
    device: str
    compile_backend: str
    threads: int


def setup(args: argparse.Namespace) -> Setup:
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    threads = args.threads or torch.get_num_threads()
    if args.quick:
        backend = "eager" if device == "cpu" else "inductor"
        return Setup(2, 1, 2, 1, 1, device, args.compile_backend or backend, threads)
    return Setup(256, 1, 20, 3, 3, device, args.compile_backend or "inductor", threads)


def handwritten_subject(input_size: tuple[int, int, int] | None) -> Subject:
    """The hand-written GoogLeNet, with the multiply-adds of the spec it equals."""
    spec, graph = compile_file(str(HANDWRITTEN_AS), input_size)
    from netgen.summary import summarize

    totals = summarize(spec, graph)["totals"]

    def make() -> torch.nn.Module:
        torch.manual_seed(0)
        return randomize(GoogLeNet())

    def loss(outputs, target: torch.Tensor) -> torch.Tensor:
        if isinstance(outputs, torch.Tensor):
            return F.cross_entropy(outputs, target)
        logits, aux2, aux1 = outputs
        heads = F.cross_entropy(aux1, target) + F.cross_entropy(aux2, target)
        return F.cross_entropy(logits, target) + AUX_WEIGHT * heads

    return Subject(
        "GoogLeNet (hand-written)",
        make,
        loss,
        tuple(spec.input),
        spec.num_classes,
        totals["macs"],
        totals["macs_with_heads"],
    )


def spec_subject(path: Path, folder: Path, input_size: tuple[int, int, int] | None) -> Subject:
    spec, graph = compile_file(str(path), input_size)
    out = Path(tempfile.mkdtemp(prefix=path.stem, dir=folder))
    return built_subject(spec, graph, output_stem(str(path)), out, profile=False)


def settings(setup: Setup, train: bool) -> Settings:
    return Settings(setup.device, train, True, True, setup.threads, setup.compile_backend)


def measure(subject: Subject, setup: Setup) -> dict:
    """Training at the training batch (eager, compile), then inference at batch 1 (and --optimize)."""
    train = Plan(
        (setup.train_batch,), (Backend.EAGER, Backend.COMPILE), settings(setup, True), setup.repeats, setup.warmup
    )
    infer_backends = (Backend.EAGER, Backend.COMPILE) + ((Backend.OPTIMIZE,) if subject.from_plain else ())
    infer = Plan((setup.infer_batch,), infer_backends, settings(setup, False), setup.repeats, setup.warmup)
    print(f"measuring {subject.name}", file=sys.stderr, flush=True)
    return {"train": bench(subject, train), "inference": bench(subject, infer)}


def fastest(paths: list[Path], setup: Setup, folder: Path, input_size) -> Path | None:
    """The spec whose eager training step gives the most images/s, by a short run of each."""
    best, best_rate = None, 0.0
    for path in paths:
        subject = spec_subject(path, folder, input_size)
        plan = Plan((setup.train_batch,), (Backend.EAGER,), settings(setup, True), setup.screen_repeats, 1)
        row = bench(subject, plan)["results"][0]
        rate = row["images_per_s"] if row["ok"] else 0.0
        print(f"screen: {path.name}: {rate:.1f} images/s", file=sys.stderr, flush=True)
        if rate > best_rate:
            best, best_rate = path, rate
    return best


def cell(result: dict, backend: str, key: str, scale: float = 1.0, digits: int = 1) -> str:
    row = next((row for row in result["results"] if row["backend"] == backend), None)
    if row is None:
        return ""
    if not row["ok"]:
        return "failed"
    return f"{row[key] * scale:.{digits}f}"


def table(measured: dict[str, dict], setup: Setup) -> str:
    b = setup.train_batch
    lines = [
        f"| network | train img/s, batch {b} | train img/s, compiled | compile s | infer ms, batch {setup.infer_batch} "
        "| infer ms, compiled | infer ms, --optimize | train peak GiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, result in measured.items():
        train, infer = result["train"], result["inference"]
        lines.append(
            f"| {name} | {cell(train, 'eager', 'images_per_s')} | {cell(train, 'compile', 'images_per_s')} "
            f"| {cell(train, 'compile', 'compile_s')} | {cell(infer, 'eager', 'median_ms', digits=2)} "
            f"| {cell(infer, 'compile', 'median_ms', digits=2)} | {cell(infer, 'optimize', 'median_ms', digits=2)} "
            f"| {cell(train, 'eager', 'peak_memory_bytes', 2**-30, 2)} |"
        )
    return "\n".join(lines)


def image_size(text: str) -> tuple[int, int, int]:
    channels, height, width = (int(part) for part in text.split(","))
    return channels, height, width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("specs", nargs="*", type=Path, default=SPECS, help="specs to measure in full")
    parser.add_argument(
        "--fastest-of",
        nargs="*",
        type=Path,
        default=None,
        help="specs to find the fastest other among (default: the other shipped specs)",
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None)
    parser.add_argument(
        "--input",
        type=image_size,
        default=None,
        metavar="C,H,W",
        help="every network at this input size (default: each spec's own)",
    )
    parser.add_argument(
        "--compile-backend", default=None, help="torch.compile's backend (default: inductor; --quick on a CPU: eager)"
    )
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's, one per core)")
    parser.add_argument("--quick", action="store_true", help="batch 2, two timed calls: a smoke run")
    parser.add_argument("--json", type=Path, default=None, help="write every measurement here")
    args = parser.parse_args()
    chosen = setup(args)
    specs = [path.resolve() for path in args.specs]
    others = args.fastest_of
    if others is None:
        others = [path for path in sorted((ROOT / "specs").glob("*.yaml")) if path.resolve() not in specs]
    load_before = os.getloadavg()[0]
    measured: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="netgen-gpu-") as folder:
        best = fastest([path.resolve() for path in others], chosen, Path(folder), args.input) if others else None
        for path in [*specs, *([best] if best and best not in specs else [])]:
            label = f"{path.name}{' (fastest other)' if path == best else ''}"
            measured[label] = measure(spec_subject(path, Path(folder), args.input), chosen)
        measured["hand-written GoogLeNet"] = measure(handwritten_subject(args.input), chosen)
    print(
        f"{chosen.device}: {machine(chosen.device)}; torch {torch.__version__}; bfloat16 autocast, channels_last; "
        f"torch.compile backend {chosen.compile_backend}; median of {chosen.repeats} interleaved calls after "
        f"{chosen.warmup} warm-up; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print(table(measured, chosen))
    if args.json is not None:
        args.json.write_text(json.dumps(measured, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
