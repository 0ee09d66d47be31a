"""Expand pass: resolve every call's arguments to integers and replace block uses by primitive nodes.

A block's parameters are channel counts unless typed (`scale: float`, `act: activation`).
A layer with `times: N` becomes N copies named `<layer>.0` ... `<layer>.N-1`; a block with
`residual:` ends in an add of its input and its scaled body (`<use>.residual`), then its
activation (`<use>.act`). The spec's width multiplier scales channel counts
written as numbers (conv `out` and block arguments) where they are written; a parameter
passed on keeps the value it was given. Linear widths and `num_classes` are not scaled.
"""

from __future__ import annotations

from typing import NoReturn

from netgen.diagnostics import Diagnostic, SpecError, error, note, warning
from netgen.ir import ops
from netgen.ir.build import INPUT
from netgen.ir.graph import Graph, Instance, Node
from netgen.ir.ops import OpKind, kind_for_op
from netgen.ops import SPEC_OPS
from netgen.ops.activation import NONE
from netgen.ops.base import Unbound, one_of
from netgen.ops.expr import IN, ExprError, parse_expr
from netgen.ops.pool import POOL_TYPES
from netgen.ops.tensor import DropPath, Split
from netgen.spec.fields import MAX_CHANNELS, MAX_KERNEL
from netgen.spec.model import Block, BlockCall, Layer, MergeCall, OpCall, Spec, Value
from netgen.spec.parse import ACTIVATIONS, IDENTIFIER, MERGE_OPS, show, suggestion
from netgen.spec.schema import block_argument

# A safety limit on the expanded network (a typo in `times:` should not fill memory);
# `--max-layers` raises it for networks that really are that large.
MAX_LAYERS = 50_000
# How far `--max-layers` raises it: the limit bounds the time and memory a check takes (about a
# minute and a few GiB here), and with it the values a spec file may hold once its aliases expand.
MAX_LAYERS_CEILING = 1_000_000
MAX_NESTING = 16
KINDS = {kind.value: kind for kind in OpKind}
# The words a parameter of these types takes.
WORDS = {"activation": ACTIVATIONS, "pool": POOL_TYPES}


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
    top_env = Env({"num_classes": spec.num_classes}, {"num_classes": "channels"})
    layers = {layer.name: layer for layer in [*spec.layers, *(head.layer for head in spec.heads)]}
    for node in list(graph.nodes()):
        if node.kind is OpKind.INPUT:
            continue
        try:
            if node.kind is OpKind.BLOCK:
                expander.inline(node, layers[node.name] if node.head is None else _head_layer(spec, node.name), top_env)
            else:
                node.kind, node.attrs, node.unbound = expander.resolve(node.call, top_env, (), label=node.name)
        except SpecError as exc:
            # A mistake inside a block definition shows in every use of it; report it once.
            expander.problems.extend(d for d in exc.diagnostics if d not in expander.problems)
    if not expander.problems:
        expander.problems += drop_path_rates(graph, spec)
    return expander.problems


