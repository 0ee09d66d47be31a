"""ONNX Runtime inference: the ONNX model `netgen build` writes for specs/googlenet-bn.yaml against
torch.onnx.export of the generated PyTorch module, both with the same weights, run by ONNX Runtime
on the CPU with 2 intra-op threads and its default graph optimisations (ORT_ENABLE_ALL). Prints
the median milliseconds of one run per batch size from interleaved repeats, the ratio
netgen/torch-export (target at most 1.0), and the achieved GFLOP/s (2 x multiply-adds of the
network without its auxiliary heads, from `netgen summary --json`, x batch / seconds) as a share
of a float32 matmul peak measured on the same 2 threads (target at batch 8: at least 75%).

    python benchmarks/onnx_runtime.py                     # batches 1 and 8, 20 repeats
    python benchmarks/onnx_runtime.py --batches 8 --repeats 5
    python benchmarks/onnx_runtime.py --exporter legacy   # TorchScript-based torch.onnx.export

torch.onnx.export's default exporter (dynamo=True) needs onnxscript, which the `bench` extra
installs (pip install -e '.[bench]'); without it, `--exporter auto` falls back to the legacy
TorchScript-based exporter (dynamo=False), deprecated but still in torch 2.13.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import logging
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from netgen.bench.timing import interleaved_medians

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import ROOT, generated_googlenet_bn, images, shared_weights, with_weights  # noqa: E402

SPEC = "specs/googlenet-bn.yaml"
THREADS = 2
TOLERANCE = 1e-4  # batch norm folded into the convolutions reorders float32 arithmetic
TARGET_RATIO = 1.0
TARGET_PEAK_SHARE = 0.75
TARGET_PEAK_BATCH = 8
MATMUL_SIZE = 2048
EXPORT_BATCH = 2  # an example batch of 1 could let the exporter treat the batch dimension as fixed


@dataclass
class OnnxResult:
    exporter: str
    peak_gflops: float
    macs: int
    medians: dict[int, dict[str, float]]  # batch -> label -> seconds

    def ratio(self, batch: int, label: str = "netgen") -> float:
        return self.medians[batch][label] / self.medians[batch]["torch export"]

    def gflops(self, batch: int, label: str) -> float:
        return 2 * self.macs * batch / self.medians[batch][label] / 1e9

    def peak_share(self, batch: int, label: str) -> float:
        return self.gflops(batch, label) / self.peak_gflops


def matmul_peak_gflops(runs: int, size: int = MATMUL_SIZE) -> float:
    """Best float32 GFLOP/s of size x size matmuls on THREADS threads: the ceiling convolutions can approach."""
    torch.set_num_threads(THREADS)
    left, right = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(left, right)  # warm-up: thread pool and allocations
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        torch.matmul(left, right)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def netgen(*arguments: str) -> str:
    """The standard output of `netgen ARGUMENTS`, run from the repository's root."""
    result = subprocess.run([sys.executable, "-m", "netgen", *arguments], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"netgen {' '.join(arguments)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def network_macs() -> int:
    """Multiply-adds of one image through the network without its auxiliary heads, which eval mode skips."""
    return json.loads(netgen("summary", SPEC, "--json"))["totals"]["macs"]


def netgen_onnx(folder: Path, weights: dict[str, torch.Tensor], *options: str) -> Path:
    """The ONNX model `netgen build [OPTIONS]` writes for SPEC, carrying `weights`."""
    folder.mkdir(exist_ok=True)
    weights_path = folder / "weights.pt"
    torch.save(weights, weights_path)
    netgen("build", SPEC, "--out", str(folder), "--weights", str(weights_path), *options)
    return folder / "googlenet_bn.onnx"


def exporter_to_use(choice: str) -> str:
    if choice != "auto":
        return choice
    return "dynamo" if importlib.util.find_spec("onnxscript") else "legacy"


@contextlib.contextmanager
def quiet_exporter():
    """Both exporters warn (deprecations, torchvision's ops it skips) and the dynamo one prints its
    progress; the table is what matters here."""
    exporter_logger = logging.getLogger("torch.onnx")
    level = exporter_logger.level
    exporter_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        exporter_logger.setLevel(level)


def torch_export_onnx(model: torch.nn.Module, path: Path, exporter: str) -> Path:
    """torch.onnx.export of `model`, with a dynamic batch dimension as netgen's model has."""
    example = (images(EXPORT_BATCH),)
    names = {"input_names": ["input"], "output_names": ["logits"]}
    with quiet_exporter():
        if exporter == "dynamo":
            batch = {0: torch.export.Dim("batch")}
            torch.onnx.export(model, example, path, dynamo=True, dynamic_shapes=(batch,), external_data=False, **names)
        else:
            batch = {0: "batch"}
            torch.onnx.export(
                model, example, path, dynamo=False, dynamic_axes={"input": batch, "logits": batch}, **names
            )
    return path


def describe(path: Path) -> str:
    model = onnx.load(path)
    opset = next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))
    return f"opset {opset}, {len(model.graph.node)} top-level nodes, local functions: {len(model.functions)}"


