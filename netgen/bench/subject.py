"""What `netgen bench` measures: a network, the ways it can run, and the weights they all share.

A spec is built into a temporary folder as `netgen build` builds it (the module with its
inference path, the ONNX model carrying the module's weights, and with `--per-layer` a second
module whose forward() marks the spec's rows with profiler ranges) and imported from there. Any
other nn.Module can be measured the same way (benchmarks/gpu.py measures a hand-written
GoogLeNet beside the generated ones) by making a Subject of it.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netgen.ir.graph import Graph
from netgen.spec.model import Spec

SEED = 0


@dataclass
class Subject:
    """A network to measure. `make` returns a fresh module holding the benchmark's weights (the
    same every call), in training mode; `loss` is its training loss; `macs` its multiply-adds per
    image in eval mode (heads included where forward() runs them then) and `macs_train` with the
    auxiliary heads a training step runs."""

    name: str
    make: Callable[[], nn.Module]
    loss: Callable[[Any, torch.Tensor], torch.Tensor]
    input: tuple[int, int, int]
    num_classes: int
    macs: int
    macs_train: int
    # `netgen build --optimize`'s from_plain(state_dict), or None when the network has no such build
    from_plain: Callable[[dict[str, torch.Tensor]], nn.Module] | None = None
    onnx: Callable[[], Path] | None = None  # writes the ONNX model with make()'s weights; returns its path
    profiled: Callable[[], nn.Module] | None = None  # make() with the spec's rows in profiler ranges
    range_prefix: str = ""  # the profiler ranges' names: <range_prefix><row>
    summary: dict[str, Any] | None = None  # `netgen summary --json`'s object, for the per-layer table
    heads_in_eval: bool = False  # `outputs: {when: always}`: forward() runs the heads in eval mode too
    logits_field: str | None = None  # the field of forward()'s outputs tuple that holds the logits

    def logits(self, output: Any) -> torch.Tensor:
        """The logits in what forward() returned: itself, or a field of the outputs tuple."""
        if isinstance(output, tuple):
            return getattr(output, self.logits_field) if self.logits_field and hasattr(output, "_fields") else output[0]
        return output


def import_by_path(path: Path, name: str) -> ModuleType:
    """Import a Python file as a module named `name`. It stays in sys.modules: torch.export and
    torch.compile find a module's classes through it."""
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


def randomize(model: nn.Module, seed: int = SEED) -> nn.Module:
    """Give every weight and batch-norm statistic a random value that keeps activations near unit
    scale through every layer. Comparing two builds' outputs then compares something (from
    torchvision's std 0.01 start GoogLeNet's logits are all but zero), and no layer computes on
    subnormal floats, which some CPUs run many times slower."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * (2 / fan_in) ** 0.5)
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                channels = module.num_features
                module.weight.copy_(torch.rand(channels, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(channels, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(channels, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
    return model


def built_subject(spec: Spec, graph: Graph, stem: str, folder: Path, profile: bool) -> Subject:
    """The spec built into `folder` and imported: the plain module with its inference path, and with
    `profile` the module that marks its rows; the ONNX model is written when first asked for."""
    from netgen.backends.layout import make_layout
    from netgen.backends.pytorch import profile_range, render_pytorch
    from netgen.summary import summarize

    layout = make_layout(spec, graph)
    network = layout.network_class
    source = folder / f"{stem}.py"
    source.write_text(render_pytorch(spec, graph, layout, optimize=True), encoding="utf-8")
    module = import_by_path(source, f"netgen_bench_{stem}")
    cls = getattr(module, network)
    loss = getattr(module, "training_loss", None) or F.cross_entropy

    def make() -> nn.Module:
        torch.manual_seed(SEED)  # dropout masks, and any layer randomize() leaves as constructed
        return randomize(cls())

    profiled = None
    if profile:
        profiled_source = folder / f"{stem}_profiled.py"
        profiled_source.write_text(render_pytorch(spec, graph, layout, profile=True), encoding="utf-8")
        profiled_cls = getattr(import_by_path(profiled_source, f"netgen_bench_{stem}_profiled"), network)

        def profiled() -> nn.Module:
            model = profiled_cls()
            model.load_state_dict(make().state_dict())
            return model

    @functools.cache
    def onnx() -> Path:
        from netgen.backends.onnx_backend import build_onnx

        weights = {key: value.detach().numpy() for key, value in make().state_dict().items()}
        path = folder / f"{stem}.onnx"
        path.write_bytes(build_onnx(spec, graph, layout, state_dict=weights).SerializeToString())
        return path

    summary = summarize(spec, graph)
    heads_in_eval = spec.outputs is not None and spec.outputs.when == "always"  # forward() runs them in eval mode too
    head_names = {head.name for head in spec.heads}
    fields = spec.outputs.fields or () if spec.outputs is not None else ()
    logits_field = next((field.name for field in fields if field.source not in head_names), None)
    return Subject(
        name=spec.name,
        make=make,
        loss=loss,
        input=tuple(spec.input),
        num_classes=spec.num_classes,
        macs=summary["totals"]["macs_with_heads" if heads_in_eval else "macs"],
        macs_train=summary["totals"]["macs_with_heads"],
        from_plain=module.from_plain,
        onnx=onnx,
        profiled=profiled,
        range_prefix=profile_range(network, ""),
        summary=summary,
        heads_in_eval=heads_in_eval,
        logits_field=logits_field,
    )
