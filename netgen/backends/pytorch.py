"""The PyTorch backend: one standalone, readable module file in the style of torchvision's googlenet.py.

Python here decides what the file says (which classes, constructor arguments and statements),
taking every name from the layout and every number from the IR; templates/pytorch/ decides how
it is written. The text is formatted by the pinned ruff and parsed before it is returned.

A block becomes one class, written from the block's definition: channel counts are expressions
in its parameters (`n1x1 + n3x3 + n5x5 + pool_proj`), and every use of the block is checked
against the IR. The one IR fact a definition cannot express is the spatial size a `flatten`
sees, so every use of a block must agree on it.

`forward` returns logits in every mode, as torchvision's and timm's models do: a spec's final
softmax is its output activation, applied by the generated `predict()`. Parameter-free `concat` and `add` layers are computed in `forward`
(torch.cat, +) and have no module, unlike every other layer.
"""

from __future__ import annotations

import ast
import math
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from netgen.backends.layout import BlockNames, Layout, shared_prefix
from netgen.backends.render import render
from netgen.diagnostics import SpecError, error, note
from netgen.ir.build import INPUT
from netgen.ir.graph import Graph
from netgen.ir.names import GENERATED_NAMES, MODULE_NAMES, sanitize
from netgen.ir.ops import OpKind, kind_for_op
from netgen.ops import OPS, SPEC_OPS
from netgen.ops.activation import ACTIVATIONS, NONE
from netgen.ops.base import Call, Param, Select
from netgen.ops.expr import IN, parse_expr
from netgen.ops.expr import Expr as Channels  # a channel count as generated code computes it
from netgen.ops.norm import BatchNorm
from netgen.ops.tensor import DropPath
from netgen.passes.expand import WORDS, scale
from netgen.spec.model import Block, BlockCall, Head, Layer, MergeCall, OpCall, Spec
from netgen.spec.parse import MERGE_OPS
from netgen.summary import totals

LINE_LENGTH = 100
# The classes of the file's own (templates/pytorch/<helper>.py.j2) that call torch.nn.functional.
HELPERS_USING_F = frozenset({"layer_norm_2d"})
TEMPLATE = "pytorch/module.py.j2"


class GeneratedCodeError(RuntimeError):
    """netgen wrote Python it cannot stand behind: a bug in netgen, never in the spec."""


# -- what the templates see ------------------------------------------------------------------


@dataclass(frozen=True)
class Constant:
    """A block argument that is not a channel count: a scale (0.17) or an activation ('relu')."""

    literal: float | str

    def mentions(self, name: str) -> bool:
        return False


@dataclass(frozen=True)
class OpModule:
    """A torch.nn module for one primitive op; `attrs` are the IR's, channel counts are `Channels`.
    `call` is its constructor and `after` what forward() applies to its output, as the op declares
    them (netgen.ops)."""

    kind: str
    attrs: Any
    in_channels: Channels
    out: Channels
    conv_options: tuple[tuple[str, object], ...] = ()  # BasicConv2d arguments that differ from its defaults
    flat: bool = False  # over (N, F) features: nn.BatchNorm1d
    form: str = "op"
    call: Call | None = None
    after: Call | None = None
    apply: Call | None = None  # an nn.Parameter attribute: how forward() applies it (layer scale)

    @staticmethod
    def of(kind: str, attrs: Any, in_channels: Channels, out: Channels, conv_options=(), flat: bool = False) -> OpModule:
        op = OPS[kind]
        module = OpModule(kind, attrs, in_channels, out, conv_options, flat)
        apply = op.torch_apply(module) if op.torch_apply is not None else None
        return replace(module, call=op.torch(module), after=op.torch_after(attrs), apply=apply)


@dataclass(frozen=True)
class BlockModule:
    cls: str
    args: tuple[Channels | Constant, ...]
    form: str = "block"
    kwargs: tuple[tuple[str, str], ...] = ()  # name, code: the stochastic depth rates it is given


@dataclass(frozen=True)
class Choice:
    """One of several modules, as a block parameter picks it: `nn.MaxPool2d(...) if pool == "max" else ...`."""

    param: str
    options: tuple[tuple[str, OpModule], ...]
    form: str = "choice"


@dataclass(frozen=True)
class Sequential:
    items: tuple[Module, ...]
    names: tuple[str, ...] | None  # None: indexed 0, 1, ...
    form: str = "sequential"


@dataclass(frozen=True)
class Identity:
    form: str = "identity"


@dataclass(frozen=True)
class ConvBN:
    """A bare conv with batch norm: two attributes side by side, the conv's and `bn_attr` (Caffe's layout)."""

    conv: OpModule
    bn: OpModule
    bn_attr: str
    after: Call | None  # the conv's activation, applied in forward() after the batch norm
    form: str = "conv_bn"


@dataclass(frozen=True)
class Inline:
    """A use of an inline block: attributes of the module that uses it, and a function writing the
    statements that run them, given the variable the use reads, the one it writes and the locals taken."""

    attrs: tuple[tuple[str, Module], ...]
    statements: Callable[[str, str, _Locals], list[Step]]
    form: str = "inline"


Module = OpModule | BlockModule | Choice | Sequential | Identity | ConvBN | Inline


@dataclass(frozen=True)
class ModuleRef:
    """self.<attr>, self.<attr>[<index>] or self.<attr>.<name>."""

    attr: str
    item: int | str | None = None


@dataclass(frozen=True)
class Step:
    """One statement of a forward(): `target = <action>`, or `return <action>` without a target."""

    target: str | None
    # call, head (a call made in training only), concat, add, residual, relu, act, var, or statements:
    # the statements in `body`, one layer's (a conv and its batch norm, an inline block use)
    action: str
    inputs: tuple[str, ...]
    module: ModuleRef | None = None
    after: Call | None = None  # applied in forward() to the module's output (a linear layer's act, a bare conv's)
    shape: tuple[int, ...] | None = None  # the output shape, written as a comment in the network's forward()
    extra: str | None = None  # residual: the scale's expression (None: 1); act: the attribute holding it; head: its condition
    body: tuple[Step, ...] = ()
    row: str | None = None  # the spec's layer or head this statement of the network's forward() runs


@dataclass
class BlockClass:
    name: str  # the spec's block name
    cls: str
    params: list[str]
    takes_num_classes: bool
    attrs: list[tuple[str, Module]]
    steps: list[Step]
    out: Channels
    param_types: list[str] = field(default_factory=list)  # Python annotations, one per parameter
    stored: list[tuple[str, str]] = field(default_factory=list)  # (attribute, value's code) forward() reads
    # stochastic depth: the IR's drop_path nodes inside, relative to a use, in the order their rates go;
    # the constructor takes `drop_path` (its own residual's alone) or `drop_path_rates` (a list)
    drops: list[str] = field(default_factory=list)
    drop_param: str | None = None
    residual: bool = False  # the block adds its input to its body
    stddevs: list[tuple[str, float]] = field(default_factory=list)  # (weight module, its own init std)


@dataclass(frozen=True)
class ConvFeature:
    """A BasicConv2d option: one value every conv shares, or a constructor argument with a default."""

    name: str
    value: object  # the shared value, or the constructor's default when `varies`
    varies: bool


@dataclass(frozen=True)
class Output:
    """One of forward()'s results: what it is (for the docstring), its field and its variable."""

    layer: str
    op: str
    shape: tuple[int, ...]
    var: str
    field: str = ""  # its field in the training outputs
    head: bool = False
    loss_weight: float = 1.0


# -- the plan --------------------------------------------------------------------------------


@dataclass
class _Scope:
    """Where a sequence of layers runs: the network's top level, or a block at each of its `paths`."""

    label: str
    paths: list[str]  # "" for the top level, else every use of the block
    symbols: dict[str, str]  # spec name -> identifier in generated code
    names: BlockNames  # the attributes of the module the layers are in
    prefix: str = ""  # of the local variables its layers get: `<use>_` in an inline block use
    # (node relative to a path, the channels generated code computes there, whether it is a block use)
    checks: list[tuple[str, Channels, bool]] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)  # drop_path nodes (relative) in the order their rates go
    rates: str = "drop_path_rates"  # the list of rates a block use takes its own from


