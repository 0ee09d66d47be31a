"""The GoogLeNets the benchmarks compare, with shared weights: the generated googlenet_bn imported
by path, the hand-written one in handwritten_googlenet.py, and the reference state_dict layout
both must have (specs/reference/torchvision-googlenet-state-dict.tsv).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

from netgen.bench.subject import import_by_path, randomize

ROOT = Path(__file__).resolve().parents[1]
GENERATED_GOOGLENET_BN = ROOT / "generated" / "googlenet_bn.py"
REFERENCE_STATE_DICT = ROOT / "specs" / "reference" / "torchvision-googlenet-state-dict.tsv"
IMAGE_SHAPE = (3, 224, 224)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from handwritten_googlenet import GoogLeNet  # noqa: E402


def generated_googlenet_bn() -> nn.Module:
    """generated/googlenet_bn.py's GoogLeNetBN, its weights left as nn.Module makes them."""
    module = sys.modules.get("netgen_bench_googlenet_bn") or import_by_path(
        GENERATED_GOOGLENET_BN, "netgen_bench_googlenet_bn"
    )
    return module.GoogLeNetBN(init_weights=False)


def optimized_googlenet_bn(weights: dict[str, torch.Tensor]) -> nn.Module:
    """`netgen build --optimize`'s inference module, made by its from_plain() from `weights`."""
    name = "netgen_bench_googlenet_bn_optimized"
    module = sys.modules.get(name)
    if module is None:
        # The built file is only needed until it is imported.
        with tempfile.TemporaryDirectory(prefix="netgen-bench-") as folder:
            command = [
                sys.executable,
                "-m",
                "netgen",
                "build",
                "specs/googlenet-bn.yaml",
                "--optimize",
                "--out",
                folder,
            ]
            subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
            module = import_by_path(Path(folder) / "googlenet_bn.py", name)
    return module.from_plain(weights)


def handwritten_googlenet() -> nn.Module:
    return GoogLeNet(init_weights=False)


def reference_state_shapes() -> dict[str, tuple[int, ...]]:
    """Key -> shape of torchvision's GoogLeNet state_dict, as recorded in the reference file."""
    shapes = {}
    for line in REFERENCE_STATE_DICT.read_text(encoding="utf-8").splitlines():
        key, shape = line.split("\t")
        shapes[key] = () if shape == "scalar" else tuple(int(extent) for extent in shape.split("x"))
    return shapes


def state_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def shared_weights(seed: int = 0) -> dict[str, torch.Tensor]:
    """One random state_dict that loads strictly into every model here."""
    return randomize(handwritten_googlenet(), seed).state_dict()


def with_weights(model: nn.Module, weights: dict[str, torch.Tensor]) -> nn.Module:
    """`model` in eval mode with `weights` loaded strictly."""
    model.load_state_dict(weights, strict=True)
    return model.eval()


def images(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.randn((batch, *IMAGE_SHAPE), generator=torch.Generator().manual_seed(seed))
