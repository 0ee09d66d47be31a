"""The ONNX backend: the inference graph written in ONNX's textual syntax, parsed, weighted, checked.

The text (templates/onnx/) is the model: `build_onnx` parses it with onnx.parser and only adds
the initializers. Each block becomes an ONNX local function (domain `netgen.blocks`) that takes
its weights as inputs, so the block structure survives export; `inline_functions=True` writes
plain nodes instead, as a block with `inline: true` always is (its layers are the using module's).
Only the inference path is exported: no auxiliary heads, no dropout.

Names: ONNX values and nodes are named after IR nodes (`inception3a.branch_3x3.conv2`), weights
after the generated module's state_dict keys; the text quotes every name, so dots are kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnx.checker
import onnx.helper
import onnx.numpy_helper
import onnx.parser
import onnx.printer
import onnx.shape_inference

from netgen import __version__
from netgen.backends.init import initial_weights
from netgen.backends.layout import Layout, Slot
from netgen.backends.render import render
from netgen.diagnostics import Diagnostic, SpecError, error
from netgen.ir.graph import Graph, Instance, Node
from netgen.ir.ops import OpKind
from netgen.ops import OPS
from netgen.ops.base import ARGS, Arg, BackendGuard, OnnxContext, Step, Tensor, Weight
from netgen.passes.shapes import fmt
from netgen.printable import escape
from netgen.spec.fields import fits_float32
from netgen.spec.model import Spec

# The default ai.onnx opset is the newest that both onnx.checker (onnx 1.23) and onnxruntime
# (1.32) know. 13 is the oldest netgen writes: Softmax over axis 1 of a feature map means that
# only from opset 13 on, and the onnxruntime versions older opsets target predate it.
OPSET = 28
MIN_OPSET = 13
# Model-local functions (one per block) need IR version 8.
MIN_IR_VERSION = 8
BLOCK_DOMAIN = "netgen.blocks"
BLOCK_DOMAIN_VERSION = 1
PRODUCER = "netgen"
BATCH = "N"
INPUT = "input"
# The model's outputs: forward()'s logits and, when the spec ends in a softmax, its probabilities.
LOGITS = "logits"
PROBS = "probs"

# torchvision's transform_input: inputs normalised to [-1, 1] are re-normalised with ImageNet's statistics.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Running statistics ride along in the state_dict but ONNX has no use for them.
UNUSED_ROLES = frozenset({"num_batches_tracked"})

_QUOTABLE = re.compile(r'^[^"\\\n]+$')


class OnnxBackendError(RuntimeError):
    """The ONNX model netgen wrote is wrong: a bug in netgen, not in the spec."""


@dataclass(frozen=True)
class OnnxNode:
    """One line of ONNX text, every part already quoted or formatted."""

    label: str
    outputs: tuple[str, ...]
    op: str
    attrs: tuple[str, ...]
    inputs: tuple[str, ...]


@dataclass
class OnnxFunction:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    nodes: tuple[OnnxNode, ...]
    calls_blocks: bool
    opset: int
    domain: str = f'"{BLOCK_DOMAIN}"'

    @property
    def opsets(self) -> list[str]:
        return _opsets(self.opset, with_blocks=self.calls_blocks)


@dataclass
class _Export:
    """What the text is rendered from, and which IR nodes have a value in the main graph."""

    nodes: list[OnnxNode]
    functions: list[OnnxFunction]
    weights: list[tuple[str, Slot, Node]]  # initializer name, its slot, the IR node owning it
    opset: int
    graph_values: dict[str, str]  # IR node -> its value in the main graph
    outputs: list[tuple[str, str]]  # (IR node, the model output that holds it), logits first


# -- public API ------------------------------------------------------------------------------


def onnx_text(spec: Spec, graph: Graph, layout: Layout, inline_functions: bool = False, opset: int = OPSET) -> str:
    """The inference graph in ONNX's textual syntax, weights declared but without data."""
    return _render(spec, graph, _export(spec, graph, layout, inline_functions, opset))


