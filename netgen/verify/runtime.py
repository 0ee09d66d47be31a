"""`netgen verify --runtime`: run the generated PyTorch module and hold it to the IR.

The module netgen would write for the spec is rendered and executed in memory, then run once
in training mode (so the auxiliary heads run too) on a seeded random batch of the spec's input
size. Forward hooks on every top-level layer and head record the real output shape; each
one's parameters are counted. Both must equal the IR's exactly: the IR's shapes are what the
Table 1 comparison used, and its parameter counts (weights, biases, batch norm's scale and
shift) are what `netgen summary` prints.

A layer computed inline in forward() (a top-level concat or add has no module) is observed as
the input of the layer it feeds, or as the network's output.
"""

from __future__ import annotations

import math
import sys
import types
from dataclasses import dataclass

import torch

from netgen.backends.layout import make_layout, shared_prefix
from netgen.backends.pytorch import render_pytorch
from netgen.diagnostics import Span, SpecError, error
from netgen.ir.graph import Graph
from netgen.spec.model import Spec

BATCH = 2  # batch norm in training mode needs more than one value per channel
SEED = 0
# What one run may take: the weights and every layer's output for the batch, all float32. Their
# sum bounds what the run holds at once; GoogLeNet at 224x224 needs about 100 MiB.
MAX_RUN_BYTES = 2 * 2**30
FLOAT32_BYTES = 4


@dataclass(frozen=True)
class LayerRun:
    """One top-level layer or head: the IR's output shape and parameter count beside the real ones."""

    row: str  # the reference row it maps to, or "" (heads and unmapped layers)
    layer: str
    module: str  # its attribute path in the generated module; "" when computed inline
    ir_shape: tuple[int, ...]
    real_shape: tuple[int, ...] | None  # None: the forward pass never produced it
    ir_params: int
    real_params: int
    span: Span

    @property
    def ok(self) -> bool:
        return self.real_shape == self.ir_shape and self.real_params == self.ir_params


@dataclass(frozen=True)
class RuntimeResult:
    network_class: str
    input_shape: tuple[int, ...]
    layers: tuple[LayerRun, ...]
    ir_params: int
    real_params: int

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.layers) and self.ir_params == self.real_params


def load_generated(source: str, name: str) -> types.ModuleType:
    """Execute generated source as a module of its own; it is registered while it runs so that
    classes defined in it can find their module."""
    module = types.ModuleType(name)
    module.__file__ = f"<netgen {name}>"
    sys.modules[name] = module
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - netgen's own checked output
    finally:
        del sys.modules[name]
    return module


def check_runnable(spec: Spec, graph: Graph) -> None:
    """Refuse, before anything is allocated, a run that could take more memory than MAX_RUN_BYTES."""
    weights = FLOAT32_BYTES * sum(node.weights + node.biases for node in graph.nodes())
    outputs = FLOAT32_BYTES * BATCH * sum(math.prod(node.shape) for node in graph.nodes())
    if weights + outputs > MAX_RUN_BYTES:
        raise SpecError(
            error(
                "too-large-to-run",
                f"running the network on a batch of {BATCH} at {'x'.join(map(str, spec.input))} could take "
                f"{_gib(weights + outputs)} ({_gib(outputs)} of layer outputs, {_gib(weights)} of weights); "
                f"--runtime runs networks within {_gib(MAX_RUN_BYTES)}: verify a copy of the spec with a smaller input",
                spec.where("input"),
            )
        )


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB"