@dataclass(frozen=True)
class _Planned:
    layer: Layer
    rel: str  # the IR node (or block use) relative to the scope's path
    sources: tuple[int | str | None, ...]  # earlier layers of the same sequence; None is its entry, "input" the block's
    module: Module | None
    out: Channels

    @property
    def op(self) -> str:
        return "block" if isinstance(self.layer.call, BlockCall) else kind_for_op(self.layer.call.op).value

    @property
    def after(self) -> Call | None:
        return _after(self.module)


class _Locals:
    """Fresh local variable names for one forward()."""

    def __init__(self, reserved):
        self.taken = set(reserved)

    def fresh(self, base: str) -> str:
        base = sanitize(base)
        name, count = base, 1
        while name in self.taken:
            count += 1
            name = f"{base}_{count}"
        self.taken.add(name)
        return name


class _Planner:
    def __init__(self, spec: Spec, graph: Graph, layout: Layout):
        self.spec, self.graph, self.layout = spec, graph, layout
        self.outputs_class = layout.outputs_class or f"{layout.network_class}Outputs"
        self.runtime_acts: set[str] = set()  # activations a constructor argument names, applied by activation()
        self.conv_features = self._conv_features()
        self.blocks: dict[str, BlockClass] = {}
        # Locals must not hide anything forward() reads: module-level names and classes.
        self.reserved = GENERATED_NAMES | MODULE_NAMES | {"BasicConv2d", layout.network_class, self.outputs_class}
        self.reserved |= {names.cls for names in layout.blocks.values()}

    # -- BasicConv2d -----------------------------------------------------------------------

    def _conv_features(self) -> dict[str, ConvFeature]:
        convs = [attrs for attrs in self._convs()]
        with_bn = [attrs for attrs in convs if attrs.bn_eps is not None]
        seen = {
            "bias": [attrs.bias for attrs in convs],
            "batch_norm": [attrs.bn_eps is not None for attrs in convs],
            "eps": [attrs.bn_eps for attrs in with_bn],
            "momentum": [attrs.bn_momentum for attrs in with_bn],
        }
        # ReLU or none: a flag, as torchvision's BasicConv2d has it; other activations: by name.
        acts = [attrs.act for attrs in convs]
        if set(acts) <= {"relu", NONE}:
            seen["relu"] = [act == "relu" for act in acts]
        else:
            seen["act"] = acts
            if len(set(acts)) > 1:
                self.runtime_acts |= set(acts) - {NONE}
        # The most common value (the first seen, on a tie) becomes the default.
        return {
            name: ConvFeature(name, Counter(values).most_common(1)[0][0], len(set(values)) > 1)
            for name, values in seen.items()
            if values
        }

    def _convs(self) -> list:
        """The convolutions written as BasicConv2d units (a bare one is an nn.Conv2d)."""
        return [node.attrs for node in self.graph.nodes() if node.kind is OpKind.CONV and not node.attrs.bare]

    def conv_options(self, attrs) -> tuple[tuple[str, object], ...]:
        values = {"bias": attrs.bias, "batch_norm": attrs.bn_eps is not None, "relu": attrs.act == "relu", "act": attrs.act}
        if attrs.bn_eps is not None:
            values.update(eps=attrs.bn_eps, momentum=attrs.bn_momentum)
        return tuple(
            (name, values[name])
            for name, feature in self.conv_features.items()
            if feature.varies and name in values and values[name] != feature.value
        )

    def basic_conv(self, ops: list[OpModule]) -> dict[str, Any] | None:
        """BasicConv2d's features, and the arguments its calls give beside them."""
        if not self._convs():
            return None
        given = {name for op in ops if op.call is not None and op.call.fn == "BasicConv2d" for name, _ in op.call.kwargs}
        act = self.conv_features.get("act")
        shared = None if act is None or act.varies or act.value == NONE else ACTIVATIONS[act.value].function
        return {
            "features": self.conv_features,
            "act": shared,  # the one activation every unit applies, as a call
            **{name: name in given for name in ("stride", "padding", "groups")},
        }

    # -- layers ----------------------------------------------------------------------------

    def channels(self, scope: _Scope, value: int | str, scaled: bool) -> Channels:
        """A count as the spec wrote it: a number (scaled by the width where expand scales it) or a name."""
        if isinstance(value, int):
            return Channels(const=scale(value, self.spec.width, self.spec.width_divisor) if scaled else value)
        return Channels.of(scope.symbols[value])

    def walk(
        self,
        scope: _Scope,
        layers: tuple[Layer, ...],
        entry: Channels,
        prefix: str,
        entry_names=(),
        block_input: Channels | None = None,
    ) -> list[_Planned]:
        """Plan a sequence: each layer's module and output channels, in terms of the scope's names."""
        local: dict[str, int | str | None] = {name: None for name in entry_names}
        outs: dict[int | str | None, Channels] = {None: entry}
        if block_input is not None:
            local[INPUT] = INPUT
            outs[INPUT] = block_input
        planned: list[_Planned] = []
        for index, layer in enumerate(layers):
            if layer.inputs is None:
                sources = (index - 1 if index else None,)
            else:
                sources = tuple(local[source] for source in layer.inputs)
            rel = _join(prefix, layer.name)
            module, out = self.plan_layer(scope, layer, rel, [outs[source] for source in sources])
            planned.append(_Planned(layer, rel, sources, module, out))
            local[layer.name] = index
            outs[index] = out
        return planned

    def plan_layer(
        self, scope: _Scope, layer: Layer, rel: str, inputs: list[Channels]
    ) -> tuple[Module | None, Channels]:
        """A layer's module; `times: N` makes an nn.Sequential of N copies, each reading the one before."""
        if layer.times == 1:
            return self.plan_one(scope, layer, rel, inputs)
        copies, out = [], inputs[0]
        for copy in range(layer.times):
            module, out = self.plan_one(scope, layer, f"{rel}.{copy}", [out])
            copies.append(module)
        return Sequential(tuple(copies), None), out

    def plan_one(
        self, scope: _Scope, layer: Layer, rel: str, inputs: list[Channels]
    ) -> tuple[Module | None, Channels]:
        module, out = self._plan_layer(scope, layer, rel, inputs)
        scope.checks.append((rel, out, isinstance(layer.call, BlockCall)))
        return module, out

    def argument(self, scope: _Scope, block: Block, index: int, value) -> Channels | Constant:
        """A block argument as the generated code writes it: a channel count, a constant, or a parameter."""
        kind = block.type_of(block.params[index])
        if kind == "channels":
            return self.channels(scope, value, scaled=True)
        if isinstance(value, str) and value not in WORDS.get(kind, ()):
            return Channels.of(scope.symbols[value])
        return Constant(float(value) if kind == "float" else value)

    def _plan_layer(
        self, scope: _Scope, layer: Layer, rel: str, inputs: list[Channels]
    ) -> tuple[Module | None, Channels]:
        call, in_channels = layer.call, inputs[0]
        if isinstance(call, BlockCall):
            block = self.spec.blocks[call.block]
            args = [self.argument(scope, block, index, arg) for index, arg in enumerate(call.args)]
            if block.inline:
                return self.inline_use(scope, block, rel, in_channels, args)
            inner = self.block_class(call.block)
            values = {
                "in_channels": in_channels,
                **dict(zip(inner.params, args, strict=True)),
                "num_classes": Channels.of("num_classes"),
            }
            if inner.takes_num_classes:
                args.append(values["num_classes"])
            kwargs: tuple[tuple[str, str], ...] = ()
            if inner.drops:  # its residuals' stochastic depth rates, in the order they run
                first, rates = len(scope.drops), scope.rates
                scope.drops += [f"{rel}.{drop}" for drop in inner.drops]
                given = f"{rates}[{first}]" if inner.drop_param == "drop_path" else f"{rates}[{first}:{len(scope.drops)}]"
                kwargs = ((inner.drop_param, given),)
            return BlockModule(inner.cls, (in_channels, *args), kwargs=kwargs), inner.out.substitute(values)
        node = self.graph[_join(scope.paths[0], rel)]
        op = OPS[node.kind]
        if op.combines == "sum":
            return None, sum(inputs[1:], in_channels)
        if op.combines:
            return None, in_channels
        # The arguments as the class writes them: block parameters by name where the spec names them.
        kind, attrs = SPEC_OPS[call.op].resolve(call.args, _Symbols(self, scope, in_channels))
        self.check_arguments(scope, rel, kind, attrs)
        out, flat, options = in_channels, False, ()
        if op.channels in ("out", "out_unscaled"):
            out = attrs.out
        elif op.channels == "flattened":
            out = in_channels * self.uniform(scope, layer, rel, "flattens", _spatial_size)
        if node.kind is OpKind.CONV:
            options = self.conv_options(node.attrs)  # bias, batch norm and activation: never parameters
            if node.attrs.bare and node.attrs.bn_eps is not None:  # Caffe's layout: its batch norm beside it
                conv = OpModule.of(kind, attrs, in_channels, out)
                bn = OpModule.of("batchnorm", BatchNorm(node.attrs.bn_eps, node.attrs.bn_momentum), out, out)
                return ConvBN(replace(conv, after=None), bn, scope.names.bn[rel], conv.after), out
        if op.by_rank:
            flat = self.uniform(scope, layer, rel, "normalises", len) == 1
        if isinstance(kind, Select):
            options_by_word = tuple((word, OpModule.of(choice, attrs, in_channels, out, options, flat)) for word, choice in kind.kinds)
            return Choice(kind.param.code, options_by_word), out
        return OpModule.of(kind, attrs, in_channels, out, options, flat), out

    def check_arguments(self, scope: _Scope, rel: str, kind, attrs) -> None:
        """Where a block parameter gives an op's argument (a kernel, groups, the pool type), the class
        computes it: at every use of the block it must be the IR's."""
        if not any(_symbolic(getattr(attrs, field.name)) for field in fields(attrs) if field.name != "out") and not isinstance(kind, Select):
            return
        for path in scope.paths:
            node = self.graph[_join(path, rel)]
            env = self.scope_env(scope, path)
            chosen = dict(kind.kinds)[env[kind.param.code]] if isinstance(kind, Select) else kind
            computed = replace(attrs, **{field.name: _evaluate(getattr(attrs, field.name), env) for field in fields(attrs)})
            if chosen != node.kind.value or computed != node.attrs:
                raise GeneratedCodeError(f"{node.name}: the generated code would build {chosen} {computed}, the IR has {node.kind.value} {node.attrs}")

    def check_drops(self, planned: list[str]) -> None:
        """The generated code hands its residuals their stochastic depth rates in the IR's order."""
        trunk = [node.name for node in self.graph.nodes() if node.kind is OpKind.DROP_PATH and node.head is None]
        heads = [node.name for node in self.graph.nodes() if node.kind is OpKind.DROP_PATH and node.head is not None]
        if planned != trunk + heads:
            raise GeneratedCodeError(f"the generated code orders the stochastic depth rates {planned}, the IR {trunk + heads}")

    def scope_env(self, scope: _Scope, path: str) -> dict[str, Any]:
        """The values the generated code's names have at one use of a block (or at the top level)."""
        env: dict[str, Any] = {"num_classes": self.spec.num_classes}
        if path:
            instance = self.graph.instances[path]
            params = self.spec.blocks[instance.block].params
            env["in_channels"] = self.graph[instance.entry].shape[0]
            env.update({scope.symbols[param]: value for param, value in zip(params, instance.args, strict=True)})
        return env

    def inline_use(
        self, scope: _Scope, block: Block, rel: str, entry: Channels, args: list[Channels | Constant]
    ) -> tuple[Inline, Channels]:
        """A use of an inline block at `rel` in `scope`: its attributes, named there, and how to write
        its statements once the variables around it are known. The block is planned in terms of its
        own parameters, then the use's arguments take their place."""
        names = scope.names.within(rel)
        paths = [_join(path, rel) for path in scope.paths]
        values: dict[str, Channels | Constant] = {"in_channels": entry, "num_classes": Channels.of("num_classes")}
        values.update((_placeholder(param), arg) for param, arg in zip(block.params, args, strict=True))

        prefix = f"{scope.prefix}{rel.rpartition('.')[2]}_"

        def statements(entry_var: str, target: str, names_taken: _Locals) -> list[Step]:
            return _BlockWriter(
                self, block, _InlineUse(names, paths, entry_var, target, names_taken, prefix)
            ).write_inline()[1]

        # A first writing, with variables of its own, gives the attributes and the output's channels.
        writer = _BlockWriter(self, block, _InlineUse(names, paths, "x", "x", _Locals(self.reserved), prefix))
        attrs, _, out = writer.write_inline()
        attrs = tuple((attr, _substituted(module, values)) for attr, module in attrs)
        return Inline(attrs, statements), _substituted(out, values)

    def uniform(self, scope: _Scope, layer: Layer, rel: str, verb: str, measure):
        """A fact about a layer's input shape that its class fixes, so every use of the block must share it."""
        inputs = [self.graph[self.graph.inputs(_join(path, rel))[0]] for path in scope.paths]
        facts = [measure(node.shape) for node in inputs]
        for path, fact, source in zip(scope.paths, facts, inputs, strict=True):
            if fact != facts[0]:
                first, instances = scope.paths[0], self.graph.instances
                raise SpecError(
                    error(
                        "block-not-uniform",
                        f"block {scope.label!r}: {layer.name} {verb} a {_shape(inputs[0].shape)} input in {first} "
                        f"but a {_shape(source.shape)} input in {path}; the PyTorch backend writes one class per "
                        "block, so every use must agree (or define two blocks)",
                        layer.span,
                        note(f"{first} is here", instances[first].span),
                        note(f"{path} is here", instances[path].span),
                    )
                )
        return facts[0]

    def steps(
        self,
        planned: list[_Planned],
        refs: list[ModuleRef | None],
        entry: str,
        running: str,
        names: _Locals,
        block_input: str = "x",
    ):
        """One statement per layer. Outputs flow through `running`; a layer's output gets a variable
        of its own only when a later layer names it in `from`."""
        named = {source for item in planned if item.layer.inputs is not None for source in item.sources}
        if None in named and running == entry:
            running = names.fresh("out")  # the entry is read again later: keep it
        var_of: dict[int | str | None, str] = {None: entry, INPUT: block_input}
        steps = []
        for index, (item, ref) in enumerate(zip(planned, refs, strict=True)):
            target = names.fresh(item.layer.name) if index in named else running
            inputs = tuple(var_of[source] for source in item.sources)
            if item.module is None:
                steps.append(Step(target, item.op, inputs))
            else:
                steps.append(_call(target, inputs, ref, item.module, names))
            var_of[index] = target
        return steps, var_of

    # -- blocks ----------------------------------------------------------------------------

    def block_class(self, name: str) -> BlockClass:
        if name not in self.blocks:
            self.blocks[name] = _BlockWriter(self, self.spec.blocks[name]).write()
        return self.blocks[name]

    def branch_module(self, block: Block, branch, rel: str, planned: list[_Planned], attr: str, items: dict):
        """A branch's attribute as layout.py places it, and how forward() reaches each of its layers."""
        if not branch.indexed:
            kept = [item for item in planned if item.module is not None]
            names = tuple(items[(rel, item.layer.name)] for item in kept)
            refs = [ModuleRef(attr, items[(rel, item.layer.name)]) for item in planned]
            return Sequential(tuple(item.module for item in kept), names), refs
        if len(planned) == 1:
            return planned[0].module, [ModuleRef(attr)]
        for item in planned[:-1]:
            if item.module is None:
                raise SpecError(
                    error(
                        "unsupported",
                        f"block {block.name!r}: a {item.op} layer inside the list of branch {branch.name!r} would shift "
                        "the numbering of the layers after it; write this branch as a mapping of named layers",
                        item.layer.span,
                    )
                )
        refs = [ModuleRef(attr, index) for index in range(len(planned))]
        return Sequential(tuple(item.module for item in planned if item.module is not None), None), refs

    def block_env(self, block: BlockClass, path: str) -> dict[str, int]:
        instance = self.graph.instances[path]
        return {
            "in_channels": self.graph[instance.entry].shape[0],
            **dict(zip(block.params, instance.args, strict=True)),
            "num_classes": self.spec.num_classes,
        }

    def verify(self, scope: _Scope, env_at, out: Channels | None = None) -> None:
        """Every channel count the generated code computes must be the IR's, at every use."""
        for path in scope.paths:
            env = env_at(path)
            checks = [(_join(path, rel), channels, is_block) for rel, channels, is_block in scope.checks]
            if out is not None:
                checks.append((path, out, True))
            for name, channels, is_block in checks:
                node = self.graph[self.graph.instances[name].exit] if is_block else self.graph[name]
                if channels.value(env) != node.shape[0]:
                    raise GeneratedCodeError(
                        f"{name}: the generated code would compute {channels.value(env)} channels, the IR has {node.shape[0]}"
                    )

    # -- the network -----------------------------------------------------------------------

    def network(self) -> dict[str, Any]:
        spec, graph, layout = self.spec, self.graph, self.layout
        scope = _Scope("network", [""], {"num_classes": "num_classes"}, layout.network, rates="rates")
        image = Channels(const=spec.input[0])
        planned = self.walk(scope, spec.layers, image, "", entry_names=("input",))
        index_of = {item.layer.name: index for index, item in enumerate(planned)}
        heads = []  # (head, index of the layer it reads, module)
        for head in spec.heads:
            source = index_of.get(head.source)  # None: the input
            module, _ = self.plan_layer(
                scope, head.layer, head.name, [planned[source].out if source is not None else image]
            )
            heads.append((head, source, module))
        self.check_drops(scope.drops)
        self.verify(scope, lambda path: {"num_classes": spec.num_classes})

        refs = [self.top_ref(item.layer) for item in planned]
        names = _Locals(self.reserved)
        head_vars = {head.name: names.fresh(layout.top[head.name]) for head, _, _ in heads}
        steps, var_of = self.steps(planned, refs, "x", "x", names)
        # A final softmax is the output activation: forward() stops at the logits, predict() applies it.
        activation = planned[-1] if graph.logits() != graph.output else None
        trunk_steps = len(planned) - 1 if activation is not None else len(planned)
        logits_var = steps[-1].inputs[0] if activation is not None else var_of[len(planned) - 1]

        # Each head runs right after the layer it reads, while that layer's output is at hand.
        in_eval = spec.outputs is not None and spec.outputs.when == "always"
        forward: list[Step] = []
        for index in [None, *range(trunk_steps)]:
            if index is not None:
                layer = planned[index].layer.name
                forward.append(replace(steps[index], shape=self.exit_shape(planned[index].rel), row=layer))
            for head, source, module in heads:
                if source == index:
                    ref = ModuleRef(layout.top[head.name])
                    condition = None if in_eval else "self.training"
                    step = Step(
                        head_vars[head.name], "head", (var_of[source],), ref, _after(module), extra=condition, row=head.name
                    )
                    forward.append(step)

        attributes: list[tuple[ModuleRef, Module]] = []
        for ref, item in zip(refs, planned, strict=True):
            if isinstance(item.module, (Inline, ConvBN)):  # several attributes, side by side
                attributes += [(ModuleRef(attr), module) for attr, module in _attributes(ref, item.module)]
            elif item.module is not None:
                attributes.append((ref, item.module))
        layers = _grouped(attributes)
        head_modules = [(layout.top[head.name], module) for head, _, module in heads if module is not None]
        members = self.members(planned, refs, heads)
        logits_node = graph[graph.logits()]
        logits_layer = planned[trunk_steps - 1].layer.name if trunk_steps else "input"
        logits = Output(logits_layer, logits_node.kind.value, logits_node.shape, logits_var)
        by_head = {head.name: head for head in spec.heads}
        outputs = []  # the training outputs, in the order of their fields
        for field_name, head_name in layout.output_fields:
            if head_name is None:
                outputs.append(replace(logits, field=field_name))
                continue
            node, head = graph[graph.heads[head_name]], by_head[head_name]
            outputs.append(
                Output(head_name, node.kind.value, node.shape, head_vars[head_name], field_name, True, head.loss_weight)
            )
        logits = next((output for output in outputs if not output.head), logits)
        head_steps = {head.name: step for step in forward if step.action == "head" for head in spec.heads if step.target == head_vars[head.name]}
        return {
            "cls": layout.network_class,
            "outputs_cls": self.outputs_class,
            "takes_num_classes": _mentions([module for _, module in layers + head_modules], "num_classes"),
            "layers": layers,
            "heads": head_modules,
            "members": members,
            "head_vars": [head_vars[head.name] for head, _, _ in heads],
            "heads_in_eval": in_eval,
            "forward": _flattened(forward),
            "interface": self.interface(planned, refs, steps, var_of, trunk_steps, head_steps),
            "stddevs": self.stddevs(planned, refs, heads),
            "logits": logits,
            "activation": self.top_ref(activation.layer) if activation is not None else None,
            "outputs": outputs,
            "totals": totals(graph),
            "classifiers": self.classifiers(),
            # stochastic depth: how many residuals drop their body, and the rate of the last
            "drop_path": {"count": len(scope.drops), "rate": spec.drop_path_rate} if scope.drops else None,
        }

    def members(self, planned: list[_Planned], refs: list[ModuleRef], heads) -> list[dict[str, Any]]:
        """The network's attributes in the order the spec writes its layers and heads, which is the
        order of the state_dict and of parameters(): the items of a `sequential:` group make one
        nn.Sequential, and heads written one after another share one `if aux_logits:`."""
        index_of = {item.layer.name: index for index, item in enumerate(planned)}
        head_module = {head.name: module for head, _, module in heads}
        out: list[dict[str, Any]] = []
        for member in self.spec.in_order():
            if isinstance(member, Head):
                module = head_module[member.name]
                if module is None:
                    continue
                if out and out[-1]["heads"]:
                    out[-1]["attrs"].append((self.layout.top[member.name], module))
                else:
                    out.append({"heads": True, "attrs": [(self.layout.top[member.name], module)]})
                continue
            index = index_of[member.name]
            module, ref = planned[index].module, refs[index]
            if module is None:
                continue
            if isinstance(module, (Inline, ConvBN)):  # several attributes, side by side
                out += [{"heads": False, "attrs": [pair]} for pair in _attributes(ref, module)]
            elif ref.item is None:
                out.append({"heads": False, "attrs": [(ref.attr, module)]})
            elif out and not out[-1]["heads"] and out[-1]["attrs"][-1][0] == ref.attr:
                group = out[-1]["attrs"][-1][1]
                out[-1]["attrs"][-1] = (ref.attr, Sequential((*group.items, module), None))
            else:
                out.append({"heads": False, "attrs": [(ref.attr, Sequential((module,), None))]})
        return out

    def interface(self, planned, refs, steps, var_of, trunk_steps: int, head_steps: dict[str, Step]) -> dict[str, Any] | None:
        """timm's model interface, for a network whose logits come from a linear classifier after its
        feature extractor (netgen.passes.features): forward_features() runs the layers before the
        classifier head, forward_head() the rest, and feature_info names the stages."""
        features, graph, layout = self.graph.features, self.graph, self.layout
        if features is None:
            return None
        start = features.head_start
        trunk: list[Step] = []
        for index in range(start):
            trunk.append(replace(steps[index], shape=self.exit_shape(planned[index].rel), row=planned[index].layer.name))
            trunk += [replace(step, extra="heads") for name, step in head_steps.items() if self._reads(name, planned[index])]
        # Every layer of the head reads the one before it (the features pass checks), so x carries it.
        head = [
            Step("x", "call", ("x",), ref, item.after, self.exit_shape(item.rel), row=item.layer.name)
            for item, ref in zip(planned[start:trunk_steps], refs[start:trunk_steps], strict=True)
        ]
        classifier = planned[trunk_steps - 1]
        chain = features.head_block
        if chain:
            # A classifier head written as a block: its modules one by one, so that forward_head()
            # can stop before the last, as timm's MlpClassifierHead(pre_logits=True) does.
            head[-1:] = [
                Step("x", "call", ("x",), _module_ref(layout.modules[name]), None, graph[name].shape, row=classifier.layer.name)
                for name in chain
            ]
        classifier_node = graph[graph.logits()]
        in_features = graph[graph.inputs(classifier_node.name)[0]].shape
        feature_shape = self.exit_shape(planned[start - 1].rel)
        target = f"self.{layout.modules[classifier_node.name]}" if chain else self._attribute(self.top_ref(classifier.layer))
        resets = [(target, None, in_features[0], classifier_node.attrs.bias)]
        for node in graph.nodes():
            if node.head is not None and node.kind is OpKind.LINEAR and node.call.args.out == "num_classes":
                width = graph[graph.inputs(node.name)[0]].shape[0]
                resets.append((f"self.{layout.modules[node.name]}", f"self.{layout.top[node.head]}", width, node.attrs.bias))
        return {
            "trunk": _flattened(trunk),
            "features_var": var_of[start - 1],
            "feature_shape": feature_shape,
            "head": head[:-1],
            "classifier": head[-1],
            "pre_logits_shape": in_features,
            "resets": [(_python_path(target), guard, width, bias) for target, guard, width, bias in resets],
            "stages": [
                {"num_chs": stage.channels, "reduction": stage.reduction, "module": layout.top[stage.layer]}
                for stage in features.stages
            ],
            "all_stages": tuple(range(len(features.stages))),
            "config": self.data_config(feature_shape, classifier.layer, layout.modules[classifier_node.name] if chain else None),
        }

    def _reads(self, head_name: str, item: _Planned) -> bool:
        return next(head for head in self.spec.heads if head.name == head_name).source == item.layer.name

    def _attribute(self, ref: ModuleRef) -> str:
        return f"self.{ref.attr}" if ref.item is None else f"self.{ref.attr}.{ref.item}"

    def data_config(self, feature_shape: tuple[int, ...], classifier: Layer, classifier_path: str | None = None) -> dict[str, Any]:
        """timm's pretrained_cfg: the spec's `data:` (how images are prepared), its input size, and
        where the first convolution and the classifier are."""
        spec, graph, layout = self.spec, self.graph, self.layout
        config: dict[str, Any] = {"input_size": tuple(spec.input)}
        data = spec.data
        if data is not None:
            for key in ("interpolation", "mean", "std", "crop_pct", "crop_mode"):
                value = getattr(data, key)
                if value is not None:
                    config[key] = tuple(value) if isinstance(value, list) else value
        config["num_classes"] = spec.num_classes
        config["pool_size"] = tuple(feature_shape[1:])
        first_conv = next((node for node in graph.trunk() if node.kind is OpKind.CONV), None)
        if first_conv is not None:
            path = layout.modules[first_conv.name]
            config["first_conv"] = path if first_conv.attrs.bare else f"{path}.conv"
        config["classifier"] = classifier_path or layout.top[classifier.name]
        return config

    def stddevs(self, planned, refs, heads) -> list[tuple[str, float]]:
        """The top-level layers whose `init: {std}` differs from the spec's: (the weight's module, std)."""
        return [
            (self._weight_module(ref, item.module), item.layer.init_std)
            for item, ref in zip(planned, refs, strict=True)
            if item.layer.init_std is not None
        ] + [
            (self._weight_module(ModuleRef(self.layout.top[head.name]), module), head.layer.init_std)
            for head, _, module in heads
            if head.layer.init_std is not None
        ]

    @staticmethod
    def _weight_module(ref: ModuleRef, module: Module) -> str:
        """The module holding a conv's or linear layer's weight: a BasicConv2d unit keeps it in `.conv`."""
        path = f"self.{ref.attr}" + ("" if ref.item is None else f"[{ref.item}]" if isinstance(ref.item, int) else f".{ref.item}")
        unit = isinstance(module, OpModule) and module.kind == "conv" and not module.attrs.bare
        return f"{path}.conv" if unit else path

    def top_ref(self, layer: Layer) -> ModuleRef | None:
        """self.conv1, or self.features[3] for an item of a `sequential:` group; None for an inline
        block use, whose layers are the network's attributes."""
        if layer.name not in self.layout.top:
            return None
        path = self.layout.top[layer.name]
        if layer.container is None:
            return ModuleRef(path)
        attr, index = path.rsplit(".", 1)
        return ModuleRef(attr, int(index) if index.isdigit() else index)  # a merge is no item: no number

    def exit_shape(self, rel: str) -> tuple[int, ...]:
        return self.graph[self.graph.exit_of(rel)].shape

    def classifiers(self) -> list[str]:
        """Module paths of the linear layers with num_classes outputs: `init.classifier_bias` starts their bias
        (the rule netgen.backends.init follows too)."""
        return [
            self.layout.modules[node.name]
            for node in self.graph.nodes()
            if node.kind is OpKind.LINEAR and node.attrs.out == self.spec.num_classes
        ]

    def plan(self) -> dict[str, Any]:
        spec = self.spec
        network = self.network()  # plans every block a layer or head uses; unused blocks get no class
        blocks = [self.blocks[name] for name in spec.blocks if name in self.blocks]
        self.check_module_names(blocks)
        modules = list(_walk_modules([module for _, module in network["layers"] + network["heads"]]))
        modules += _walk_modules([module for block in blocks for _, module in block.attrs])
        ops = [module for module in modules if isinstance(module, OpModule)]
        relu = self.conv_features.get("relu")
        basic_conv = self.basic_conv(ops)
        # The activations constructor arguments may name, which activation() applies.
        activations = [act for name, act in ACTIVATIONS.items() if name in self.runtime_acts]
        steps = [*network["forward"], *(step for block in blocks for step in block.steps)]
        calls = [call for op in ops for call in (op.call, op.after, op.apply) if call is not None]
        calls += [step.after for step in steps if step.after is not None]
        calls += [act.function for act in activations] + ([basic_conv["act"]] if basic_conv and basic_conv["act"] else [])
        helpers = {helper for call in calls for helper in _helpers(call)}
        return {
            "spec_file": Path(spec.path).name,
            "spec": spec,
            "network": network,
            "blocks": blocks,
            "basic_conv": basic_conv,
            "imports": {
                "math": spec.init.weight == "xavier_uniform",
                "OrderedDict": any(isinstance(module, Sequential) and module.names is not None for module in modules),
                "NamedTuple": bool(network["heads"]),
                # training_loss() uses F.cross_entropy
                "F": any(call.fn.startswith("F.") for call in calls)
                or bool(helpers & HELPERS_USING_F)
                or bool(relu and (relu.varies or relu.value))
                or _uses_functional([*network["forward"], *(step for block in blocks for step in block.steps)])
                or bool(network["heads"]),
            },
            "activations": activations,
            "helpers": sorted(helpers),
            "batch_norm": any(
                op.kind == "batchnorm" or (op.kind == "conv" and op.attrs.bn_eps is not None) for op in ops
            ),
        }

    def check_module_names(self, blocks: list[BlockClass]) -> None:
        """The layout keeps classes, imports and constructor parameters apart; a clash here is a netgen bug."""
        module_level = [*MODULE_NAMES, *GENERATED_NAMES, "BasicConv2d", self.layout.network_class]
        module_level += [self.outputs_class] if self.spec.heads else []
        module_level += [block.cls for block in blocks]
        clashes = {name for name in module_level if module_level.count(name) > 1}
        clashes |= {param for block in blocks for param in block.params if param in module_level}
        if clashes:
            raise GeneratedCodeError(f"generated names clash: {', '.join(sorted(clashes))}")