def build_onnx(
    spec: Spec,
    graph: Graph,
    layout: Layout,
    state_dict: dict[str, np.ndarray] | None = None,
    inline_functions: bool = False,
    opset: int = OPSET,
) -> onnx.ModelProto:
    """The checked ONNX model, weighted from `state_dict` (the generated module's) or the spec's init rule.

    Its input's height and width are symbolic when the network is size-agnostic (see `size_agnostic`);
    the checks run on the spec's input size first, so every shape is compared with the IR's."""
    if not MIN_OPSET <= opset <= OPSET:
        raise OnnxBackendError(f"opset {opset} is outside the supported {MIN_OPSET} to {OPSET}")
    _refuse_rounding_of_older_opsets(graph, opset)
    export = _export(spec, graph, layout, inline_functions, opset)
    text = _render(spec, graph, export)
    try:
        model = onnx.parser.parse_model(text)
    except onnx.parser.ParseError as exc:
        raise OnnxBackendError(f"onnx.parser rejects the text netgen wrote: {exc}") from None
    declared = list(model.graph.value_info)
    if [info.name for info in declared] != [name for name, _, _ in export.weights]:
        raise OnnxBackendError("the parsed model's weight declarations differ from the ones netgen wrote")
    weights = state_dict if state_dict is not None else initial_weights(spec, graph, layout)
    arrays = _weight_arrays(export.weights, weights, from_file=state_dict is not None)
    del weights  # the spec's initial weights are `arrays` now
    if spec.description:
        model.doc_string = spec.description
    # ONNX's checker and shape inference see the weights as inputs of the declared types and shapes,
    # which is all they read of them; given the data too, each would copy every weight twice (the
    # serialized model and its parse), which for a 350 MB network took 1.2 GB beside the model.
    del model.graph.value_info[:]
    model.graph.input.extend(declared)
    check_model(model)
    _check_shapes(model, graph, export)
    if size_agnostic(graph):
        _free_spatial_dims(model)
        check_model(model)
    del model.graph.input[1:]
    # One tensor at a time, each array let go once it is in the model: never two copies of them all.
    for index, (key, array) in enumerate(arrays):
        arrays[index] = None
        model.graph.initializer.append(onnx.numpy_helper.from_array(array, key))
    return model


def size_agnostic(graph: Graph) -> bool:
    """Whether the inference graph runs at any input size its convolutions and pools allow: no
    flatten reads a map whose size follows the input's, and the only adaptive pooling that does is
    global (ONNX writes other adaptive pooling with the kernel of one input size)."""
    follows: dict[str, bool] = {}  # node -> its height and width depend on the input's
    for node in graph.trunk():
        sources = graph.inputs(node.name)
        varies = node.kind is OpKind.INPUT or any(follows[source] for source in sources)
        if varies and node.kind is OpKind.FLATTEN:
            return False
        if varies and node.kind is OpKind.ADAPTIVE_AVGPOOL:
            if node.attrs.out != (1, 1):
                return False
            varies = False
        follows[node.name] = varies
    return True


def _free_spatial_dims(model: onnx.ModelProto) -> None:
    """Height and width of the input become `H` and `W`; those of a map-shaped output, unknown."""
    for value, names in [(model.graph.input[0], ("H", "W")), *((output, ("", "")) for output in model.graph.output)]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 4:
            continue
        for dim, name in zip(dims[2:], names, strict=True):
            dim.Clear()
            if name:
                dim.dim_param = name


def onnx_graph_text(model: onnx.ModelProto) -> str:
    """The model as ONNX text, weights declared by type and shape only (one a line): small, diffable,
    and parseable again by onnx.parser."""
    bare = _without_initializers(model)
    del bare.graph.value_info[:]
    # The doc_string is free text: kept out of the lines searched and trimmed here, and written back with
    # what a terminal would obey written as escapes (the .onnx file keeps it as it is).
    bare.ClearField("doc_string")
    lines = [line.rstrip() for line in onnx.printer.to_text(bare).splitlines()]
    declarations = [f"   {_initializer_type(tensor)} {quote(tensor.name)}," for tensor in model.graph.initializer]
    if declarations:
        # The weights go between the graph's signature and its `{`, where the printer would put them.
        declarations[-1] = declarations[-1].rstrip(",")
        signature = next(index for index, line in enumerate(lines) if "=>" in line)
        lines[signature] = lines[signature].removesuffix("{").rstrip()
        lines[signature + 1 : signature + 1] = ["<", *declarations, ">", "{"]
    if model.doc_string:
        # The last of the model's header fields, as the printer writes it.
        header_end = lines.index(">")
        lines[header_end - 1] += ","
        lines.insert(header_end, f"   doc_string: {_string_literal(escape(model.doc_string))}")
    return "\n".join(lines) + "\n"


