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
- a `bare: true` conv is a plain `nn.Conv2d` (`<name>.weight`, `<name>.bias`); its batch norm,
  if it has one, is the attribute beside it, `<name>_bn` (Caffe's layout);
- a use of a block with `inline: true` has no module of its own: each attribute the block would
  have is an attribute of the module that uses it, named `<use>_<attribute>` (Caffe's layout,
  `inception_3a_1x1`). Both need the layer to be an attribute of its own (at the top level, in a
  block's `layers`, or in a mapping branch of a flat block); a repeat, a `sequential:` group, a
  head or an `nn.Sequential` branch cannot hold them.

Each op declares the tensors it keeps at its module's path (netgen.ops: `slots`).

Inside a block, attributes are keyed by their path relative to the block's use, as the IR
names nodes (`branch3x3.branch3x3_1`, `split.branch3x3_2a`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from netgen.diagnostics import Diagnostic, SpecError, error
from netgen.ir.build import has_module
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
from netgen.ops import OPS, SPEC_OPS
from netgen.ops.base import Slot
from netgen.spec.model import Block, BlockCall, Branch, Layer, MergeCall, OpCall, Spec

MODULE_RESERVED = MODULE_ATTRIBUTES | GENERATED_NAMES


@dataclass
class BlockNames:
    """Identifiers inside one block class (or the network's, or an inline block's own names)."""

    cls: str  # "" for an inline block, which has no class
    params: list[str]  # constructor parameters, in the block's order
    # path in the block of a branch or layer with an attribute of its own -> attribute; the layers
    # of an inline use inside the block are keyed by their path through it (`use.branch.layer`)
    attrs: dict[str, str]
    branch_items: dict[tuple[str, str], str] = field(
        default_factory=dict
    )  # (branch path, layer) -> attribute in a named Sequential
    stored: dict[str, str] = field(
        default_factory=dict
    )  # parameter forward() reads (a residual's scale, act) -> attribute
    bn: dict[str, str] = field(
        default_factory=dict
    )  # path of a bare conv with batch norm -> its batch norm's attribute
    split: str = ""  # the attribute holding a `split:` block's part sizes, when they name parameters
    drop_path: str = ""  # the attribute holding a residual's DropPath
    # An inline block's attributes are its spec names, made identifiers only once a use prefixes them.
    inline: bool = False

    def within(self, use: str) -> BlockNames:
        """The names of an inline use at `use` (a path in this module), keyed by their path in the used block."""
        prefix = use + "."
        cut = len(prefix)
        return BlockNames(
            "",
            [],
            {path[cut:]: attr for path, attr in self.attrs.items() if path.startswith(prefix)},
            {(path[cut:], layer): item for (path, layer), item in self.branch_items.items() if path.startswith(prefix)},
            bn={path[cut:]: attr for path, attr in self.bn.items() if path.startswith(prefix)},
        )


@dataclass
class Layout:
    network_class: str
    outputs_class: str | None  # the NamedTuple returned in training, when the network has heads
    # its fields in order, each with the head it holds (None: the network's logits)
    output_fields: list[tuple[str, str | None]]
    # top-level layer / head name -> attribute path (`conv1`, `features.3`); the layers of a top-level
    # inline block use by their IR name (`inception_3a.branch_1x1.1x1` -> `inception_3a_1x1`)
    top: dict[str, str]
    blocks: dict[str, BlockNames]
    modules: dict[str, str]  # IR node name -> module path (convs: the BasicConv2d unit, or the nn.Conv2d)
    slots: dict[str, list[Slot]]  # IR node name -> its parameters and buffers
    groups: dict[str, str] = field(default_factory=dict)  # `sequential:` group -> its attribute
    # The network's own attributes as a block's are named: `top`, with the batch norms beside bare
    # convs and the items of named branches of top-level inline uses.
    network: BlockNames = field(default_factory=lambda: BlockNames("", [], {}))
    bn_modules: dict[str, str] = field(default_factory=dict)  # IR node of a bare conv -> its batch norm's module path


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
    # An inline block has no class of its own.
    block_classes = {
        name: classes.add(name, block.span, "block", spelled=class_name(name))
        for name, block in spec.blocks.items()
        if not block.inline
    }
    # A block parameter is a local of its __init__, which calls the classes and imports above.
    params_reserved = classes.reserved | set(classes.taken)
    problems: list[Diagnostic] = []
    blocks: dict[str, BlockNames] = {}

    def names_of(name: str) -> BlockNames:
        # A block names the layers of the inline blocks it uses after their own: made on first
        # use (the expand pass refused a block that uses itself).
        if name not in blocks:
            blocks[name] = _block_names(
                spec.blocks[name], block_classes.get(name, ""), params_reserved, spec.blocks, names_of, problems
            )
        return blocks[name]

    for name in spec.blocks:
        names_of(name)
    blocks = {name: blocks[name] for name in spec.blocks}
    top_ns = Namespace(MODULE_RESERVED | NETWORK_MEMBERS)
    network = BlockNames(network_class, [], {})
    top = network.attrs
    groups: dict[str, str] = {}
    items: dict[str, int] = {}  # modules in each group so far
    for layer in spec.layers:
        needs = _needs_own_attribute(spec.blocks, layer)
        if needs and (layer.container is not None or layer.times > 1):
            where = (
                f"an item of the sequential group {layer.container!r}"
                if layer.container is not None
                else f"repeated {layer.times} times"
            )
            problems.append(_misplaced(layer, needs, where))
            continue
        if layer.container is None:
            if _inline_block(spec.blocks, layer) is not None:
                inner = names_of(layer.call.block)
                for kind, key, name, label, what in _inline_attributes(layer, inner, ""):
                    getattr(network, kind)[key] = top_ns.add(name, layer.span, what, label=label)
                network.branch_items.update(_inline_items(layer, inner, ""))
                continue
            top[layer.name] = top_ns.add(layer.name, layer.span, "layer")
            if _sibling_bn(layer):
                network.bn[layer.name] = top_ns.add(
                    f"{layer.name}_bn", layer.span, "batch norm", label=f"the batch norm of conv {layer.name!r}"
                )
            continue
        if layer.container not in groups:
            groups[layer.container] = top_ns.add(layer.container, layer.span, "group")
        # Numbered like nn.Sequential numbers its items. A concat or add of earlier layers has no
        # module, so no number: its path names no item (a name where the items have numbers),
        # as a top-level one's names no attribute.
        if not has_module(layer):
            top[layer.name] = f"{groups[layer.container]}.{layer.name}"
            continue
        index = items.get(layer.container, 0)
        top[layer.name] = f"{groups[layer.container]}.{index}"
        items[layer.container] = index + 1
    for head in spec.heads:
        needs = _needs_own_attribute(spec.blocks, head.layer)
        if needs:
            problems.append(_misplaced(head.layer, needs, "a head", head.span))
            continue
        top[head.name] = top_ns.add(head.name, head.span, "head")
    if problems:
        raise SpecError(problems)
    modules: dict[str, str] = {}
    bn_modules: dict[str, str] = {}
    placer = _Placer(spec, blocks, modules, bn_modules)
    for layer in [*spec.layers, *(head.layer for head in spec.heads)]:
        if _inline_block(spec.blocks, layer) is not None:
            placer.inline(layer, layer.name, _At("", network.within(layer.name)))
        else:
            placer.layer(layer, layer.name, top[layer.name], network.bn.get(layer.name))
    slots = {name: _slots(graph, name, path, bn_modules.get(name)) for name, path in modules.items()}
    return Layout(
        network_class,
        outputs_class,
        output_fields,
        top,
        blocks,
        modules,
        {name: s for name, s in slots.items() if s},
        groups,
        network,
        bn_modules,
    )


def _inline_block(blocks: dict[str, Block], layer: Layer) -> Block | None:
    """The block a layer uses, when that block is inline."""
    call = layer.call
    if isinstance(call, BlockCall) and call.block in blocks and blocks[call.block].inline:
        return blocks[call.block]
    return None


def _sibling_bn(layer: Layer) -> bool:
    """A bare conv with batch norm: its batch norm is the attribute `<name>_bn` beside it."""
    call = layer.call
    return isinstance(call, OpCall) and call.op == "conv" and call.args.bare and call.args.bn is not False


def _needs_own_attribute(blocks: dict[str, Block], layer: Layer) -> str:
    """Why a layer must be an attribute of its own, named after it; empty when it need not be."""
    if _sibling_bn(layer):
        return f"a bare conv with batch norm keeps it beside itself as the attribute {layer.name}_bn"
    call = layer.call
    if isinstance(call, OpCall) and call.op in SPEC_OPS and OPS[SPEC_OPS[call.op].ir_kind].parameter:
        # No nn.Sequential can hold an nn.Parameter.
        return f"a {call.op} is an nn.Parameter of the module that holds it, named like the layer"
    block = _inline_block(blocks, layer)
    if block is not None:
        return f"block {block.name!r} is inline: its layers become attributes named {layer.name}_<layer> of the module that uses it"
    return ""


def _misplaced(layer: Layer, needs: str, where: str, span=None) -> Diagnostic:
    return error(
        "misplaced-layer",
        f"{layer.name or 'layer'}: {needs}, so it cannot be {where}; it can be a layer at the top level (not repeated, "
        "not in a group), in a block's 'layers', or in a branch written as a mapping of a block with flat: true",
        span or layer.span,
    )


def _inline_attributes(layer: Layer, inner: BlockNames, prefix: str) -> list[tuple[str, str, str, str, str]]:
    """What an inline use `layer` (at `prefix`.layer in the module using it) gives that module:
    (which names, key, name, label, what) for each attribute of the used block, named
    `<use>_<attribute>` and keyed by its path through the use."""
    path = _join(prefix, layer.name)
    block = layer.call.block
    out = []
    for kind, names in (("attrs", inner.attrs), ("bn", inner.bn)):
        for rel, raw in names.items():
            what = "inline layer" if kind == "attrs" else "inline batch norm"
            part = (
                f"layer {rel.rpartition('.')[2]!r}"
                if kind == "attrs"
                else f"the batch norm of conv {rel.rpartition('.')[2]!r}"
            )
            out.append(
                (
                    kind,
                    f"{path}.{rel}",
                    f"{layer.name}_{raw}",
                    f"{part} of {layer.name} (block {block!r} is inline)",
                    what,
                )
            )
    return out


def _inline_items(layer: Layer, inner: BlockNames, prefix: str) -> dict[tuple[str, str], str]:
    path = _join(prefix, layer.name)
    return {(f"{path}.{rel}", item): ident for (rel, item), ident in inner.branch_items.items()}


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

    def __init__(self, block: Block, names: BlockNames, spec_blocks, names_of, problems: list[Diagnostic]):
        self.block, self.names = block, names
        self.attrs = Namespace(MODULE_RESERVED)
        self.owners: dict[str, str] = {}  # attribute -> the path in the block that has it
        self.spec_blocks, self.names_of, self.problems = spec_blocks, names_of, problems

    def attribute(
        self, path: str, name: str, span, what: str, label: str | None = None, into: dict | None = None
    ) -> str:
        # An inline block keeps the spec's names: each use prefixes them and makes them identifiers.
        ident = name if self.names.inline else self.attrs.add(name, span, what, label=label)
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
        (self.names.attrs if into is None else into)[path] = ident
        return ident

    def sequence(self, layers: tuple[Layer, ...], prefix: str) -> None:
        for layer in layers:
            path = _join(prefix, layer.name)
            call = layer.call
            needs = _needs_own_attribute(self.spec_blocks, layer)
            if needs and layer.times > 1:
                self.problems.append(_misplaced(layer, needs, f"repeated {layer.times} times"))
            elif isinstance(call, MergeCall):
                self.branches(call.branches, path)
            elif _inline_block(self.spec_blocks, layer) is not None:
                inner = self.names_of(call.block)
                for kind, key, name, label, what in _inline_attributes(layer, inner, prefix):
                    self.attribute(key, name, layer.span, what, label, into=getattr(self.names, kind))
                self.names.branch_items.update(_inline_items(layer, inner, prefix))
            else:
                self.attribute(path, layer.name, layer.span, "layer")
                if _sibling_bn(layer):
                    label = f"the batch norm of conv {layer.name!r}"
                    self.attribute(path, f"{layer.name}_bn", layer.span, "batch norm", label, into=self.names.bn)

    def branches(self, branches: tuple[Branch, ...], prefix: str) -> None:
        for branch in branches:
            path = _join(prefix, branch.name)
            if _is_flat(self.block, branch):
                self.sequence(branch.layers, path)
                continue
            where = "a layer of an nn.Sequential branch (written as a list" + (
                ", or as a mapping of a block without flat: true)" if not branch.indexed else ")"
            )
            for layer in branch.layers:
                needs = _needs_own_attribute(self.spec_blocks, layer)
                if needs:
                    self.problems.append(_misplaced(layer, needs, where))
            self.attribute(path, branch.name, branch.span, "branch")
            if not branch.indexed:
                items = Namespace(MODULE_RESERVED)
                for layer in branch.layers:
                    self.names.branch_items[(path, layer.name)] = items.add(layer.name, layer.span, "layer")


def _is_flat(block: Block, branch: Branch) -> bool:
    return block.flat and not branch.indexed


def _block_names(
    block: Block,
    cls: str,
    params_reserved: set[str],
    spec_blocks: dict[str, Block],
    names_of,
    problems: list[Diagnostic],
) -> BlockNames:
    if block.inline:
        # No class, so no constructor: its parameters never reach generated code as names.
        names = BlockNames("", list(block.params), {}, inline=True)
    else:
        params_ns = Namespace(params_reserved)
        params = [
            params_ns.add(param, span, "block parameter")
            for param, span in zip(block.params, block.param_spans, strict=True)
        ]
        names = BlockNames(cls, params, {})
    namer = _BlockNamer(block, names, spec_blocks, names_of, problems)
    residual = block.residual
    for value, span in (
        ((residual.scale, residual.scale_span), (residual.act, residual.act_span)) if residual is not None else ()
    ):
        if not (isinstance(value, str) and value in block.params):
            continue
        if block.inline:
            problems.append(
                error(
                    "inline-parameter",
                    f"block {block.name!r} is inline, so it has no module to keep its parameter {value!r} for forward(); "
                    "write the residual's value in the block, or make the block not inline",
                    span,
                )
            )
            continue
        span = block.param_spans[block.params.index(value)]
        names.stored[value] = namer.attrs.add(value, span, "block parameter")
        namer.owners[names.stored[value]] = f"parameter {value}"
    # Attributes of the block's own, named as timm names them, kept apart from its layers'.
    for what, present, span in (
        ("split", block.split is not None, block.split.span if block.split is not None else None),
        ("drop_path", residual is not None and residual.drop_path, residual.span if residual is not None else None),
    ):
        if not present:
            continue
        if block.inline:
            problems.append(
                error(
                    "inline-parameter",
                    f"block {block.name!r} is inline, so it has no module to keep its {what.replace('_', ' ')} for "
                    "forward(); make the block not inline",
                    span,
                )
            )
            continue
        setattr(names, what, namer.attrs.add("split_sizes" if what == "split" else what, span, what))
        namer.owners[getattr(names, what)] = what
    if block.combine == "seq":
        namer.sequence(block.branches[0].layers, "")
    else:
        namer.branches(block.branches, "")
    return names


@dataclass(frozen=True)
class _At:
    """Where a block's attributes go: the module path that holds them, and their names there."""

    container: str
    names: BlockNames

    def path(self, rel: str) -> str:
        return _join(self.container, self.names.attrs[rel])

    def bn_path(self, rel: str) -> str | None:
        return _join(self.container, self.names.bn[rel]) if rel in self.names.bn else None

    def within(self, rel: str) -> _At:
        return _At(self.container, self.names.within(rel))


class _Placer:
    """The module path of every IR node, by the rules above."""

    def __init__(self, spec: Spec, blocks: dict[str, BlockNames], modules: dict[str, str], bn_modules: dict[str, str]):
        self.spec, self.blocks, self.modules, self.bn_modules = spec, blocks, modules, bn_modules

    def layer(self, layer: Layer, node: str, path: str, bn_path: str | None = None) -> None:
        if layer.times == 1:
            self.one(layer, node, path, bn_path)
            return
        for copy in range(layer.times):
            self.one(layer, f"{node}.{copy}", f"{path}.{copy}")

    def one(self, layer: Layer, node: str, path: str, bn_path: str | None = None) -> None:
        if not isinstance(layer.call, BlockCall):
            if has_module(layer):  # a concat or add of earlier layers is computed in forward()
                self.modules[node] = path
                if bn_path is not None:
                    self.bn_modules[node] = bn_path
            return
        block = self.spec.blocks[layer.call.block]
        self.body(block, node, _At(path, self.blocks[block.name]))

    def inline(self, layer: Layer, node: str, at: _At) -> None:
        """An inline use: its block's layers are placed where `at` says, under the names of the use."""
        self.body(self.spec.blocks[layer.call.block], node, at)

    def body(self, block: Block, node: str, at: _At) -> None:
        if block.combine == "seq":
            self.sequence(block, block.branches[0].layers, "", node, at)
        else:
            self.branches(block, block.branches, "", node, at)

    def sequence(self, block: Block, layers: tuple[Layer, ...], prefix: str, node: str, at: _At) -> None:
        for layer in layers:
            rel, inner = _join(prefix, layer.name), _join(node, layer.name)
            if isinstance(layer.call, MergeCall):
                self.branches(block, layer.call.branches, rel, inner, at)
            elif _inline_block(self.spec.blocks, layer) is not None:
                self.inline(layer, inner, at.within(rel))
            else:
                self.layer(layer, inner, at.path(rel), at.bn_path(rel))

    def branches(self, block: Block, branches: tuple[Branch, ...], prefix: str, node: str, at: _At) -> None:
        for branch in branches:
            rel, inner = _join(prefix, branch.name), _join(node, branch.name)
            if _is_flat(block, branch):
                self.sequence(block, branch.layers, rel, inner, at)
                continue
            branch_path = at.path(rel)
            for index, layer in enumerate(branch.layers):
                if branch.indexed:
                    layer_path = branch_path if len(branch.layers) == 1 else f"{branch_path}.{index}"
                else:
                    layer_path = f"{branch_path}.{at.names.branch_items[(rel, layer.name)]}"
                self.layer(layer, f"{inner}.{layer.name}", layer_path)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


def _slots(graph: Graph, name: str, path: str, bn_path: str | None = None) -> list[Slot]:
    node = graph[name]
    return OPS[node.kind].slots(node.attrs, graph[graph.inputs(name)[0]].shape, path, bn_path)


def shared_prefix(paths: list[str]) -> str:
    """The start of the name of something placed beside several modules: the module path they share
    ('inception3a.' for inception3a.branch1.conv and inception3a.branch2.0.conv), and when they are
    attributes of that module named alike, as an inline block use names its layers, that name's
    start too ('inception_3a_' for inception_3a_1x1 and inception_3a_3x3_reduce)."""
    parts = [path.split(".") for path in paths]
    common = []
    for part in zip(*parts, strict=False):
        if len(set(part)) != 1:
            break
        common.append(part[0])
    prefix = "".join(f"{part}." for part in common)
    if all(len(part) == len(common) + 1 for part in parts):
        last = os.path.commonprefix([part[-1] for part in parts])
        prefix += last[: last.rfind("_") + 1]
    return prefix
