"""Expand pass: resolve every call's arguments to integers and replace block uses by primitive nodes.

A block's parameters are channel counts unless typed (`scale: float`, `act: activation`).
A layer with `times: N` becomes N copies named `<layer>.0` ... `<layer>.N-1`; a block with
`residual:` ends in an add of its input and its scaled body (`<use>.residual`), then its
activation (`<use>.act`). The spec's width multiplier scales channel counts
written as numbers (conv `out` and block arguments) where they are written; a parameter
passed on keeps the value it was given. Linear widths and `num_classes` are not scaled.
"""

from __future__ import annotations

from netgen.diagnostics import Diagnostic, SpecError, error, note
from netgen.ir import ops
from netgen.ir.build import INPUT
from netgen.ir.graph import Graph, Instance, Node
from netgen.ir.ops import OpKind, kind_for_op
from netgen.spec.model import Block, BlockCall, Layer, MergeCall, OpCall, Spec, Value
from netgen.spec.parse import ACTIVATIONS, show, suggestion
from netgen.spec.schema import MAX_CHANNELS, BatchNormArgs, block_argument

# A safety limit on the expanded network (a typo in `times:` should not fill memory);
# `--max-layers` raises it for networks that really are that large.
MAX_LAYERS = 50_000
# How far `--max-layers` raises it: the limit bounds the time and memory a check takes (about a
# minute and a few GiB here), and with it the values a spec file may hold once its aliases expand.
MAX_LAYERS_CEILING = 1_000_000
MAX_NESTING = 16


def scale(channels: int, width: float, divisor: int | None = None) -> int:
    """A channel count written as a number, at the spec's width: rounded to the nearest whole number
    (at least 1), or with `width_divisor` to a multiple of it as timm's make_divisible rounds: to the
    nearest multiple, at least the divisor, and up a step where rounding down would lose over 10%."""
    if divisor is None:
        return max(1, int(channels * width + 0.5))
    value = channels * width
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    expander = _Expander(graph, spec)
    top_env = {"num_classes": spec.num_classes}
    layers = {layer.name: layer for layer in [*spec.layers, *(head.layer for head in spec.heads)]}
    for node in list(graph.nodes()):
        if node.kind is OpKind.INPUT:
            continue
        try:
            if node.kind is OpKind.BLOCK:
                expander.inline(node, layers[node.name] if node.head is None else _head_layer(spec, node.name), top_env)
            else:
                node.attrs = expander.resolve(node.call, top_env, (), label=node.name)
        except SpecError as exc:
            # A mistake inside a block definition shows in every use of it; report it once.
            expander.problems.extend(d for d in exc.diagnostics if d not in expander.problems)
    return expander.problems


def _head_layer(spec: Spec, name: str) -> Layer:
    return next(head.layer for head in spec.heads if head.name == name)