@dataclass(frozen=True)
class _InlineUse:
    """Where an inline block's statements go: its attributes' names in the module using it, the paths
    of the use in the IR, the variables it reads and writes, and the locals taken there."""

    names: BlockNames
    paths: list[str]
    entry_var: str
    target: str
    locals: _Locals
    prefix: str  # of its local variables, `<use>_`, so that each use's read apart


class _BlockWriter:
    """One block class: its attributes, in the order the layout names them, and its forward().

    A block's body is a sequence (`layers:`) or a merge of branches (`concat:`/`add:`); a
    sequence may hold merges of branches of its own, and a flat block's mapping branches are
    sequences whose layers are attributes of the block. `x` is the block's input throughout.

    With `inline`, it writes one use of an inline block instead: attributes of the module that
    uses it and statements of that module's forward(), reading `inline.entry_var` and writing
    `inline.target`; channel counts are in terms of the block's parameters, for the caller to
    replace with the use's arguments."""

    def __init__(self, planner: _Planner, block: Block, inline: _InlineUse | None = None):
        self.planner, self.block, self.inline = planner, block, inline
        if inline is None:
            self.names = planner.layout.blocks[block.name]
            paths = [instance.path for instance in planner.graph.instances.values() if instance.block == block.name]
            params = self.names.params
            self.input, self.locals = "x", _Locals(planner.reserved)
        else:
            self.names, paths = inline.names, inline.paths
            params = [_placeholder(param) for param in block.params]
            self.input, self.locals = inline.entry_var, inline.locals
        symbols = {"num_classes": "num_classes", **dict(zip(block.params, params, strict=True))}
        self.scope = _Scope(block.name, paths, symbols, self.names, inline.prefix if inline is not None else "")
        self.entry = Channels.of("in_channels")
        self.attrs: list[tuple[str, Module]] = []
        self.steps: list[Step] = []
        self.stored: list[tuple[str, str]] = []  # attributes forward() reads besides the modules (split sizes)
        self.stddevs: list[tuple[str, float]] = []

    def write(self) -> BlockClass:
        block = self.block
        var, out = self.body(None)
        if var is not None:
            self.steps.append(Step(None, "var", (var,)))
        planner = self.planner
        takes_num_classes = _mentions([module for _, module in self.attrs], "num_classes")
        types = [_PYTHON_TYPES[block.type_of(param)] for param in block.params]
        stored = [(attr, self.names.params[block.params.index(param)]) for param, attr in self.names.stored.items()]
        drops = self.scope.drops
        drop_param = None if not drops else "drop_path" if drops == ["drop_path"] else "drop_path_rates"
        if drop_param == "drop_path_rates":  # the rates of the residuals inside it, and of its own last
            stored.insert(0, ("", f"drop_path_rates = drop_path_rates or [0.0] * {len(drops)}"))
        steps = _flattened(self.steps)
        block_class = BlockClass(
            block.name,
            self.names.cls,
            self.names.params,
            takes_num_classes,
            self.attrs,
            steps,
            out,
            types,
            stored + self.stored,
            drops,
            drop_param,
            block.residual is not None,
            stddevs=self.stddevs,
        )
        planner.verify(self.scope, lambda path: planner.block_env(block_class, path), out)
        return block_class

    def write_inline(self) -> tuple[list[tuple[str, Module]], list[Step], Channels]:
        """The attributes and statements of the inline use, and its output's channels."""
        inline, planner = self.inline, self.planner
        var, out = self.body(inline.target)
        if var != inline.target:
            self.steps.append(Step(inline.target, "var", (var,)))
        placeholders = [_placeholder(param) for param in self.block.params]

        def env(path: str) -> dict[str, int]:
            instance = planner.graph.instances[path]
            values = dict(zip(placeholders, instance.args, strict=True))
            return {
                "in_channels": planner.graph[instance.entry].shape[0],
                **values,
                "num_classes": self.planner.spec.num_classes,
            }

        planner.verify(self.scope, env, out)
        return self.attrs, self.steps, out

    def body(self, target: str | None) -> tuple[str | None, Channels]:
        """The block's statements, its result in `target` (None: returned by the last statement)."""
        block, x = self.block, self.input
        # x stays the block's input when anything reads it again: a residual or `from: input`.
        keeps_input = block.residual is not None or _reads_input(block)
        if block.combine == "seq":
            if target is None:
                running = self.fresh("out") if keeps_input else x
            else:
                running = self.fresh("out") if keeps_input and target == x else target
            var, out = self.sequence(block.branches[0].layers, "", x, self.entry, running)
        else:
            merged = target
            if block.residual is not None and (target is None or target == x):
                merged = self.fresh("out")
            var, out = self.merge(block.combine, block.branches, "", x, self.entry, merged, block.split)
        if block.residual is not None:
            var = self.residual(var)
        return var, out

    def fresh(self, name: str) -> str:
        return self.locals.fresh(self.scope.prefix + name)

    def sequence(self, layers, prefix: str, entry_var: str, entry: Channels, running: str) -> tuple[str, Channels]:
        """Layers that are attributes of the block; an output gets a variable of its own only when
        a later layer names it in `from`."""
        named = {source for layer in layers if layer.inputs is not None for source in layer.inputs}
        local: dict[str, tuple[str, Channels]] = {INPUT: (self.input, self.entry)}
        previous = (entry_var, entry)
        for layer in layers:
            rel = _join(prefix, layer.name)
            sources = [previous] if layer.inputs is None else [local[source] for source in layer.inputs]
            target = self.fresh(layer.name) if layer.name in named else running
            call = layer.call
            if isinstance(call, MergeCall):
                _, out = self.merge(call.op, call.branches, rel, sources[0][0], sources[0][1], target)
                self.scope.checks.append((rel, out, False))
            elif isinstance(call, OpCall) and call.op in MERGE_OPS:
                module, out = self.planner.plan_layer(self.scope, layer, rel, [channels for _, channels in sources])
                self.steps.append(Step(target, call.op, tuple(var for var, _ in sources)))
            else:
                module, out = self.planner.plan_layer(self.scope, layer, rel, [sources[0][1]])
                ref = None if isinstance(module, Inline) else ModuleRef(self.names.attrs[rel])
                self.attrs += _attributes(ref, module)
                if layer.init_std is not None:
                    self.stddevs.append((self.planner._weight_module(ref, module), layer.init_std))
                self.steps.append(_call(target, (sources[0][0],), ref, module, self.locals))
            local[layer.name] = previous = (target, out)
        return previous

    def merge(self, op: str, branches, prefix: str, entry_var: str, entry: Channels, target: str | None, split=None):
        """Branches from one input, concatenated, added or multiplied; `target` None returns the result.
        With `split`, each branch reads its part of the input (torch.split along channels)."""
        variables, outs = [], []
        entries = [(entry_var, entry)] * len(branches)
        if split is not None:
            entries = self.split(split, branches, entry_var, entry)
        for branch, (part_var, part) in zip(branches, entries, strict=True):
            rel = _join(prefix, branch.name)
            if split is not None and not branch.layers:
                var, out = part_var, part  # the part itself
            elif self.block.flat and not branch.indexed:
                var, out = self.sequence(branch.layers, rel, part_var, part, self.fresh(branch.name))
            else:
                var, out = self.branch(branch, rel, part_var, part)
            variables.append(var)
            outs.append(out)
        last = self.steps[-1] if self.steps else None
        if len(branches) == 1 and split is None and target is not None and last is not None and last.target == variables[0]:
            # One branch is its own result (a stage's `downsample`): `x = self.downsample(x)`, not a cat of one.
            self.steps[-1] = replace(last, target=target)
            return target, outs[0]
        self.steps.append(Step(target, op, tuple(variables)))
        return target, (sum(outs[1:], outs[0]) if op == "concat" else outs[0])

    def split(self, split, branches, entry_var: str, entry: Channels) -> list[tuple[str, Channels]]:
        """`x_id, x_hw, ... = torch.split(x, sizes, dim=1)`: one variable per branch (an empty branch's
        named like it), the sizes written in the block's parameters (stored when they name any)."""
        symbols = _Symbols(self.planner, self.scope, entry)
        sizes = [symbols.channels(part, "split") for part in split.parts]
        code = "(" + ", ".join(size.code for size in sizes) + ")"
        if any(size.constant is None for size in sizes):
            self.stored.append((self.names.split, code))
            code = f"self.{self.names.split}"
        variables = [self.fresh(branch.name if not branch.layers else f"x_{branch.name}") for branch in branches]
        self.steps.append(Step(", ".join(variables), "split", (entry_var,), extra=code))
        return list(zip(variables, sizes, strict=True))

    def branch(self, branch, rel: str, entry_var: str, entry: Channels) -> tuple[str, Channels]:
        """A branch with an attribute of its own: one layer, or an nn.Sequential of its layers."""
        attr = self.names.attrs[rel]
        var = self.locals.fresh(attr)
        if not branch.layers:  # add's identity shortcut
            self.attrs.append((attr, Identity()))
            self.steps.append(Step(var, "call", (entry_var,), ModuleRef(attr)))
            return var, entry
        planner = self.planner
        planned = planner.walk(self.scope, branch.layers, entry, rel, block_input=self.entry)
        module, refs = planner.branch_module(self.block, branch, rel, planned, attr, self.names.branch_items)
        self.stddevs += [
            (planner._weight_module(ref, item.module), item.layer.init_std)
            for item, ref in zip(planned, refs, strict=True)
            if item.layer.init_std is not None
        ]
        if module is not None:
            self.attrs.append((attr, module))
        if module is not None and _is_chain(planned):
            self.steps.append(Step(var, "call", (entry_var,), ModuleRef(attr)))
        else:
            branch_steps, var_of = planner.steps(planned, refs, entry_var, var, self.locals, self.input)
            self.steps += branch_steps
            var = var_of[len(planned) - 1]
        return var, planned[-1].out

    def residual(self, body: str) -> str:
        """input + scale * body as the library writes it (body * scale + input), then the activation."""
        residual = self.block.residual
        if isinstance(residual.scale, str):
            scale = f"self.{self.names.stored[residual.scale]}"
        else:
            scale = None if residual.scale == 1.0 else repr(residual.scale)
        dropped = None
        if residual.drop_path:
            self.scope.drops.append("drop_path")
            rate = "drop_path" if self.scope.drops == ["drop_path"] else f"drop_path_rates[{len(self.scope.drops) - 1}]"
            self.attrs.append((self.names.drop_path, _drop_path_module(rate)))
            dropped = ModuleRef(self.names.drop_path)
        self.steps.append(Step(body, "residual", (body, self.input), dropped, extra=scale))
        act = residual.act
        if act == "relu":
            self.steps.append(Step(body, "relu", (body,)))
        elif act in ACTIVATIONS:
            self.steps.append(Step(body, "apply", (body,), after=ACTIVATIONS[act].function))
        elif act != NONE:
            stored = f"self.{self.names.stored[act]}"
            index = self.block.params.index(act)
            values = {instance.args[index] for instance in self.planner.graph.instances.values() if instance.block == self.block.name}
            if values <= {"relu", NONE}:
                self.steps.append(Step(body, "act", (body,), extra=stored))
            else:  # chosen by name at run time, from the activations the uses name
                self.planner.runtime_acts |= values - {NONE}
                self.steps.append(Step(body, "activation", (body,), extra=stored))
        return body