def drop_path_rates(graph: Graph, spec: Spec) -> list[Diagnostic]:
    """Each residual's stochastic depth rate, as timm spreads `drop_path_rate`: linearly from 0 for the
    first to the full rate for the last, in the order they run, heads last (torch.linspace(0, rate, n))."""
    sites = [node for node in graph.nodes() if node.kind is OpKind.DROP_PATH]
    sites = [node for node in sites if node.head is None] + [node for node in sites if node.head is not None]
    for index, node in enumerate(sites):
        node.attrs = DropPath(spec.drop_path_rate * index / (len(sites) - 1) if len(sites) > 1 else 0.0)
    if spec.drop_path_rate and not sites:
        return [
            warning(
                "unused-drop-path-rate",
                "drop_path_rate is set, but no residual has drop_path: true, so nothing is dropped; "
                "give the blocks that should drop their body `residual: {drop_path: true}`",
                spec.where("drop_path_rate"),
            )
        ]
    return []


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
            kind = KINDS[call.op]
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
        kind, attrs, unbound = self.resolved(call, env, stack, block, label=name if block is None else None)
        node = Node(
            name,
            kind,
            attrs,
            layer.span,
            origin.row,
            origin.head,
            origin.ref_row,
            call,
            _scope(origin, name.rpartition(".")[0] or name),
            init_std=layer.init_std,
        )
        node.unbound = unbound
        self.add_node(node, [source])
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
        inner_env = Env(
            {"num_classes": self.spec.num_classes, **dict(zip(block.params, values, strict=True))},
            {"num_classes": "channels", **{param: block.type_of(param) for param in block.params}},
        )
        stack = (*stack, call.block)
        before = len(self.added)
        if block.combine == "seq":
            exit_name = self.sequence(block.branches[0].layers, path, entry, inner_env, origin, stack, block, entry)
        else:
            parts = self.split(block, path, entry, inner_env, origin) if block.split else [entry] * len(block.branches)
            exits = [
                self.sequence(branch.layers, _join(path, branch.name), part, inner_env, origin, stack, block, entry)
                for branch, part in zip(block.branches, parts, strict=True)
            ]
            kind = KINDS[block.combine]
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

    def split(self, block: Block, path: str, entry: str, env, origin: Node) -> list[str]:
        """`split:` one node per branch, `<branch>.input`, holding that branch's part of the block's input."""
        split = block.split
        sizes = tuple(
            self.count(value, span, env, path, "split", types=("channels", "int"))
            for value, span in zip(split.parts, split.part_spans, strict=True)
        )
        names = []
        for index, branch in enumerate(block.branches):
            name = f"{_join(path, branch.name)}.input"
            node = Node(name, OpKind.SPLIT, Split(sizes, index, path), split.span, origin.row, origin.head, origin.ref_row)
            node.scope = _scope(origin, _join(path, branch.name))
            node.unbound = any(isinstance(size, Unbound) for size in sizes)
            self.add_node(node, [entry])
            names.append(name)
        return names

    def residual(self, block: Block, path: str, entry: str, body: str, env, origin: Node) -> str:
        """input + scale * body (the body through stochastic depth where it says `drop_path`), then the block's activation."""
        residual = block.residual
        scale = env[residual.scale] if isinstance(residual.scale, str) else residual.scale
        # A word is the activation it names even where a parameter shares it, as in every other argument.
        act = residual.act if residual.act in ACTIVATIONS else env[residual.act]
        labels = (f"the input of {path}", f"the body of block {block.name!r}")
        name = f"{path}.residual"
        scope = _scope(origin, path)
        if residual.drop_path:  # its rate is set once every use is expanded (`drop_path_rates`)
            dropped = f"{path}.drop_path"
            node = Node(dropped, OpKind.DROP_PATH, DropPath(0.0), residual.span, origin.row, origin.head, origin.ref_row)
            node.scope = scope
            self.add_node(node, [body])
            body = dropped
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
        if act != NONE:
            self.add_node(
                Node(
                    f"{path}.act",
                    KINDS[act],
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
        """A block argument as its parameter's type wants it: a (width-scaled) channel count, a whole
        number, a float, an activation or a pool type."""
        value, span = call.args[index], call.arg_spans[index]
        param = block.params[index]
        kind = block.type_of(param)
        words = WORDS.get(kind, ())
        if isinstance(value, str) and value not in words:
            if any(value in other for other in WORDS.values()) and value not in env:
                expected = {"channels": "a channel count", "int": "a whole number"}.get(kind, "a number")
                if words:
                    expected = one_of(words)
                what = "activation" if value in ACTIVATIONS else "pool type"
                raise SpecError(
                    error(
                        "wrong-param-type",
                        f"{path}: argument {index + 1} of {block.name!r} ({param}) is a {kind}: it takes {expected} "
                        f"or a {kind} parameter, not the {what} {value!r}",
                        span,
                    )
                )
            if words and value not in env:
                # A word where an activation or a pool type goes: most likely one netgen does not have.
                params = [name for name, found in env.types.items() if found == kind]
                article = "an" if kind[0] in "aeiou" else "a"
                named = f" or {article} {kind} parameter ({', '.join(params)})" if params else ""
                raise SpecError(
                    error(
                        "bad-value",
                        f"{path}: argument {index + 1} of {block.name!r} ({param}) is {article} {kind}: "
                        f"{' or '.join(words)}{named}, got {value!r}{suggestion(value, [*words, *params])}",
                        span,
                    )
                )
            found = self.lookup(value, span, env, path)
            if env.types[value] != kind:
                raise SpecError(
                    error(
                        "wrong-param-type",
                        f"{path}: argument {index + 1} of {block.name!r} ({param}) is a {kind}, but {value!r} is a "
                        f"{env.types[value]} here",
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
            if isinstance(layer.call, OpCall) and layer.call.op in MERGE_OPS:
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

    def channels(self, value, span, env, where: str, scaled: bool = True, types=("channels",)) -> int:
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
        if env.types[value] not in types:
            needed = "a channel count" if types == ("channels",) else f"a {' or '.join(types)} parameter"
            raise SpecError(
                error(
                    "wrong-param-type",
                    f"{where}: {value!r} is a {env.types[value]} parameter, but {needed} is needed here",
                    span,
                )
            )
        return found

    def count(self, value, span, env, where: str, arg: str, scaled: bool = True, types=("channels",)) -> int | Unbound:
        """A channel count as written: a number (scaled by the width unless `scaled` is false), a block
        parameter of one of `types`, or an expression of parameters; one written with `in` waits for
        the input's channels (`Unbound`)."""
        if isinstance(value, int) or (IDENTIFIER.match(value) and value != IN):
            return self.channels(value, span, env, where, scaled, types)
        expr = parse_expr(value)
        known = {name: self.channels(name, span, env, where, scaled, ("channels", "int")) for name in sorted(expr.names() - {IN})}
        try:
            expr = expr.substitute(known)
        except ExprError as exc:
            raise SpecError(error("bad-value", f"{where}: {arg!r} is {value}, and {exc} here", span)) from None
        if expr.mentions(IN):
            return Unbound(expr, value, span, where, arg)
        return count(expr.const, value, arg, where, span)

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
        found = self._resolved.get(key)
        if found is None:
            found = self._resolved[key] = self.resolve(call, env, stack, block, label)
        return found

    def resolve(self, call: OpCall, env, stack, block: Block | None = None, label: str | None = None):
        """The IR kind and attributes of a primitive op, by its declaration's `resolve`, and whether
        a channel count waits for the input's (`in`)."""
        where = label or (f"block {block.name!r}" if block else call.op)
        arguments = _Arguments(self, call, env, where)
        kind, attrs = SPEC_OPS[call.op].resolve(call.args, arguments)
        return KINDS[kind], attrs, arguments.unbound


class _Arguments:
    """What an op's `resolve` reads of its call, each argument checked where it is written: channel
    counts (numbers scaled by the width, block parameters and expressions of them), whole numbers,
    floats and words that may name a block parameter of the right type. A count written with `in`
    is left `Unbound` for the shapes pass, which knows the input's channels."""

    symbolic = False  # the PyTorch backend reads a call with parameters left as names (netgen.backends.pytorch)

    def __init__(self, expander: _Expander, call: OpCall, env: Env, where: str):
        self.expander, self.call, self.env, self.where = expander, call, env, where
        self.unbound = False

    def channels(self, value, arg: str, scaled: bool = True, types=("channels",)) -> int | Unbound:
        found = self.expander.count(value, self.call.where(arg), self.env, self.where, arg, scaled, types)
        self.unbound |= isinstance(found, Unbound)
        return found

    def size(self, value, arg: str, low: int = 1) -> tuple[int, int]:
        """A kernel, stride or padding: a number or a pair, each a whole number or an int parameter."""
        first, second = value if isinstance(value, list) else (value, value)
        return self.integer(first, arg, low), self.integer(second, arg, low)

    def integer(self, value, arg: str, low: int = 1) -> int:
        if isinstance(value, int):
            return value
        span = self.call.where(arg)
        found = self.expander.lookup(value, span, self.env, self.where)
        kind = self.env.types[value]
        if kind != "int":
            raise SpecError(
                error(
                    "wrong-param-type",
                    f"{self.where}: {arg!r} takes whole numbers, but {value!r} is a {kind} parameter; "
                    f"declare it as `{value}: int` in params",
                    span,
                )
            )
        if not low <= found <= MAX_KERNEL:
            raise SpecError(
                error("bad-value", f"{self.where}: {arg!r} is {value} = {found} here; it must be from {low} to {MAX_KERNEL}", span)
            )
        return found

    def number(self, value, arg: str) -> float:
        """A float, or a float parameter."""
        if not isinstance(value, str):
            return value
        span = self.call.where(arg)
        found = self.expander.lookup(value, span, self.env, self.where)
        if self.env.types[value] != "float":
            raise SpecError(
                error(
                    "wrong-param-type",
                    f"{self.where}: {arg!r} takes a number, but {value!r} is a {self.env.types[value]} parameter; "
                    f"declare it as `{value}: float` in params",
                    span,
                )
            )
        return found

    def word(self, value: str, arg: str, kind: str) -> str:
        """One of a parameter type's words (`max`, `avg`), or a parameter of that type."""
        words = WORDS[kind]
        if value in words:
            return value
        span = self.call.where(arg)
        if value not in self.env:
            known = [*words, *(name for name, found in self.env.types.items() if found == kind)]
            raise SpecError(
                error(
                    "undefined-name",
                    f"{self.where}: {arg!r} must be {one_of(words)}, or a {kind} parameter, got {value!r}{suggestion(value, known)}",
                    span,
                )
            )
        if self.env.types[value] != kind:
            raise SpecError(
                error(
                    "wrong-param-type",
                    f"{self.where}: {arg!r} takes {one_of(words)} or a {kind} parameter, but {value!r} is a "
                    f"{self.env.types[value]} parameter",
                    span,
                )
            )
        return self.env[value]

    def fail(self, code: str, message: str, arg: str) -> NoReturn:
        raise SpecError(error(code, f"{self.where}: {message}", self.call.where(arg)))


def count(value: int, text: str, arg: str, where: str, span) -> int:
    """A channel count an expression gives: at least 1, at most the limit."""
    if not 1 <= value <= MAX_CHANNELS:
        raise SpecError(
            error("bad-value", f"{where}: {arg!r} is {text} = {value}, which is no channel count (1 to {MAX_CHANNELS:,})", span)
        )
    return value


class Env(dict):
    """The names in scope where a layer is expanded, each with its parameter type (channels, int,
    float, activation, pool)."""

    def __init__(self, values: dict, types: dict[str, str]):
        super().__init__(values)
        self.types = types


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if name else prefix


def _scope(origin: Node, path: str) -> tuple[str, ...]:
    parts = path.split(".")
    return tuple(".".join(parts[: i + 1]) for i in range(len(parts)))