class _Expander:
    def __init__(self, graph: Graph, spec: Spec):
        self.graph = graph
        self.spec = spec
        self.problems: list[Diagnostic] = []
        self.added: list[str] = []  # every node this pass adds, in order: an instance's are a slice of it
        # A block's op resolves alike in every use that passes it the same values: once per (call, values).
        self._resolved: dict[tuple, object] = {}

    # -- blocks ------------------------------------------------------------------------------

    def inline(self, node: Node, layer: Layer, env: dict[str, Value]) -> None:
        """Replace a top-level block use or repeated layer by its expansion, keeping its edges."""
        graph = self.graph
        entry_sources = graph.inputs(node.name)
        if not entry_sources:
            return  # the layer feeding it failed to expand, which is reported already
        users = graph.uses(node.name)
        graph.remove(node.name)
        # A placeholder entry is not needed: the expansion reads the node that fed it.
        try:
            exit_name = self.layer(layer, node.name, entry_sources[0], env, node, stack=(), block=None, block_entry=None)
        except SpecError:
            # The layers after a failed one still expand, reading what fed it, so that every
            # use of a wrong block is reported in one run (not every other one).
            self.reconnect(node, entry_sources[0], users)
            raise
        self.reconnect(node, exit_name, users)

    def reconnect(self, node: Node, exit_name: str, users) -> None:
        graph = self.graph
        for user, index in users:
            graph.connect(exit_name, user, index)
        if node.head is not None:
            graph.heads[node.head] = exit_name
        if graph.output == node.name:
            graph.output = exit_name

    def layer(
        self, layer: Layer, name: str, source: str, env, origin: Node, stack, block: Block | None, block_entry
    ) -> str:
        """Expand one layer reading `source` into nodes named from `name`; returns its last node."""
        if layer.times > 1:
            previous = source
            for copy in range(layer.times):
                previous = self.one(layer, f"{name}.{copy}", previous, env, origin, stack, block, block_entry)
            self.graph.exits[name] = previous
            return previous
        return self.one(layer, name, source, env, origin, stack, block, block_entry)

    def one(
        self, layer: Layer, name: str, source: str, env, origin: Node, stack, block: Block | None, block_entry
    ) -> str:
        call = layer.call
        if isinstance(call, BlockCall):
            if call.block not in self.spec.blocks:
                raise SpecError(error("unknown-op", f"unknown block {call.block!r}", call.span))
            return self.instance(call, name, source, env, origin, stack)
        if isinstance(call, MergeCall):
            exits = [
                self.sequence(branch.layers, _join(name, branch.name), source, env, origin, stack, block, block_entry)
                for branch in call.branches
            ]
            kind = OpKind.CONCAT if call.op == "concat" else OpKind.ADD
            labels = tuple(f"branch {branch.name}" for branch in call.branches)
            merge = Node(
                name,
                kind,
                ops.Merge(labels=labels),
                call.span,
                origin.row,
                origin.head,
                origin.ref_row,
                scope=_scope(origin, name),
            )
            self.add_node(merge, exits)
            self.graph.exits[name] = name
            return name
        attrs = self.resolved(call, env, stack, block, label=name if block is None else None)
        self.add_node(
            Node(
                name,
                kind_for_op(call.op),
                attrs,
                layer.span,
                origin.row,
                origin.head,
                origin.ref_row,
                call,
                _scope(origin, name.rpartition(".")[0] or name),
                init_std=layer.init_std,
            ),
            [source],
        )
        return name

    def instance(self, call: BlockCall, path: str, entry: str, env, origin: Node, stack: tuple[str, ...]) -> str:
        block = self.spec.blocks[call.block]
        if call.block in stack:
            chain = " -> ".join([*stack[stack.index(call.block) :], call.block])
            raise SpecError(
                error(
                    "recursive-block",
                    f"block {call.block!r} uses itself ({chain}); a block cannot contain itself, directly or through other blocks",
                    call.span,
                )
            )
        if len(stack) >= MAX_NESTING:
            raise SpecError(error("too-deep", f"blocks nest more than {MAX_NESTING} deep", call.span))
        if len(call.args) != len(block.params):
            raise SpecError(
                error(
                    "block-arity",
                    f"{path}: block {block.name!r} takes {len(block.params)} arguments "
                    f"({', '.join(block.params) or 'none'}), got {len(call.args)}",
                    call.span,
                    note(f"{block.name} is defined here", block.span),
                )
            )
        values = tuple(self.argument(call, index, env, path, block) for index in range(len(call.args)))
        inner_env = {"num_classes": self.spec.num_classes, **dict(zip(block.params, values, strict=True))}
        stack = (*stack, call.block)
        before = len(self.added)
        if block.combine == "seq":
            exit_name = self.sequence(block.branches[0].layers, path, entry, inner_env, origin, stack, block, entry)
        else:
            exits = [
                self.sequence(branch.layers, _join(path, branch.name), entry, inner_env, origin, stack, block, entry)
                for branch in block.branches
            ]
            kind = OpKind.CONCAT if block.combine == "concat" else OpKind.ADD
            self.add_node(
                Node(
                    path,
                    kind,
                    ops.Merge(),
                    block.span,
                    origin.row,
                    origin.head,
                    origin.ref_row,
                    scope=_scope(origin, path),
                ),
                exits,
            )
            exit_name = path
        if block.residual is not None:
            exit_name = self.residual(block, path, entry, exit_name, inner_env, origin)
        nodes = tuple(self.added[before:])
        self.graph.instances[path] = Instance(path, block.name, values, call.span, entry, exit_name, nodes)
        self.graph.exits[path] = exit_name
        return exit_name

    def residual(self, block: Block, path: str, entry: str, body: str, env, origin: Node) -> str:
        """input + scale * body, then the block's activation."""
        residual = block.residual
        scale = env[residual.scale] if isinstance(residual.scale, str) else residual.scale
        act = env.get(residual.act, residual.act)
        labels = (f"the input of {path}", f"the body of block {block.name!r}")
        name = f"{path}.residual"
        scope = _scope(origin, path)
        self.add_node(
            Node(
                name,
                OpKind.ADD,
                ops.Merge(float(scale), labels),
                residual.span,
                origin.row,
                origin.head,
                origin.ref_row,
                scope=scope,
            ),
            [entry, body],
        )
        if act == "relu":
            self.add_node(
                Node(
                    f"{path}.act",
                    OpKind.RELU,
                    ops.NoAttrs(),
                    residual.act_span,
                    origin.row,
                    origin.head,
                    origin.ref_row,
                    scope=scope,
                ),
                [name],
            )
            return f"{path}.act"
        return name

    def argument(self, call: BlockCall, index: int, env, path: str, block: Block) -> Value:
        """A block argument as its parameter's type wants it: a (width-scaled) channel count, a float, an activation."""
        value, span = call.args[index], call.arg_spans[index]
        param = block.params[index]
        kind = block.type_of(param)
        if isinstance(value, str) and not (kind == "activation" and value in ACTIVATIONS):
            if value in ACTIVATIONS and value not in env:
                expected = "a channel count" if kind == "channels" else "a number"
                raise SpecError(
                    error(
                        "wrong-param-type",
                        f"{path}: argument {index + 1} of {block.name!r} ({param}) is a {kind}: it takes {expected} "
                        f"or a {kind} parameter, not the activation {value!r}",
                        span,
                    )
                )
            if kind == "activation" and value not in env:
                # A word where an activation goes: most likely one netgen does not have (gelu).
                params = [name for name, found in env.items() if _type_of_value(found) == "activation"]
                named = f" or an activation parameter ({', '.join(params)})" if params else ""
                raise SpecError(
                    error(
                        "bad-value",
                        f"{path}: argument {index + 1} of {block.name!r} ({param}) is an activation: "
                        f"{' or '.join(ACTIVATIONS)}{named}, got {value!r}{suggestion(value, [*ACTIVATIONS, *params])}",
                        span,
                    )
                )
            found = self.lookup(value, span, env, path)
            if _type_of_value(found) != kind:
                raise SpecError(
                    error(
                        "wrong-param-type",
                        f"{path}: argument {index + 1} of {block.name!r} ({param}) is a {kind}, but {value!r} is a "
                        f"{_type_of_value(found)} here",
                        span,
                    )
                )
            return found
        try:
            checked = block_argument(kind, value)
        except ValueError as exc:
            raise SpecError(
                error(
                    "bad-value",
                    f"{path}: argument {index + 1} of {block.name!r} ({param}) must be {exc} or a parameter name, got {show(value)}",
                    span,
                )
            ) from None
        return scale(checked, self.spec.width, self.spec.width_divisor) if kind == "channels" else checked

    def sequence(
        self,
        layers: tuple[Layer, ...],
        prefix: str,
        entry: str,
        env,
        origin: Node,
        stack,
        block: Block | None,
        block_entry,
    ) -> str:
        """A block's layers or one branch, from `entry`; `from: input` names the block's own input."""
        local: dict[str, str] = {INPUT: block_entry} if block_entry is not None else {}
        previous = entry
        for layer in layers:
            name = _join(prefix, layer.name)
            if layer.name == INPUT:
                raise SpecError(
                    error(
                        "reserved-name",
                        f"{name}: 'input' names the block's input in 'from'; rename this layer",
                        layer.span,
                    )
                )
            if layer.inputs is None:
                sources = [previous]
            else:
                sources = []
                for source, span in zip(layer.inputs, layer.input_spans, strict=True):
                    if source not in local:
                        raise SpecError(
                            error(
                                "unknown-layer",
                                f"{name}: 'from' names {source!r}, which is not an earlier layer of this sequence"
                                f"{suggestion(source, local)}",
                                span,
                            )
                        )
                    sources.append(local[source])
            if isinstance(layer.call, OpCall) and layer.call.op in ("concat", "add"):
                attrs = ops.Merge()
                node = Node(
                    name,
                    kind_for_op(layer.call.op),
                    attrs,
                    layer.span,
                    origin.row,
                    origin.head,
                    origin.ref_row,
                    layer.call,
                    _scope(origin, prefix),
                )
                self.add_node(node, sources)
                exit_name = name
            else:
                exit_name = self.layer(layer, name, sources[0], env, origin, stack, block, block_entry)
            local[layer.name] = exit_name
            previous = exit_name
        return previous

    def add_node(self, node: Node, inputs) -> None:
        limit = self.graph.max_layers or MAX_LAYERS
        if len(self.graph.g) >= limit:
            raise SpecError(
                error("too-large", f"the network expands to more than {limit:,} layers; --max-layers N raises the limit", node.span)
            )
        if node.name in self.graph:
            raise SpecError(error("duplicate-name", f"two layers are both named {node.name!r}", node.span))
        self.graph.add(node, inputs)
        self.added.append(node.name)

    # -- arguments ---------------------------------------------------------------------------

    def channels(self, value, span, env, where: str, scaled: bool = True) -> int:
        if isinstance(value, int):
            if not scaled:
                return value
            channels = scale(value, self.spec.width, self.spec.width_divisor)
            if channels > MAX_CHANNELS:
                raise SpecError(
                    error(
                        "bad-value",
                        f"{where}: {value:,} channels at width {self.spec.width:g} become {channels:,}, "
                        f"over the limit of {MAX_CHANNELS:,}",
                        span,
                        note("the width is set here", self.spec.where("width")),
                    )
                )
            return channels
        found = self.lookup(value, span, env, where)
        if _type_of_value(found) != "channels":
            raise SpecError(
                error(
                    "wrong-param-type",
                    f"{where}: {value!r} is a {_type_of_value(found)} parameter, but a channel count is needed here",
                    span,
                )
            )
        return found

    def lookup(self, value: str, span, env, where: str) -> Value:
        if value in env:
            return env[value]
        known = sorted(env)
        raise SpecError(
            error(
                "undefined-name",
                f"{where}: {value!r} is not defined here; names in scope: {', '.join(known)}{suggestion(value, known)}",
                span,
            )
        )

    def resolved(self, call: OpCall, env, stack, block: Block | None, label: str | None):
        """resolve(), remembered for the call's values: a network of many uses of one block resolves
        each of the block's ops once per set of arguments. What fails is not remembered, so each
        use reports its own diagnostic."""
        key = (id(call), *env.values())
        attrs = self._resolved.get(key)
        if attrs is None:
            attrs = self._resolved[key] = self.resolve(call, env, stack, block, label)
        return attrs

    def resolve(self, call: OpCall, env, stack, block: Block | None = None, label: str | None = None):
        args = call.args
        where = label or (f"block {block.name!r}" if block else call.op)
        op = kind_for_op(call.op)
        if call.op == "global_avgpool":
            return ops.AdaptiveAvgPool((1, 1))
        if op is OpKind.CONV:
            kernel = _pair(args.kernel)
            bn = args.bn
            if bn is True:
                bn = BatchNormArgs()
            return ops.Conv(
                bare=args.bare,
                out=self.channels(args.out, call.where("out"), env, where),
                kernel=kernel,
                stride=_pair(args.stride),
                pad=_padding(args.pad, kernel, call, where),
                groups=args.groups,
                bias=args.bias,
                bn_eps=bn.eps if bn else None,
                bn_momentum=bn.momentum if bn else 0.1,
                relu=args.act == "relu",
            )
        if op in (OpKind.MAXPOOL, OpKind.AVGPOOL):
            kernel = _pair(args.kernel)
            return ops.Pool(
                kernel=kernel,
                stride=_pair(args.stride) if args.stride is not None else kernel,
                pad=_padding(args.pad, kernel, call, where),
                ceil=args.ceil,
                count_include_pad=getattr(args, "count_include_pad", True),
            )
        if op is OpKind.ADAPTIVE_AVGPOOL:
            return ops.AdaptiveAvgPool(_pair(args.out))
        if op is OpKind.LRN:
            return ops.LRN(args.size, args.alpha, args.beta, args.k)
        if op is OpKind.BATCHNORM:
            return ops.BatchNorm(args.eps, args.momentum)
        if op is OpKind.DROPOUT:
            return ops.Dropout(args.p)
        if op is OpKind.LINEAR:
            out = self.channels(args.out, call.where("out"), env, where, scaled=False)
            return ops.Linear(out=out, bias=args.bias, relu=args.act == "relu")
        if op in (OpKind.CONCAT, OpKind.ADD):
            return ops.Merge()
        return ops.NoAttrs()


def _type_of_value(value: Value) -> str:
    """Block values carry their parameter's type: channel counts are ints, scales floats, activations names."""
    if isinstance(value, bool):
        return "activation"
    if isinstance(value, int):
        return "channels"
    return "float" if isinstance(value, float) else "activation"


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def _padding(pad, kernel: tuple[int, int], call: OpCall, where: str | None = None) -> tuple[int, int]:
    if pad == "valid":
        return (0, 0)
    if pad == "same":
        if kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
            raise SpecError(
                error(
                    "bad-value",
                    f"{where or call.op}: pad 'same' needs an odd kernel, got {kernel[0]}x{kernel[1]}; "
                    "use an odd kernel or give the padding as numbers",
                    call.where("pad"),
                )
            )
        return ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
    return _pair(pad)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if name else prefix


def _scope(origin: Node, path: str) -> tuple[str, ...]:
    parts = path.split(".")
    return tuple(".".join(parts[: i + 1]) for i in range(len(parts)))