def _placeholder(param: str) -> str:
    """What an inline block's parameter is called while its use is planned: no identifier, so that
    one left in the generated code would fail its parse rather than name something."""
    return f"<{param}>"


def _substituted(value, values: dict[str, Channels | Constant]):
    """A module or count with the parameters of an inline block replaced by the use's arguments."""
    if isinstance(value, Channels):
        if value.terms and value.const == 0 and len(value.terms) == 1 and value.terms[0][1] == 1:
            found = values.get(value.terms[0][0])
            if isinstance(found, Constant) and not isinstance(found.literal, int):  # a scale or an activation passed on
                return found
        given = {}
        for name in value.names():
            found = values.get(name)
            if isinstance(found, Constant):  # a whole number: a kernel size or a stride
                if isinstance(found.literal, int) and not isinstance(found.literal, bool):
                    given[name] = found.literal
            elif found is not None:
                given[name] = found
        return value.substitute(given)
    if isinstance(value, OpModule):
        if OPS[value.kind].torch is None:  # a module of the block's own (its DropPath)
            return value
        # Its constructor and what forward() applies are the op's, for the use's arguments.
        attrs = value.attrs
        if is_dataclass(attrs):
            attrs = replace(attrs, **{item.name: _substituted(getattr(attrs, item.name), values) for item in fields(attrs)})
        in_channels, out = _substituted(value.in_channels, values), _substituted(value.out, values)
        module = OpModule.of(value.kind, attrs, in_channels, out, value.conv_options, value.flat)
        return module if value.after is not None else replace(module, after=None)  # a ConvBN's conv applies none
    if isinstance(value, Param):
        found = values.get(value.code)
        return found.literal if isinstance(found, Constant) else Param(found.code) if found is not None else value
    if isinstance(value, tuple):
        return tuple(_substituted(item, values) for item in value)
    if isinstance(value, Choice):
        found = values.get(value.param)
        if isinstance(found, Constant):  # the use names the module: that one alone, with no choice left
            return _substituted(dict(value.options)[found.literal], values)
        options = tuple((word, _substituted(option, values)) for word, option in value.options)
        # A parameter of the block around, passed on: that block's constructor chooses.
        param = next(iter(found.names())) if isinstance(found, Channels) else value.param
        return replace(value, param=param, options=options)
    if isinstance(value, BlockModule):
        return replace(value, args=tuple(_substituted(arg, values) for arg in value.args))
    if isinstance(value, Sequential):
        return replace(value, items=tuple(_substituted(item, values) for item in value.items))
    if isinstance(value, ConvBN):
        return replace(value, conv=_substituted(value.conv, values), bn=_substituted(value.bn, values))
    if isinstance(value, Inline):
        return replace(value, attrs=tuple((attr, _substituted(module, values)) for attr, module in value.attrs))
    return value


