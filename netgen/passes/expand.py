"""Expand pass: resolve every call's arguments to integers and replace block uses by primitive nodes.

A block's parameters are channel counts. The spec's width multiplier scales channel counts
written as numbers (conv `out` and block arguments) where they are written; a parameter
passed on keeps the value it was given. Linear widths and `num_classes` are not scaled.
"""

from __future__ import annotations

from netgen.diagnostics import Diagnostic, SpecError, error, note
from netgen.ir import ops
from netgen.ir.graph import Graph, Instance, Node
from netgen.ir.ops import OpKind, kind_for_op
from netgen.spec.model import Block, BlockCall, Layer, OpCall, Spec
from netgen.spec.parse import suggestion
from netgen.spec.schema import MAX_CHANNELS, BatchNormArgs

MAX_NODES = 50_000
MAX_NESTING = 16


def scale(channels: int, width: float) -> int:
    return max(1, int(channels * width + 0.5))


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    expander = _Expander(graph, spec)
    top_env = {"num_classes": spec.num_classes}
    for node in list(graph.nodes()):
        if node.kind is OpKind.INPUT:
            continue
        try:
            if node.kind is OpKind.BLOCK:
                expander.inline(node, top_env)
            else:
                node.attrs = expander.resolve(node.call, top_env, (), label=node.name)
        except SpecError as exc:
            # A mistake inside a block definition shows in every use of it; report it once.
            expander.problems.extend(d for d in exc.diagnostics if d not in expander.problems)
    return expander.problems


class _Expander:
    def __init__(self, graph: Graph, spec: Spec):
        self.graph = graph
        self.spec = spec
        self.problems: list[Diagnostic] = []

    # -- blocks ------------------------------------------------------------------------------

    def inline(self, node: Node, env: dict[str, int]) -> None:
        """Replace a top-level block node by its expansion, keeping its edges."""
        graph = self.graph
        entry_sources = graph.inputs(node.name)
        if not entry_sources:
            return  # the layer feeding it failed to expand, which is reported already
        users = graph.uses(node.name)
        graph.remove(node.name)
        # A placeholder entry is not needed: the block reads the node that fed it.
        entry = entry_sources[0]
        exit_name = self.instance(node.call, node.name, entry, env, node, stack=())
        for user, index in users:
            graph.connect(exit_name, user, index)
        if node.head is not None:
            graph.heads[node.head] = exit_name
        if graph.output == node.name:
            graph.output = exit_name

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
        values = tuple(self.channels(arg, span, env, path) for arg, span in zip(call.args, call.arg_spans, strict=True))
        inner_env = {"num_classes": self.spec.num_classes, **dict(zip(block.params, values, strict=True))}
        stack = (*stack, call.block)
        before = len(self.graph.g)
        exits = [self.sequence(branch.layers, _join(path, branch.name), entry, inner_env, origin, stack, block) for branch in block.branches]
        if block.combine == "seq":
            exit_name = exits[0]
        else:
            kind = OpKind.CONCAT if block.combine == "concat" else OpKind.ADD
            self.add_node(Node(path, kind, ops.NoAttrs(), block.span, origin.row, origin.head, origin.ref_row, scope=_scope(origin, path)), exits)
            exit_name = path
        nodes = tuple(list(self.graph.g)[before:])
        self.graph.instances[path] = Instance(path, block.name, values, call.span, entry, exit_name, nodes)
        return exit_name

    def sequence(self, layers: tuple[Layer, ...], prefix: str, entry: str, env, origin: Node, stack, block: Block) -> str:
        local: dict[str, str] = {}
        previous = entry
        for layer in layers:
            name = _join(prefix, layer.name)
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
            if isinstance(layer.call, BlockCall):
                if layer.call.block not in self.spec.blocks:
                    raise SpecError(error("unknown-op", f"unknown block {layer.call.block!r}", layer.call.span))
                exit_name = self.instance(layer.call, name, sources[0], env, origin, stack)
            else:
                attrs = self.resolve(layer.call, env, stack, block)
                node = Node(name, kind_for_op(layer.call.op), attrs, layer.span, origin.row, origin.head, origin.ref_row, layer.call, _scope(origin, prefix))
                self.add_node(node, sources)
                exit_name = name
            local[layer.name] = exit_name
            previous = exit_name
        return previous

    def add_node(self, node: Node, inputs) -> None:
        if len(self.graph.g) >= MAX_NODES:
            raise SpecError(error("too-large", f"the network expands to more than {MAX_NODES} layers", node.span))
        if node.name in self.graph:
            raise SpecError(error("duplicate-name", f"two layers are both named {node.name!r}", node.span))
        self.graph.add(node, inputs)

    # -- arguments ---------------------------------------------------------------------------

    def channels(self, value, span, env, where: str, scaled: bool = True) -> int:
        if isinstance(value, int):
            if not scaled:
                return value
            channels = scale(value, self.spec.width)
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
        return ops.NoAttrs()


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