def run_generated(spec: Spec, graph: Graph) -> RuntimeResult:
    check_runnable(spec, graph)
    layout = make_layout(spec, graph)
    module = load_generated(render_pytorch(spec, graph, layout), f"netgen_verify_{layout.network_class}")
    torch.manual_seed(SEED)
    model = getattr(module, layout.network_class)()
    model.train()

    tops = [*spec.layers, *(head.layer for head in spec.heads)]
    exits = {layer.name: _exit(graph, layer.name) for layer in tops}
    by_exit = {node: name for name, node in exits.items()}
    seen: dict[str, tuple[int, ...]] = {}
    params: dict[str, int] = {}
    paths: dict[str, str] = {}

    def record(name: str):
        return lambda _module, _args, output: seen.__setitem__(name, tuple(output.shape[1:]))

    def record_input(name: str):
        return lambda _module, args: seen.__setitem__(name, tuple(args[0].shape[1:]))

    inline = []
    owned = _modules_by_layer(graph, layout)
    for layer in tops:
        sub = _submodule(model, layout.top[layer.name]) if layer.name in layout.top else None
        if sub is None or layer.name in owned:
            # No module of its own (a concat), or several (a bare conv and its batch norm, the layers
            # of an inline block use): its parameters are theirs.
            inline.append(layer)
            # The network's attributes it has (a named branch of an inline use is one nn.Sequential).
            modules = list(dict.fromkeys(path.split(".")[0] for path in owned.get(layer.name, [])))
            params[layer.name] = sum(
                parameter.numel() for path in modules for parameter in model.get_submodule(path).parameters()
            )
            if modules:
                several = f"{shared_prefix(modules)}* ({len(modules)} modules)"
                paths[layer.name] = ", ".join(modules) if len(modules) <= 2 else several
            continue
        paths[layer.name] = layout.top[layer.name]
        params[layer.name] = sum(parameter.numel() for parameter in sub.parameters())
        sub.register_forward_hook(record(layer.name))
    for layer in inline:
        # Observed as the input of a module that reads it.
        for user in graph.users(exits[layer.name]):
            consumer = by_exit.get(user) if graph.inputs(user) == [exits[layer.name]] else None
            if consumer in paths and consumer not in owned:
                model.get_submodule(paths[consumer]).register_forward_pre_hook(record_input(layer.name))
                break
            if graph.inputs(user) == [exits[layer.name]] and user in layout.modules:
                model.get_submodule(layout.modules[user]).register_forward_pre_hook(record_input(layer.name))
                break

    generator = torch.Generator().manual_seed(SEED)
    batch = torch.randn((BATCH, *spec.input), generator=generator)
    with torch.no_grad():
        outputs = model(batch)
        if hasattr(model, "predict"):
            # The output activation runs in predict(), after forward()'s logits.
            model.eval()
            model.predict(batch)
    if isinstance(outputs, tuple):
        outputs = outputs[next(index for index, (_, head) in enumerate(layout.output_fields) if head is None)]
    logits_layer = next((name for name, node in exits.items() if node == graph.logits()), None)
    if logits_layer is not None:
        seen.setdefault(logits_layer, tuple(outputs.shape[1:]))

    runs = []
    for layer in tops:
        ir_params = sum(node.weights + node.biases for node in graph.nodes() if node.row == layer.name)
        runs.append(
            LayerRun(
                layer.row or "",
                layer.name,
                paths.get(layer.name, ""),
                tuple(graph[exits[layer.name]].shape),
                seen.get(layer.name),
                ir_params,
                params[layer.name],
                layer.span,
            )
        )
    ir_total = sum(node.weights + node.biases for node in graph.nodes())
    real_total = sum(parameter.numel() for parameter in model.parameters())
    return RuntimeResult(layout.network_class, tuple(batch.shape), tuple(runs), ir_total, real_total)


def _modules_by_layer(graph: Graph, layout) -> dict[str, list[str]]:
    """The module paths of each top-level layer that has several modules side by side rather than
    one: a bare conv and its batch norm, or the layers of an inline block use."""
    out: dict[str, list[str]] = {}
    for node, path in layout.modules.items():
        row = graph[node].row
        if row not in layout.top or (node == row and node in layout.bn_modules):
            out.setdefault(row, []).append(path)
            if node in layout.bn_modules:
                out[row].append(layout.bn_modules[node])
    return out


def _exit(graph: Graph, name: str) -> str:
    return graph.exit_of(name)


def _submodule(model: torch.nn.Module, path: str) -> torch.nn.Module | None:
    try:
        return model.get_submodule(path)
    except AttributeError:
        return None