def _attributes(ref: ModuleRef | None, module: Module | None) -> list[tuple[str, Module]]:
    """The attributes a layer gives its module: its own, the batch norm beside a bare conv, or
    those of an inline block use."""
    if module is None:
        return []
    if isinstance(module, Inline):
        return list(module.attrs)
    if isinstance(module, ConvBN):
        return [(ref.attr, module.conv), (module.bn_attr, module.bn)]
    return [(ref.attr, module)]


def _call(target: str, inputs: tuple[str, ...], ref: ModuleRef | None, module: Module, names: _Locals) -> Step:
    """The statement that runs a layer's module: a call, or one layer's statements (a bare conv and
    its batch norm, an inline block use)."""
    if isinstance(module, Inline):
        return Step(target, "statements", inputs, body=tuple(module.statements(inputs[0], target, names)))
    if isinstance(module, ConvBN):
        conv = Step(target, "call", inputs, ref)
        return Step(
            target,
            "statements",
            inputs,
            body=(conv, Step(target, "call", (target,), ModuleRef(module.bn_attr), module.after)),
        )
    if isinstance(module, OpModule) and module.apply is not None:  # an nn.Parameter applied (layer scale)
        return Step(target, "apply", inputs, ref, module.apply)
    return Step(target, "call", inputs, ref, _after(module))


