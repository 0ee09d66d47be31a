"""Where each IR node lives in the generated PyTorch module, and the state_dict keys it owns.

This is the single source of the generated code's attribute names: the PyTorch backend names
its attributes from here, and the ONNX backend finds a state_dict's tensors from here.

Rules (they follow torchvision's googlenet.py, so its state_dict keys come out the same):
- a top-level layer or head is an attribute of the network, named like the layer;
- a conv is a `BasicConv2d` unit whose `conv` (and `bn`, with batch norm) hold the parameters;
- a block's `concat`/`add` branch is an attribute named like the branch: the layer itself when
  the branch is a one-item list, an `nn.Sequential` indexed 0, 1, ... for a longer list, and an
  `nn.Sequential` of named layers when written as a mapping, unless the block is `flat: true`:
  then the mapping's layers are attributes of the block itself (torchvision's `branch5x5_1`);
- a block's `layers` sequence gives one attribute per layer; a `concat:`/`add:` of branches
  among them places its branches beside them, by the same rules;
- a layer with `times: N` is an `nn.Sequential` of its N copies, numbered 0 .. N-1;
- the layers of a top-level `sequential:` group are items 0, 1, ... of one `nn.Sequential`
  attribute named like the group (timm's `features.4`);
- a `bare: true` conv is a plain `nn.Conv2d` (`<name>.weight`, `<name>.bias`).

Inside a block, attributes are keyed by their path relative to the block's use, as the IR
names nodes (`branch3x3.branch3x3_1`, `split.branch3x3_2a`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netgen.diagnostics import SpecError, error
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
from netgen.spec.model import Block, BlockCall, Branch, Layer, MergeCall, OpCall, Spec

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
    attrs: dict[str, str]  # path in the block of a branch or layer with an attribute of its own -> attribute
    branch_items: dict[tuple[str, str], str] = field(default_factory=dict)  # (branch path, layer) -> attribute in a named Sequential
    stored: dict[str, str] = field(default_factory=dict)  # parameter forward() reads (a residual's scale, act) -> attribute


@dataclass
class Layout:
    network_class: str
    outputs_class: str | None  # the NamedTuple returned in training, when the network has heads
    # its fields in order, each with the head it holds (None: the network's logits)
    output_fields: list[tuple[str, str | None]]
    top: dict[str, str]  # top-level layer / head name -> attribute path (`conv1`, `features.3`)
    blocks: dict[str, BlockNames]
    modules: dict[str, str]  # IR node name -> module path (convs: the BasicConv2d unit)
    slots: dict[str, list[Slot]]  # IR node name -> its parameters and buffers
    groups: dict[str, str] = field(default_factory=dict)  # `sequential:` group -> its attribute


def make_layout(spec: Spec, graph: Graph) -> Layout:
    """The generated names of a compiled spec. The names pass computes them; check, build and the
    backends ask again and get the same object, as the graph does not change after the passes."""
    cached = graph.layout
    if cached is not None and cached[0] is spec:
        return cached[1]
    layout = _make_layout(spec, graph)
    graph.layout = (spec, layout)
    return layout


def _make_layout(spec: Spec, graph: Graph) -> Layout:
    # Classes are module-level names: one named like a builtin the file calls (super, isinstance) would hide it.
    classes = Namespace({"BasicConv2d", "Outputs", *GENERATED_NAMES, *MODULE_NAMES, *PYTHON_BUILTINS})
    # The network is a class: CamelCase whatever the spec's name (cifar10_gnet -> Cifar10Gnet).
    network_class = classes.add(spec.name, spec.where("name"), "network", spelled=class_name(spec.name))
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
    top: dict[str, str] = {}
    groups: dict[str, str] = {}
    items: dict[str, int] = {}  # modules in each group so far
    for layer in spec.layers:
        if layer.container is None:
            top[layer.name] = top_ns.add(layer.name, layer.span, "layer")
            continue
        if layer.container not in groups:
            groups[layer.container] = top_ns.add(layer.container, layer.span, "group")
        # Numbered like nn.Sequential numbers its items: a concat or add of earlier layers has no module.
        index = items.get(layer.container, 0)
        top[layer.name] = f"{groups[layer.container]}.{index}"
        if has_module(layer):
            items[layer.container] = index + 1
    for head in spec.heads:
        top[head.name] = top_ns.add(head.name, head.span, "head")
    modules: dict[str, str] = {}
    placer = _Placer(spec, blocks, modules)
    for layer in [*spec.layers, *(head.layer for head in spec.heads)]:
        placer.layer(layer, layer.name, top[layer.name])
    slots = {name: _slots(graph, name, path) for name, path in modules.items()}
    return Layout(
        network_class, outputs_class, output_fields, top, blocks, modules, {name: s for name, s in slots.items() if s}, groups
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


class _BlockNamer:
    """Attribute names inside one block, walked in the order the layout places them."""

    def __init__(self, block: Block, names: BlockNames):
        self.block, self.names = block, names
        self.attrs = Namespace(MODULE_RESERVED)
        self.owners: dict[str, str] = {}  # attribute -> the path in the block that has it

    def attribute(self, path: str, name: str, span, what: str) -> None:
        ident = self.attrs.add(name, span, what)
        if ident in self.owners:
            raise SpecError(
                error(
                    "duplicate-name",
                    f"block {self.block.name!r}: {what} {name!r} at {path} would be the attribute {ident!r}, "
                    f"which {self.owners[ident]} already is; rename one",
                    span,
                )
            )
        self.owners[ident] = path
        self.names.attrs[path] = ident

    def sequence(self, layers: tuple[Layer, ...], prefix: str) -> None:
        for layer in layers:
            path = _join(prefix, layer.name)
            if isinstance(layer.call, MergeCall):
                self.branches(layer.call.branches, path)
            else:
                self.attribute(path, layer.name, layer.span, "layer")

    def branches(self, branches: tuple[Branch, ...], prefix: str) -> None:
        for branch in branches:
            path = _join(prefix, branch.name)
            if _is_flat(self.block, branch):
                self.sequence(branch.layers, path)
                continue
            self.attribute(path, branch.name, branch.span, "branch")
            if not branch.indexed:
                items = Namespace(MODULE_RESERVED)
                for layer in branch.layers:
                    self.names.branch_items[(path, layer.name)] = items.add(layer.name, layer.span, "layer")


def has_module(layer: Layer) -> bool:
    """Whether the generated module holds the layer as a module: a concat or add of earlier layers is computed in forward()."""
    return not (isinstance(layer.call, OpCall) and layer.call.op in ("concat", "add"))


def _is_flat(block: Block, branch: Branch) -> bool:
    return block.flat and not branch.indexed


def _block_names(block: Block, cls: str, params_reserved: set[str]) -> BlockNames:
    params_ns = Namespace(params_reserved)
    params = [params_ns.add(param, span, "block parameter") for param, span in zip(block.params, block.param_spans, strict=True)]
    names = BlockNames(cls, params, {})
    namer = _BlockNamer(block, names)
    residual = block.residual
    for value in (residual.scale, residual.act) if residual is not None else ():
        if isinstance(value, str) and value in block.params:
            span = block.param_spans[block.params.index(value)]
            names.stored[value] = namer.attrs.add(value, span, "block parameter")
            namer.owners[names.stored[value]] = f"parameter {value}"
    if block.combine == "seq":
        namer.sequence(block.branches[0].layers, "")
    else:
        namer.branches(block.branches, "")
    return names


class _Placer:
    """The module path of every IR node, by the rules above."""

    def __init__(self, spec: Spec, blocks: dict[str, BlockNames], modules: dict[str, str]):
        self.spec, self.blocks, self.modules = spec, blocks, modules

    def layer(self, layer: Layer, node: str, path: str) -> None:
        if layer.times == 1:
            self.one(layer, node, path)
            return
        for copy in range(layer.times):
            self.one(layer, f"{node}.{copy}", f"{path}.{copy}")

    def one(self, layer: Layer, node: str, path: str) -> None:
        if not isinstance(layer.call, BlockCall):
            if has_module(layer):  # a concat or add of earlier layers is computed in forward()
                self.modules[node] = path
            return
        block = self.spec.blocks[layer.call.block]
        if block.combine == "seq":
            self.sequence(block, block.branches[0].layers, "", node, path)
        else:
            self.branches(block, block.branches, "", node, path)

    def sequence(self, block: Block, layers: tuple[Layer, ...], prefix: str, node: str, container: str) -> None:
        names = self.blocks[block.name]
        for layer in layers:
            rel, inner = _join(prefix, layer.name), _join(node, layer.name)
            if isinstance(layer.call, MergeCall):
                self.branches(block, layer.call.branches, rel, inner, container)
            else:
                self.layer(layer, inner, f"{container}.{names.attrs[rel]}")

    def branches(self, block: Block, branches: tuple[Branch, ...], prefix: str, node: str, container: str) -> None:
        names = self.blocks[block.name]
        for branch in branches:
            rel, inner = _join(prefix, branch.name), _join(node, branch.name)
            if _is_flat(block, branch):
                self.sequence(block, branch.layers, rel, inner, container)
                continue
            branch_path = f"{container}.{names.attrs[rel]}"
            for index, layer in enumerate(branch.layers):
                if branch.indexed:
                    layer_path = branch_path if len(branch.layers) == 1 else f"{branch_path}.{index}"
                else:
                    layer_path = f"{branch_path}.{names.branch_items[(rel, layer.name)]}"
                self.layer(layer, f"{inner}.{layer.name}", layer_path)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


def _slots(graph: Graph, name: str, path: str) -> list[Slot]:
    node = graph[name]
    attrs = node.attrs
    if node.kind is OpKind.CONV:
        in_channels = graph[graph.inputs(name)[0]].shape[0]
        conv = path if attrs.bare else f"{path}.conv"
        out = [Slot(f"{conv}.weight", (attrs.out, in_channels // attrs.groups, *attrs.kernel), "weight")]
        if attrs.bias:
            out.append(Slot(f"{conv}.bias", (attrs.out,), "bias"))
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