def _without_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` without its initializers, which hold nearly all of a large model's bytes."""
    bare = onnx.ModelProto()
    _copy_fields(model, bare, skip="graph")
    _copy_fields(model.graph, bare.graph, skip="initializer")
    return bare


def _copy_fields(source, target, skip: str) -> None:
    for descriptor, value in source.ListFields():
        if descriptor.name == skip:
            continue
        if descriptor.is_repeated:
            getattr(target, descriptor.name).extend(value)
        elif descriptor.message_type is not None:
            getattr(target, descriptor.name).CopyFrom(value)
        else:
            setattr(target, descriptor.name, value)


def _string_literal(text: str) -> str:
    """A string in ONNX text: the grammar escapes only quotes and backslashes; newlines stand as they are."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- text ------------------------------------------------------------------------------------


def _render(spec: Spec, graph: Graph, export: _Export) -> str:
    input_shape = (BATCH, *spec.input)
    return render(
        "onnx/model.onnx.j2",
        ir_version=max(MIN_IR_VERSION, onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", export.opset)])),
        opsets=_opsets(export.opset, with_blocks=bool(export.functions)),
        producer_name=quote(PRODUCER),
        producer_version=quote(__version__),
        graph_name=quote(spec.name),
        inputs=[f"{_tensor_type(input_shape)} {quote(INPUT)}"],
        outputs=[f"{_tensor_type((BATCH, *graph[node].shape))} {quote(value)}" for node, value in export.outputs],
        weights=[f"{_tensor_type(slot.shape)} {quote(name)}" for name, slot, _ in export.weights],
        nodes=export.nodes,
        functions=export.functions,
    )


def quote(name: str) -> str:
    """A name as an ONNX quoted identifier; the grammar has no escapes, so a quote cannot appear."""
    if not _QUOTABLE.match(name):
        raise OnnxBackendError(f"name {name!r} cannot be written in ONNX text")
    return f'"{name}"'


def _opsets(opset: int, with_blocks: bool) -> list[str]:
    opsets = [f'"" : {opset}']
    if with_blocks:
        opsets.append(f"{quote(BLOCK_DOMAIN)} : {BLOCK_DOMAIN_VERSION}")
    return opsets


def _initializer_type(tensor: onnx.TensorProto) -> str:
    if tensor.data_type != onnx.TensorProto.FLOAT:
        raise OnnxBackendError(f"weight {tensor.name} is not float32")
    return _tensor_type(tensor.dims)


def _tensor_type(shape) -> str:
    return "float[" + ", ".join(str(extent) for extent in shape) + "]"


def _attr(name: str, value) -> str:
    """`name = literal`; every literal goes through repr() so a float stays a float."""
    if isinstance(value, str):
        return f"{name} = {quote(value)}"
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, (tuple, list)):
        return f"{name} = [" + ", ".join(repr(int(item)) for item in value) + "]"
    if isinstance(value, float):
        return f"{name} = {_float32(name, value)}"
    return f"{name} = {int(value)!r}"


def _tensor_attr(name: str, tensor: Tensor) -> str:
    if tensor.dtype == "int64":
        return f"{name} = int64[{', '.join(map(str, tensor.shape))}] {{" + ", ".join(repr(int(v)) for v in tensor.values) + "}"
    return f"{name} = {_tensor_type(tensor.shape)} {{" + ", ".join(_float32(name, v) for v in tensor.values) + "}"


def _float32(name: str, value: float) -> str:
    """A float attribute's literal. ONNX keeps it in float32; the spec's checks keep every number
    that gets here in its range, so one outside it is netgen's mistake."""
    if not fits_float32(float(value)):
        raise OnnxBackendError(f"attribute {name} = {value!r} does not fit float32")
    return repr(float(value))


# -- the graph and its functions ---------------------------------------------------------------


def _export(spec: Spec, graph: Graph, layout: Layout, inline_functions: bool, opset: int) -> _Export:
    functions = None if inline_functions else _Functions(spec, graph, layout, opset)
    trunk = [node for node in graph.trunk() if node.kind is not OpKind.INPUT]
    weights: list[tuple[str, Slot, Node]] = []
    for node in trunk:
        weights += [(slot.key, slot, node) for slot in _used_slots(layout, node)]
    # The model's outputs keep their names; a layer named like one is renamed inside the graph.
    outputs = [(graph.logits(), LOGITS)]
    if graph.logits() != graph.output:
        outputs.append((graph.output, PROBS))
    taken = {node.name for node in trunk} | set(graph.instances) | {key for key, _, _ in weights}
    renamed = {name: _fresh(f"{name}_", taken) for _, name in outputs if name in taken}
    # A parameter that is its module (layer scale's `gamma`) has its node's name: the value gives way.
    keys = {key for key, _, _ in weights}
    renamed |= {node.name: _fresh(f"{node.name}_", taken) for node in trunk if node.name in keys}
    scope = _Scope(
        graph,
        layout,
        functions,
        path=None,
        local=lambda name: renamed.get(name, name),
        weight=lambda node, slot: slot.key,
        opset=opset,
    )
    entry = INPUT
    nodes: list[OnnxNode] = []
    if spec.transform_input:
        nodes += _transform_input(spec)
        entry = f"{INPUT}.transformed"
    nodes += scope.emit(trunk, entry_node=INPUT, entry_value=entry, exits=outputs)
    _ensure_distinct(nodes, what=f"graph {spec.name}")
    return _Export(nodes, functions.defined if functions else [], weights, opset, scope.written, outputs)


def _transform_input(spec: Spec) -> list[OnnxNode]:
    if spec.input[0] != 3:  # the export pass refuses such a spec
        raise OnnxBackendError(f"transform_input on a {spec.input[0]}-channel input")
    scale = [std / 0.5 for std in IMAGENET_STD]
    shift = [(mean - 0.5) / 0.5 for mean in IMAGENET_MEAN]
    shape = (1, 3, 1, 1)
    names = {part: quote(f"{INPUT}.{part}") for part in ("scale", "shift", "scaled", "transformed")}
    return [
        OnnxNode(names["scale"], (names["scale"],), "Constant", (_tensor_attr("value", Tensor(shape, tuple(scale))),), ()),
        OnnxNode(names["shift"], (names["shift"],), "Constant", (_tensor_attr("value", Tensor(shape, tuple(shift))),), ()),
        OnnxNode(names["scaled"], (names["scaled"],), "Mul", (), (quote(INPUT), names["scale"])),
        OnnxNode(names["transformed"], (names["transformed"],), "Add", (), (names["scaled"], names["shift"])),
    ]


class _Functions:
    """One FunctionProto per block, made on first use; a block whose instances need different
    attributes (adaptive pooling over different input sizes) gets one function per variant."""

    def __init__(self, spec: Spec, graph: Graph, layout: Layout, opset: int):
        self.graph = graph
        self.layout = layout
        self.opset = opset
        self.defined: list[OnnxFunction] = []
        self._by_body: dict[tuple, str] = {}
        self._variants: dict[str, int] = {}
        self._taken = set(spec.blocks)
        # instance path -> the block uses nested inside it, at any depth; built once, not per use
        self._inner: dict[str, list[str]] = {}
        for path in graph.instances:
            parts = path.split(".")
            for cut in range(1, len(parts)):
                self._inner.setdefault(".".join(parts[:cut]), []).append(path)

    def nodes_of(self, instance: Instance) -> list[Node]:
        # Sorted by position rather than filtered from nodes(): linear in the block, not in the network.
        graph = self.graph
        return [graph[name] for name in sorted(instance.nodes, key=graph.position)]

    def name_for(self, instance: Instance) -> str:
        graph = self.graph
        nodes = self.nodes_of(instance)
        rel = _relative_to(instance.path)
        weights = [_formal_weight(instance, node, slot) for node in nodes for slot in _used_slots(self.layout, node)]
        # Every name a value of the body can have: its nodes' and the blocks it calls, whose value is
        # named like their use (a `layers` block's use is no node of its own).
        inner = self._inner.get(instance.path, [])
        taken = {rel(node.name) for node in nodes} | {rel(path) for path in inner}
        x, y = _fresh("x", taken), _fresh("y", taken)
        scope = _Scope(
            graph,
            self.layout,
            self,
            path=instance.path,
            local=lambda name: rel(name) or _merge_label(graph[name]),
            weight=lambda node, slot: _formal_weight(instance, node, slot),
            opset=self.opset,
        )
        body = scope.emit(nodes, entry_node=instance.entry, entry_value=x, exits=[(instance.exit, y)])
        _ensure_distinct(body, what=f"block {instance.block}")
        inputs = (quote(x), *(quote(name) for name in weights))
        key = (instance.block, inputs, tuple(body))
        if key in self._by_body:
            return self._by_body[key]
        variant = self._variants[instance.block] = self._variants.get(instance.block, 0) + 1
        name = instance.block if variant == 1 else _fresh(f"{instance.block}_{variant}", self._taken)
        self._taken.add(name)
        self._by_body[key] = name
        calls_blocks = any(node.op.startswith(BLOCK_DOMAIN + ".") for node in body)
        self.defined.append(OnnxFunction(name, inputs, (quote(y),), tuple(body), calls_blocks, self.opset))
        return name

    def actual_weights(self, instance: Instance, weight: Callable[[Node, Slot], str]) -> list[str]:
        """The caller's names for an instance's weights, in the function's order."""
        return [weight(node, slot) for node in self.nodes_of(instance) for slot in _used_slots(self.layout, node)]


@dataclass
class _Scope:
    """The main graph or one function body: which value each IR node has, and the nodes to write."""

    graph: Graph
    layout: Layout
    functions: _Functions | None
    path: str | None  # the instance whose function this is; None for the main graph
    local: Callable[[str], str]  # IR node -> its value's name here
    weight: Callable[[Node, Slot], str]  # a weight's name here
    opset: int = OPSET
    values: dict[str, str] = field(default_factory=dict)
    written: dict[str, str] = field(default_factory=dict)  # IR node -> value, for the nodes this scope writes
    calls: dict[str, Instance] = field(default_factory=dict)  # exit node -> the instance called for it
    entry: str = ""

    def emit(
        self, nodes: list[Node], entry_node: str, entry_value: str, exits: list[tuple[str, str]]
    ) -> list[OnnxNode]:
        """The ONNX nodes of `nodes`, reading `entry_value` for `entry_node` and writing each
        (IR node, value) of `exits` under that value's name."""
        if self.functions is not None:
            for node in nodes:
                instance = self._called_instance(node)
                if instance is not None and node.name == instance.exit:
                    self.calls[node.name] = instance
        self.entry = entry_node
        self.values[entry_node] = entry_value
        copies = []  # exits whose value another name holds already: written by Identity
        for exit_node, exit_value in exits:
            source = self._source(exit_node)
            if source == entry_node or source in self.values:
                # Nothing but dropout between entry and exit, or two exits of one value.
                copies.append((exit_value, source))
            else:
                self.values[source] = exit_value
        for exit_name, instance in self.calls.items():
            # A call's value is named like the block's use (`p1`), not like the node inside it that ends it.
            self.values.setdefault(exit_name, self.local(instance.path))
        out: list[OnnxNode] = []
        for node in nodes:
            instance = self._called_instance(node) if self.functions is not None else None
            if instance is not None:
                if node.name == instance.exit:
                    out.append(self._call(node, instance))
                continue
            if OPS[node.kind].onnx_skip:
                continue
            out += self._lower(node)
        for exit_value, source in copies:
            out.append(OnnxNode(quote(exit_value), (quote(exit_value),), "Identity", (), (quote(self.values[source]),)))
        return out

    # -- values --

    def _source(self, name: str) -> str:
        """The IR node whose value `name` stands for: dropout passes its input through. The scope's
        entry and the blocks it calls are where the search stops: what lies before is out of sight."""
        while name != self.entry and name not in self.calls and _skipped(self.graph[name]):
            name = self.graph.inputs(name)[0]
        return name

    def value(self, name: str) -> str:
        source = self._source(name)
        return self.values.get(source) or self.local(source)

    def _output(self, node: Node) -> str:
        name = self.value(node.name)
        self.written[node.name] = name
        return name

    def _called_instance(self, node: Node) -> Instance | None:
        """The outermost block instance below this scope that `node` belongs to. A use of an inline
        block is no function: its nodes are the scope's own, as its layers are the module's."""
        scopes = node.scope
        if self.path is not None:
            if self.path not in scopes:
                return None
            scopes = scopes[scopes.index(self.path) + 1 :]
        instances, blocks = self.graph.instances, self.layout.blocks
        return next(
            (instances[path] for path in scopes if path in instances and not blocks[instances[path].block].inline), None
        )

    # -- nodes --

    def _call(self, node: Node, instance: Instance) -> OnnxNode:
        name = self.functions.name_for(instance)
        inputs = (
            quote(self.value(instance.entry)),
            *(quote(w) for w in self.functions.actual_weights(instance, self.weight)),
        )
        label = self.local(instance.path)
        return OnnxNode(quote(label), (quote(self._output(node)),), f"{BLOCK_DOMAIN}.{name}", (), inputs)

    def _lower(self, node: Node) -> list[OnnxNode]:
        """The ONNX nodes an IR node's op declares; the last writes the node's value, earlier ones `<name>.<step>`."""
        graph = self.graph
        sources = graph.inputs(node.name)
        inputs = [quote(self.value(source)) for source in sources]
        slots = {slot.role: quote(self.weight(node, slot)) for slot in _used_slots(self.layout, node)}
        op = OPS[node.kind]
        if op.onnx is None:
            raise AssertionError(f"no ONNX lowering for {node.kind}")
        shapes = tuple(graph[source].shape for source in sources)
        try:
            steps = op.onnx(OnnxContext(node.name, node.attrs, shapes, frozenset(slots), self.opset))
        except BackendGuard as exc:
            raise OnnxBackendError(str(exc)) from None
        local = self.local(node.name)
        out_value = self._output(node)
        values: dict[str, str] = {}  # step -> its value
        lowered: list[OnnxNode] = []
        for index, step in enumerate(steps):
            last = index == len(steps) - 1
            label = local if len(steps) == 1 else f"{local}.{step.name}"
            value = quote(out_value if last else f"{local}.{step.name}")
            references = {"previous": lowered[-1].outputs[0] if lowered else None}
            step_inputs = [name for ref in step.inputs for name in _names(ref, inputs, slots, values, references)]
            attrs = tuple(_tensor_attr(name, v) if isinstance(v, Tensor) else _attr(name, v) for name, v in step.attrs)
            lowered.append(OnnxNode(quote(label), (value,), step.op, attrs, tuple(step_inputs)))
            values[step.name] = value
        return lowered


def _names(ref, inputs: list[str], slots: dict[str, str], values: dict[str, str], references: dict) -> list[str]:
    """The value names a lowering's input reference stands for."""
    if ref == ARGS:
        return inputs
    if isinstance(ref, Arg):
        return [inputs[ref.index]]
    if isinstance(ref, Weight):
        return [slots[ref.role]]
    if isinstance(ref, Step):
        return [values[ref.name]]
    return [references["previous"]]


def _refuse_rounding_of_older_opsets(graph: Graph, opset: int) -> None:
    """An op that an older opset computes otherwise (a pool's ceil rounding before opset 22): an
    error at the op, with the way out."""
    problems = []
    for node in graph.trunk():
        op = OPS.get(node.kind)
        if op is None or op.onnx_opset_rule is None:
            continue
        problem = op.onnx_opset_rule(node.attrs, graph[graph.inputs(node.name)[0]].shape, node.shape, opset)
        if problem is not None:
            problems.append(error("opset-rounding", f"{node.name}: {problem}", node.span))
    if problems:
        raise SpecError(problems)


def _merge_label(node: Node) -> str:
    """A block's concat/add node carries the instance's own name; inside the function it is `concat`/`add`."""
    return node.kind.value


def _skipped(node: Node) -> bool:
    """Left out of the inference graph (dropout): its value is its input's."""
    op = OPS.get(node.kind)
    return op is not None and op.onnx_skip


def _relative_to(path: str) -> Callable[[str], str]:
    prefix = path + "."
    return lambda name: name[len(prefix) :] if name.startswith(prefix) else ("" if name == path else name)


def _formal_weight(instance: Instance, node: Node, slot: Slot) -> str:
    """A weight's name inside a block's function: the node's name in the block and the slot's role
    (`branch_3x3.conv2.weight`, `branch_3x3.conv2.running_mean`)."""
    return f"{_relative_to(instance.path)(node.name)}.{slot.role}"


def _used_slots(layout: Layout, node: Node) -> list[Slot]:
    return [slot for slot in layout.slots.get(node.name, []) if slot.role not in UNUSED_ROLES]


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _ensure_distinct(nodes: list[OnnxNode], what: str) -> None:
    seen: set[str] = set()
    for node in nodes:
        for value in node.outputs:
            if value in seen:
                raise OnnxBackendError(f"two ONNX nodes of {what} both write {value}")
            seen.add(value)


# -- weights and checks ------------------------------------------------------------------------


def _weight_arrays(
    needed: list[tuple[str, Slot, Node]], weights: dict[str, np.ndarray], from_file: bool
) -> list[tuple[str, np.ndarray] | None]:
    """(name, float32 array) of every weight the model needs, each checked against its slot."""
    problems: list[Diagnostic] = []
    arrays: list[tuple[str, np.ndarray] | None] = []
    for key, slot, node in needed:
        value = weights.get(key)
        if value is None:
            problems.append(
                error("weights-mismatch", f"{node.name}: the weights have no {key!r} ({fmt(slot.shape)})", node.span)
            )
            continue
        value = np.asarray(value)
        if tuple(value.shape) != tuple(slot.shape):
            problems.append(
                error(
                    "weights-mismatch",
                    f"{node.name}: {key!r} is {fmt(value.shape) or 'a scalar'} in the weights but the network needs {fmt(slot.shape)}",
                    node.span,
                )
            )
            continue
        if not np.issubdtype(value.dtype, np.floating):
            problems.append(
                error("weights-mismatch", f"{node.name}: {key!r} holds {value.dtype} values, not floats", node.span)
            )
            continue
        arrays.append((key, np.ascontiguousarray(value, dtype=np.float32)))
    if problems:
        if not from_file:
            raise OnnxBackendError("the spec's initial weights do not fit the network: " + problems[0].message)
        raise SpecError(problems)  # every mismatch, each at its layer: one run shows them all
    return arrays


def check_model(model: onnx.ModelProto) -> None:
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise OnnxBackendError(f"onnx.checker rejects the model netgen wrote: {exc}") from None


def _check_shapes(model: onnx.ModelProto, graph: Graph, export: _Export) -> None:
    """ONNX's own shape inference must give every IR node with a value in the main graph the IR's shape."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        raise OnnxBackendError(f"ONNX shape inference fails on the model netgen wrote: {exc}") from None
    shapes = {info.name: _shape_of(info) for info in [*inferred.graph.value_info, *inferred.graph.output]}
    for ir_name, value in export.graph_values.items():
        want = (BATCH, *graph[ir_name].shape)
        got = shapes.get(value)
        if got != want:
            shown = "no shape" if got is None else _show(got)
            raise OnnxBackendError(
                f"ONNX shape inference gives {shown} for {ir_name} (value {value!r}) where the IR has {_show(want)}"
            )


def _shape_of(info: onnx.ValueInfoProto):
    tensor = info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return tuple(
        dim.dim_param if dim.HasField("dim_param") else (dim.dim_value if dim.HasField("dim_value") else "?")
        for dim in tensor.shape.dim
    )


def _show(shape) -> str:
    return " x ".join(str(extent) for extent in shape)