# Python annotations of block parameters in the generated constructor.
_PYTHON_TYPES = {"channels": "int", "int": "int", "float": "float", "activation": "str", "pool": "str"}


class _Symbols:
    """A call's arguments as a generated class writes them, for an op's `resolve` (the one that gives
    the IR its attributes): numbers as written (channel counts scaled by the width), block
    parameters by their names in the class, `in` as the op's input channels. Problems were reported
    when the IR was built, so none is reported here."""

    symbolic = True

    def __init__(self, planner: _Planner, scope: _Scope, in_channels: Channels):
        self.planner, self.scope, self.in_channels = planner, scope, in_channels

    def channels(self, value, arg: str, scaled: bool = True, types=("channels",)) -> Channels:
        if isinstance(value, int):
            return Channels(const=scale(value, self.planner.spec.width) if scaled else value)
        expr = parse_expr(value)
        symbols = {name: Channels.of(self.scope.symbols[name]) for name in expr.names() if name != IN}
        return expr.substitute({IN: self.in_channels, **symbols})

    def size(self, value, arg: str, low: int = 1) -> tuple:
        first, second = value if isinstance(value, list) else (value, value)
        return self.integer(first, arg), self.integer(second, arg)

    def integer(self, value, arg: str, low: int = 1):
        return value if isinstance(value, int) else Channels.of(self.scope.symbols[value])

    def number(self, value, arg: str):
        return Param(self.scope.symbols[value]) if isinstance(value, str) else value

    def word(self, value: str, arg: str, kind: str):
        return value if value in WORDS[kind] else Param(self.scope.symbols[value])

    def fail(self, code: str, message: str, arg: str) -> None:
        pass