def onnx_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A function from a batch of images to the logits, run by an ONNX Runtime CPU session."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # the default, said out loud
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    model_input = session.get_inputs()[0]
    outputs = [output.name for output in session.get_outputs()]
    logits = "logits" if "logits" in outputs else outputs[0]  # a model may also offer probabilities
    fixed_batch = model_input.shape[0] if isinstance(model_input.shape[0], int) else None

    def run(batch: np.ndarray) -> np.ndarray:
        if fixed_batch is not None and batch.shape[0] != fixed_batch:
            raise SystemExit(f"{path.name} takes batches of {fixed_batch} only, not {batch.shape[0]}")
        return session.run([logits], {model_input.name: batch})[0]

    return run


def check_outputs_agree(runners: dict[str, Callable[[np.ndarray], np.ndarray]], model: torch.nn.Module) -> None:
    """Each ONNX model gives the PyTorch module's logits, or nothing is timed."""
    batch = images(EXPORT_BATCH, seed=1)
    with torch.no_grad():
        expected = model(batch)
    for label, run in runners.items():
        torch.testing.assert_close(
            torch.from_numpy(run(batch.numpy())),
            expected,
            atol=TOLERANCE,
            rtol=TOLERANCE,
            msg=lambda message, label=label: f"{label} vs PyTorch: {message}",
        )


def measure(batches: list[int], repeats: int, exporter: str, peak_runs: int) -> OnnxResult:
    peak = matmul_peak_gflops(peak_runs)
    macs = network_macs()
    weights = shared_weights()
    model = with_weights(generated_googlenet_bn(), weights)
    with tempfile.TemporaryDirectory() as folder:
        paths = {
            "netgen": netgen_onnx(Path(folder) / "plain", weights),
            "netgen --optimize": netgen_onnx(Path(folder) / "optimized", weights, "--optimize"),
            "torch export": torch_export_onnx(model, Path(folder) / "exported.onnx", exporter),
        }
        for label, path in paths.items():
            print(f"{label}: {describe(path)}")
        runners = {label: onnx_runner(path) for label, path in paths.items()}
    check_outputs_agree(runners, model)
    medians = {}
    for batch_size in batches:
        batch = images(batch_size).numpy()
        calls = {label: (lambda run=run, batch=batch: run(batch)) for label, run in runners.items()}
        medians[batch_size] = interleaved_medians(calls, repeats)
    return OnnxResult(exporter, peak, macs, medians)


def report(result: OnnxResult, repeats: int) -> None:
    print(
        f"ONNX Runtime {ort.__version__}, CPU, {THREADS} threads, median of {repeats}; "
        f"torch.onnx.export with the {result.exporter} exporter"
    )
    print(f"matmul peak ({MATMUL_SIZE}x{MATMUL_SIZE} float32, {THREADS} threads): {result.peak_gflops:.1f} GFLOP/s")
    print(f"multiply-adds per image (no auxiliary heads): {result.macs:,}")
    labels = list(next(iter(result.medians.values())))
    print(f"{'batch':>5}  {'model':<18}  {'ms':>8}  {'/export':>8}  {'GFLOP/s':>8}  {'% peak':>6}")
    for batch, row in result.medians.items():
        for label in labels:
            print(
                f"{batch:>5}  {label:<18}  {row[label] * 1e3:>8.1f}  {row[label] / row['torch export']:>8.3f}"
                f"  {result.gflops(batch, label):>8.1f}  {result.peak_share(batch, label):>6.0%}"
            )
    print(
        f"targets: netgen/export <= {TARGET_RATIO:.1f}; "
        f"netgen at batch {TARGET_PEAK_BATCH} >= {TARGET_PEAK_SHARE:.0%} of the matmul peak"
    )


def run(batches: list[int], repeats: int, exporter: str = "auto", peak_runs: int = 10) -> OnnxResult:
    result = measure(batches, repeats, exporter_to_use(exporter), peak_runs)
    report(result, repeats)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--exporter", choices=["auto", "dynamo", "legacy"], default="auto")
    parser.add_argument("--peak-runs", type=int, default=10, help="matmuls timed for the peak; the best counts")
    args = parser.parse_args()
    run(args.batches, args.repeats, args.exporter, args.peak_runs)


if __name__ == "__main__":
    main()
