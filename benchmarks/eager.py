"""Eager PyTorch inference: the generated googlenet_bn (generated/googlenet_bn.py) against the
hand-written GoogLeNet (benchmarks/handwritten_googlenet.py) with the same weights, eval mode,
torch.no_grad(), 2 threads; median milliseconds of a forward pass per batch size, from
interleaved repeats after a warm-up. The target is a ratio generated/handwritten of 0.98 to 1.02.

    python benchmarks/eager.py                   # batches 1 and 32, 20 repeats
    python benchmarks/eager.py --batches 1 8 --repeats 5

Another build of a network joins as one more entry of CANDIDATES: a label and a factory that
takes the shared state_dict and returns the model to run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from netgen.bench.timing import interleaved_medians

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import (  # noqa: E402
    generated_googlenet_bn,
    handwritten_googlenet,
    images,
    optimized_googlenet_bn,
    shared_weights,
    with_weights,
)

THREADS = 2
TOLERANCE = 1e-4  # the optimized build folds batch norm, which reorders float32 arithmetic
TARGET = (0.98, 1.02)

Factory = Callable[[dict[str, torch.Tensor]], nn.Module]

# The first entry is the baseline every other column is divided by.
CANDIDATES: list[tuple[str, Factory]] = [
    ("handwritten", lambda weights: with_weights(handwritten_googlenet(), weights)),
    ("generated", lambda weights: with_weights(generated_googlenet_bn(), weights)),
    # netgen build --optimize: from_plain() of the same weights (folded, fused, channels_last)
    ("optimized", optimized_googlenet_bn),
]


def check_outputs_agree(models: dict[str, nn.Module]) -> None:
    """Every model gives the baseline's logits on one random batch, or nothing is timed."""
    batch = images(2, seed=1)
    with torch.no_grad():
        outputs = {label: model(batch) for label, model in models.items()}
    baseline_label, baseline = next(iter(outputs.items()))
    for label, output in outputs.items():
        torch.testing.assert_close(
            output,
            baseline,
            atol=TOLERANCE,
            rtol=TOLERANCE,
            msg=lambda message, label=label: f"{label} vs {baseline_label}: {message}",
        )


def forward_call(model: nn.Module, batch: torch.Tensor) -> Callable[[], object]:
    def call() -> object:
        with torch.no_grad():
            return model(batch)

    return call


def measure(batches: list[int], repeats: int) -> dict[int, dict[str, float]]:
    """Median seconds per forward pass, by batch size and then candidate label."""
    torch.set_num_threads(THREADS)
    weights = shared_weights()
    models = {label: factory(weights) for label, factory in CANDIDATES}
    check_outputs_agree(models)
    medians = {}
    for batch_size in batches:
        batch = images(batch_size)
        calls = {label: forward_call(model, batch) for label, model in models.items()}
        medians[batch_size] = interleaved_medians(calls, repeats)
    return medians


def report(medians: dict[int, dict[str, float]], repeats: int) -> dict[int, float]:
    """Print the table; return, per batch size, the ratios to the hand-written model."""
    labels = [label for label, _ in CANDIDATES]
    baseline = labels[0]
    others = labels[1:]
    print(f"eager forward pass, ms, median of {repeats}, {THREADS} threads")
    header = f"{'batch':>5}" + "".join(f"  {label:>12}" for label in labels)
    header += "".join(f"  {label + '/' + baseline:>22}" for label in others)
    print(header)
    for batch_size, row in medians.items():
        line = f"{batch_size:>5}" + "".join(f"  {row[label] * 1e3:>12.1f}" for label in labels)
        line += "".join(f"  {row[label] / row[baseline]:>22.3f}" for label in others)
        print(line)
    print(f"target generated/{baseline}: {TARGET[0]:.2f} to {TARGET[1]:.2f}")
    return {batch_size: {label: row[label] / row[baseline] for label in others} for batch_size, row in medians.items()}


def run(batches: list[int], repeats: int) -> dict[int, dict[str, float]]:
    return report(measure(batches, repeats), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    run(args.batches, args.repeats)


if __name__ == "__main__":
    main()