def _symbolic(value) -> bool:
    """Whether a value of a class's arguments names a parameter (a constant expression does not)."""
    if isinstance(value, tuple):
        return any(_symbolic(item) for item in value)
    return isinstance(value, Param) or (isinstance(value, Channels) and value.constant is None)


def _evaluate(value, env: dict[str, Any]):
    """A value of a class's arguments at one use: its names given their values there."""
    if isinstance(value, tuple):
        return tuple(_evaluate(item, env) for item in value)
    if isinstance(value, Channels):
        return value.value(env)
    if isinstance(value, Param):
        return env[value.code]
    return value


def _reads_input(block: Block) -> bool:
    """Whether any layer of the block names the block's input in `from`."""
    pending = [branch.layers for branch in block.branches]
    while pending:
        for layer in pending.pop():
            if layer.inputs is not None and INPUT in layer.inputs:
                return True
            if isinstance(layer.call, MergeCall):
                pending += [branch.layers for branch in layer.call.branches]
    return False


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


def _python_path(path: str) -> str:
    """A module path as Python reaches it: self.features.21 is self.features[21]."""
    out = []
    for part in path.split("."):
        out.append(f"[{part}]" if part.isdigit() else f".{part}" if out else part)
    return "".join(out)


def _spatial_size(shape: tuple[int, ...]) -> int:
    return math.prod(shape[1:])


