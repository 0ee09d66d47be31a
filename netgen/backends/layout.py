"""Where each IR node lives in the generated PyTorch module, and the state_dict keys it owns.

This is the single source of the generated code's attribute names: the PyTorch backend names
its attributes from here, and the ONNX backend finds a state_dict's tensors from here.

Rules (they follow torchvision's googlenet.py, so its state_dict keys come out the same):
- a top-level layer or head is an attribute of the network, named like the layer;
- a conv is a `BasicConv2d` unit whose `conv` (and `bn`, with batch norm) hold the parameters;
- a block's `concat`/`add` branch is an attribute named like the branch: the layer itself when
  the branch is a one-item list, an `nn.Sequential` indexed 0, 1, ... for a longer list, and an
  `nn.Sequential` of named layers when written as a mapping;
- a block's `layers` sequence gives one attribute per layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netgen.ir.graph import Graph
from netgen.ir.names import (
    GENERATED_NAMES,
    MODULE_ATTRIBUTES,
    MODULE_NAMES,
    NETWORK_MEMBERS,
    PYTHON_BUILTINS,
    TUPLE_ATTRIBUTES,
    Namespace,
    class_name,
)
from netgen.ir.ops import OpKind
from netgen.spec.model import Block, BlockCall, Layer, Spec

MODULE_RESERVED = MODULE_ATTRIBUTES | GENERATED_NAMES


@dataclass
class Slot:
    key: str  # state_dict key
    shape: tuple[int, ...]
    role: str  # weight, bias, bn_weight, bn_bias, running_mean, running_var, num_batches_tracked


@dataclass
class BlockNames:
    """Identifiers inside one block class."""

    cls: str
    params: list[str]  # constructor parameters, in the block's order
    attrs: dict[str, str]  # branch name (concat/add) or layer name (seq) -> attribute
    branch_items: dict[tuple[str, str], str] = field(default_factory=dict)  # (branch, layer) -> attribute in a named Sequential


@dataclass
class Layout:
    network_class: str
    outputs_class: str | None  # the NamedTuple returned in training, when the network has heads
    # its fields in order, each with the head it holds (None: the network's logits)
    output_fields: list[tuple[str, str | None]]
    top: dict[str, str]  # top-level layer / head name -> attribute
    blocks: dict[str, BlockNames]
    modules: dict[str, str]  # IR node name -> module path (convs: the BasicConv2d unit)
    slots: dict[str, list[Slot]]  # IR node name -> its parameters and buffers


def make_layout(spec: Spec, graph: Graph) -> Layout:
    # Classes are module-level names: one named like a builtin the file calls (super, isinstance) would hide it.
    classes = Namespace({"BasicConv2d", "Outputs", *GENERATED_NAMES, *MODULE_NAMES, *PYTHON_BUILTINS})
    network_class = classes.add(spec.name, spec.where("name"), "network")
    outputs_class = None
    output_fields: list[tuple[str, str | None]] = []
    if spec.heads:
        outputs = spec.outputs
        if outputs is not None and outputs.class_name is not None:
            outputs_class = classes.add(outputs.class_name, outputs.class_span, "outputs class")
        else:
            outputs_class = classes.add(f"{network_class}Outputs", spec.where("name"), "outputs class")
        output_fields = _output_fields(spec, graph)
    block_classes = {
        name: classes.add(name, block.span, "block", spelled=class_name(name)) for name, block in spec.blocks.items()
    }
    # A block parameter is a local of its __init__, which calls the classes and imports above.
    params_reserved = classes.reserved | set(classes.taken)
    blocks = {name: _block_names(block, block_classes[name], params_reserved) for name, block in spec.blocks.items()}
    top_ns = Namespace(MODULE_RESERVED | NETWORK_MEMBERS)
    top = {layer.name: top_ns.add(layer.name, layer.span, "layer") for layer in spec.layers}
    for head in spec.heads:
        top[head.name] = top_ns.add(head.name, head.span, "head")
    modules: dict[str, str] = {}
    for layer in [*spec.layers, *(head.layer for head in spec.heads)]:
        _place(spec, blocks, layer, layer.name, top[layer.name], modules)
    slots = {name: _slots(graph, name, path) for name, path in modules.items()}
    return Layout(
        network_class, outputs_class, output_fields, top, blocks, modules, {name: s for name, s in slots.items() if s}
    )


def _output_fields(spec: Spec, graph: Graph) -> list[tuple[str, str | None]]:
    """The spec's `outputs.fields` (checked to name the logits and each head once), or by default
    `logits` and then each head under its own name."""
    heads = {head.name for head in spec.heads}
    if spec.outputs is not None and spec.outputs.fields is not None:
        return [(field.name, field.source if field.source in heads else None) for field in spec.outputs.fields]
    fields = Namespace(TUPLE_ATTRIBUTES)
    out: list[tuple[str, str | None]] = [(fields.add("logits", spec.where("name"), "output"), None)]
    return out + [(fields.add(head.name, head.span, "head"), head.name) for head in spec.heads]


def _block_names(block: Block, cls: str, params_reserved: set[str]) -> BlockNames:
    params_ns = Namespace(params_reserved)
    params = [params_ns.add(param, span, "block parameter") for param, span in zip(block.params, block.param_spans, strict=True)]
    attrs_ns = Namespace(MODULE_RESERVED)
    names = BlockNames(cls, params, {})
    if block.combine == "seq":
        for layer in block.branches[0].layers:
            names.attrs[layer.name] = attrs_ns.add(layer.name, layer.span, "layer")
        return names
    for branch in block.branches:
        names.attrs[branch.name] = attrs_ns.add(branch.name, branch.span, "branch")
        if not branch.indexed:
            items = Namespace(MODULE_RESERVED)
            for layer in branch.layers:
                names.branch_items[(branch.name, layer.name)] = items.add(layer.name, layer.span, "layer")
    return names


def _place(spec: Spec, blocks: dict[str, BlockNames], layer: Layer, node: str, path: str, modules: dict[str, str]) -> None:
    if not isinstance(layer.call, BlockCall):
        modules[node] = path
        return
    block = spec.blocks[layer.call.block]
    names = blocks[block.name]
    for branch in block.branches:
        if block.combine == "seq":
            for inner in branch.layers:
                _place(spec, blocks, inner, f"{node}.{inner.name}", f"{path}.{names.attrs[inner.name]}", modules)
            continue
        branch_path = f"{path}.{names.attrs[branch.name]}"
        for index, inner in enumerate(branch.layers):
            if branch.indexed:
                inner_path = branch_path if len(branch.layers) == 1 else f"{branch_path}.{index}"
            else:
                inner_path = f"{branch_path}.{names.branch_items[(branch.name, inner.name)]}"
            _place(spec, blocks, inner, f"{node}.{branch.name}.{inner.name}", inner_path, modules)


def _slots(graph: Graph, name: str, path: str) -> list[Slot]:
    node = graph[name]
    attrs = node.attrs
    if node.kind is OpKind.CONV:
        in_channels = graph[graph.inputs(name)[0]].shape[0]
        out = [Slot(f"{path}.conv.weight", (attrs.out, in_channels // attrs.groups, *attrs.kernel), "weight")]
        if attrs.bias:
            out.append(Slot(f"{path}.conv.bias", (attrs.out,), "bias"))
        if attrs.bn_eps is not None:
            out += _bn_slots(f"{path}.bn", attrs.out)
        return out
    if node.kind is OpKind.LINEAR:
        in_features = graph[graph.inputs(name)[0]].shape[0]
        out = [Slot(f"{path}.weight", (attrs.out, in_features), "weight")]
        if attrs.bias:
            out.append(Slot(f"{path}.bias", (attrs.out,), "bias"))
        return out
    if node.kind is OpKind.BATCHNORM:
        return _bn_slots(path, graph[graph.inputs(name)[0]].shape[0])
    return []


def _bn_slots(path: str, channels: int) -> list[Slot]:
    return [
        Slot(f"{path}.weight", (channels,), "bn_weight"),
        Slot(f"{path}.bias", (channels,), "bn_bias"),
        Slot(f"{path}.running_mean", (channels,), "running_mean"),
        Slot(f"{path}.running_var", (channels,), "running_var"),
        Slot(f"{path}.num_batches_tracked", (), "num_batches_tracked"),
    ]
