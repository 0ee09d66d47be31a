"""How far the `--optimize` module is from the plain one, for each shipped spec, and from a
float64 run of the plain one: the measurement behind README's tolerance table and the stated
tolerances of tests/backends/test_inference.py.

Random weights (seed 5, the tests' `random_weights`), three inputs (seeds 6 to 8); each distance
is the largest absolute difference relative to the largest logit. The tolerance printed is the
largest distance times 4, rounded up to one significant digit.

    python benchmarks/tolerance.py                    # every spec in specs/
    python benchmarks/tolerance.py specs/googlenet.yaml
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from netgen.backends.layout import make_layout  # noqa: E402
from netgen.backends.pytorch import render_pytorch  # noqa: E402
from netgen.compile import compile_file  # noqa: E402
from tests.backends.conftest import import_source  # noqa: E402
from tests.backends.test_onnx import random_weights  # noqa: E402

MARGIN = 4


def relative(value: torch.Tensor, reference: torch.Tensor) -> float:
    return ((value.double() - reference.double()).abs().max() / reference.double().abs().max()).item()


def round_up(value: float) -> float:
    """Up to one significant digit: 3.4e-06 -> 4e-06."""
    exponent = math.floor(math.log10(value))
    return math.ceil(value / 10**exponent) * 10**exponent


def measure(spec_path: Path, folder: Path) -> tuple[float, float, float]:
    """(plain vs float64, --optimize vs float64, --optimize vs plain), the largest over the inputs."""
    spec, graph = compile_file(str(spec_path))
    layout = make_layout(spec, graph)
    _, module = import_source(render_pytorch(spec, graph, layout, optimize=True), folder, spec_path.stem.replace("-", "_"))
    network = getattr(module, layout.network_class)()
    network.load_state_dict({key: torch.from_numpy(value) for key, value in random_weights(layout, seed=5).items()})
    network.eval()
    fast = module.from_plain(network.state_dict())
    exact_network = copy.deepcopy(network).double()
    plain_error = optimized_error = between = 0.0
    with torch.no_grad():
        for seed in (6, 7, 8):
            x = torch.randn(1, *spec.input, generator=torch.Generator().manual_seed(seed))
            plain, optimized, exact = network(x), fast(x), exact_network(x.double())
            plain_error = max(plain_error, relative(plain, exact))
            optimized_error = max(optimized_error, relative(optimized, exact))
            between = max(between, relative(optimized, plain))
    return plain_error, optimized_error, between


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", type=Path, default=sorted((ROOT / "specs").glob("*.yaml")))
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| spec | plain float32 vs float64 | `--optimize` vs float64 | `--optimize` vs plain | tolerance |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for spec_path in args.specs:
            plain, optimized, between = measure(spec_path, Path(folder))
            tolerance = round_up(MARGIN * max(plain, optimized, between))
            print(f"| `{spec_path.name}` | {plain:.1e} | {optimized:.1e} | {between:.1e} | {tolerance:.0e} |", flush=True)


if __name__ == "__main__":
    main()