def _shape(shape: tuple[int, ...]) -> str:
    return " x ".join(map(str, shape))


def _grouped(modules: list[tuple[ModuleRef, Module]]) -> list[tuple[str, Module]]:
    """The network's attributes: the items of a `sequential:` group become one nn.Sequential."""
    out: list[tuple[str, Module]] = []
    for ref, module in modules:
        if ref.item is None:
            out.append((ref.attr, module))
        elif out and out[-1][0] == ref.attr:
            out[-1] = (ref.attr, Sequential((*out[-1][1].items, module), None))
        else:
            out.append((ref.attr, Sequential((module,), None)))
    return out


def _is_chain(planned: list[_Planned]) -> bool:
    """Layers an nn.Sequential can run by itself: each takes the previous one's output, no extra step."""
    return all(
        item.layer.inputs is None
        and isinstance(item.module, (OpModule, BlockModule, Sequential))
        and item.after is None
        and getattr(item.module, "apply", None) is None
        for item in planned
    )


def _helpers(call: Call):
    """The classes of the generated file's own a call needs (LayerNorm2d, DropPath)."""
    if call.helper:
        yield call.helper
    for value in (*call.args, *(value for _, value in call.kwargs), call.on):
        if isinstance(value, Call):
            yield from _helpers(value)


def _drop_path_module(rate: str) -> OpModule:
    """The block's DropPath, its rate a constructor argument (code)."""
    call = Call("DropPath", (Param(rate),), helper="drop_path")
    return OpModule("drop_path", DropPath(0.0), Channels(), Channels(), call=call)


def _module_ref(path: str) -> ModuleRef:
    """self.<path> for a module path such as head.fc1."""
    attr, _, item = path.partition(".")
    return ModuleRef(attr, item or None)


def _after(module: Module | None) -> Call | None:
    """What forward() applies to a module's output: a linear layer's or a bare conv's activation,
    that of a bare conv with batch norm after its batch norm."""
    return module.after if isinstance(module, (OpModule, ConvBN)) else None


def _flattened(steps: list[Step]) -> list[Step]:
    """Statements one a line: a layer's several statements take its place, the last with its shape."""
    out: list[Step] = []
    for step in steps:
        if step.action != "statements":
            out.append(step)
            continue
        body = [replace(inner, row=step.row) for inner in _flattened(list(step.body))]
        out += [*body[:-1], replace(body[-1], shape=step.shape)]
    return out


def _uses_functional(steps: list[Step]) -> bool:
    """Whether statements call torch.nn.functional: an activation of their own."""
    return any(
        step.action in ("relu", "act")
        or (step.after is not None and step.after.fn.startswith("F."))
        or _uses_functional(list(step.body))
        for step in steps
    )


def _walk_modules(modules):
    for module in modules:
        yield module
        if isinstance(module, Sequential):
            yield from _walk_modules(module.items)
        elif isinstance(module, Choice):
            yield from _walk_modules([option for _, option in module.options])
        elif isinstance(module, ConvBN):
            yield from (module.conv, module.bn)
        elif isinstance(module, Inline):
            yield from _walk_modules([inner for _, inner in module.attrs])


def _mentions(modules: list[Module], name: str) -> bool:
    for module in _walk_modules(modules):
        if isinstance(module, OpModule) and (module.in_channels.mentions(name) or module.out.mentions(name)):
            return True
        if isinstance(module, BlockModule) and any(arg.mentions(name) for arg in module.args):
            return True
    return False


# -- rendering -------------------------------------------------------------------------------


def plan_pytorch(
    spec: Spec, graph: Graph, layout: Layout, optimize: bool = False, profile: bool = False
) -> dict[str, Any]:
    """What the generated module holds, without rendering it: refuses what render_pytorch refuses.
    `optimize` adds for_inference() and from_plain() (`netgen build --optimize`); `profile` runs
    each row of the network's forward() inside a profiler range (`netgen build --profile`)."""
    plan = _Planner(spec, graph, layout).plan()
    plan["inference"] = {"fused": fused_1x1(graph, layout)} if optimize else None
    plan["profile"] = profile
    return plan


def profile_range(network_class: str, row: str) -> str:
    """The name of the torch.profiler range a `--profile` build runs a row of forward() in."""
    return f"{network_class}.{row}"


def fused_1x1(graph: Graph, layout: Layout) -> dict[str, tuple[str, ...]]:
    """Groups of the network's 1x1 convolutions (stride 1, no padding, not grouped) that read one
    value, each by the name of the one convolution for_inference() runs in their place: beside
    them in the block instance they belong to, as `<instance>.fused1x1`. The heads are left out:
    they do not run in inference."""
    groups: dict[str, list[str]] = {}
    for node in graph.trunk():
        attrs = node.attrs
        if node.kind is not OpKind.CONV or (attrs.kernel, attrs.stride, attrs.pad, attrs.groups) != ((1, 1), (1, 1), (0, 0), 1):
            continue
        groups.setdefault(graph.inputs(node.name)[0], []).append(layout.slots[node.name][0].key.removesuffix(".weight"))
    # Every attribute path the network has, with the paths above it (a block's own attribute is
    # not a module of the layout, only the layers inside it are), and the block parameters that
    # forward() reads as attributes: the fused convolution must replace none of them.
    paths = [*layout.top.values(), *layout.modules.values(), *(slot.key for slots in layout.slots.values() for slot in slots)]
    taken = {".".join(parts[: end]) for parts in (path.split(".") for path in paths) for end in range(1, len(parts) + 1)}
    stored = {attr for names in layout.blocks.values() for attr in names.stored.values()}
    fused: dict[str, tuple[str, ...]] = {}
    for convs in groups.values():
        if len(convs) < 2:
            continue
        name = shared_prefix(list(convs)) + "fused1x1"
        while name in taken or name in fused or name.rpartition(".")[2] in stored:
            name += "_"
        fused[name] = tuple(convs)
    return fused


def render_pytorch(spec: Spec, graph: Graph, layout: Layout, optimize: bool = False, profile: bool = False) -> str:
    """The generated module's source: rendered, formatted by the pinned ruff, and parsed."""
    plan = plan_pytorch(spec, graph, layout, optimize, profile)
    source = format_python(render(TEMPLATE, profile_range=profile_range, **plan))
    try:
        ast.parse(source)
    except SyntaxError as exc:
        raise GeneratedCodeError(f"the generated PyTorch source does not parse: {exc}") from None
    return source


def ruff_binary() -> str:
    from ruff.__main__ import find_ruff_bin

    return str(find_ruff_bin())


def format_python(source: str) -> str:
    """ruff format with every setting on the command line, so no ruff config around can change the output."""
    command = [
        ruff_binary(),
        "format",
        "--isolated",
        "--line-length",
        str(LINE_LENGTH),
        "--target-version",
        "py311",
        "-",
    ]
    result = subprocess.run(command, input=source, capture_output=True, text=True, encoding="utf-8", check=False)
    if result.returncode != 0:
        raise GeneratedCodeError(f"ruff could not format the generated PyTorch source: {result.stderr.strip()}")
    return result.stdout
