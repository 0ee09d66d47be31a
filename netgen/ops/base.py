"""What an op declares, once, for every stage of the compiler that reads it.

An `Op` is an IR kind: its shape rule, parameters and multiply-adds, depth class, state_dict
slots, PyTorch lowering (a module constructor or a functional call, as data the backend renders)
and ONNX lowering (nodes, as data the backend writes). A `SpecOp` is what a spec writes: its
arguments (a pydantic declaration the loader validates with, and the JSON Schema and editor docs
come from) and how they resolve to the attributes of an IR kind. Most ops are both, declared
together in one module of this package; `global_avgpool` is a spelling of `adaptive_avgpool`.

Nothing here imports torch, onnx or Jinja: `netgen check` reads these declarations too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from netgen.diagnostics import Diagnostic, Span, SpecError, error
from netgen.spec.fields import Strict

Shape = tuple[int, ...]  # (C, H, W) or (F,), batch left out
Pair = tuple[int, int]


class BackendGuard(AssertionError):
    """A lowering met attributes a pass should have refused: a bug in netgen, not in the spec."""


# -- state_dict ------------------------------------------------------------------------------


@dataclass
class Slot:
    key: str  # state_dict key
    shape: tuple[int, ...]
    role: str  # weight, bias, bn_weight, bn_bias, running_mean, running_var, num_batches_tracked, ...
    fill: float | None = None  # a tensor that starts at one value (batch norm's scale: 1); None: the spec's `init:`


def batch_norm_slots(path: str, channels: int) -> list[Slot]:
    return [
        Slot(f"{path}.weight", (channels,), "bn_weight", 1.0),
        Slot(f"{path}.bias", (channels,), "bn_bias", 0.0),
        Slot(f"{path}.running_mean", (channels,), "running_mean", 0.0),
        Slot(f"{path}.running_var", (channels,), "running_var", 1.0),
        Slot(f"{path}.num_batches_tracked", (), "num_batches_tracked", 0),
    ]


# -- PyTorch lowering: data the backend's templates render -----------------------------------


class _Input:
    """The tensor a functional call applies to: `F.relu(<input>)`."""

    form = "input"

    def __repr__(self) -> str:
        return "INPUT"


INPUT = _Input()


@dataclass(frozen=True)
class Size:
    """A kernel, stride or padding, written as PyTorch takes it: one number when both sides agree."""

    value: tuple
    form: str = "size"


@dataclass(frozen=True)
class Call:
    """`fn(arg, ..., name=value, ...)` in generated code: a module's constructor, a function, or
    (`on` given) a method of the input or of the op's own attribute (`SELF`).

    An argument is a literal (written with repr()), a `Size`, `INPUT`, `SELF`, another `Call`,
    a `Product`, or a value the backend computes in the block's parameters (a channel count, a
    `Param`), which has the `code` that writes it."""

    fn: str
    args: tuple = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    on: Any = None
    helper: str | None = None  # a class the generated file defines for it (templates/pytorch/<helper>.py.j2)
    form: str = "call"


class _Self:
    """The op's own attribute (`self.gamma`)."""

    form = "self"

    def __repr__(self) -> str:
        return "SELF"


SELF = _Self()


@dataclass(frozen=True)
class Product:
    """`left * right`."""

    left: Any
    right: Any
    form: str = "product"


def keyword(name: str, value: Any, default: Any) -> tuple[tuple[str, Any], ...]:
    """`name=value` unless the value is PyTorch's default, as torchvision writes its modules."""
    return () if value == default else ((name, value),)


# -- ONNX lowering: data the backend writes as ONNX text ---------------------------------------


@dataclass(frozen=True)
class Arg:
    """The node's i-th input."""

    index: int


@dataclass(frozen=True)
class Weight:
    """The node's state_dict tensor of this role (`weight`, `bn_weight`, ...)."""

    role: str


class _Previous:
    def __repr__(self) -> str:
        return "PREVIOUS"


PREVIOUS = _Previous()  # the output of the step before


@dataclass(frozen=True)
class Step:
    """An earlier step's output, by its name."""

    name: str


ARGS = "ARGS"  # every input of the node, in order (a concat, a sum)


@dataclass(frozen=True)
class Tensor:
    """A constant tensor attribute (a Constant node's `value`)."""

    shape: tuple[int, ...]
    values: tuple
    dtype: Literal["float", "int64"] = "float"


@dataclass(frozen=True)
class OnnxNode:
    """One ONNX node of a lowering; `name` suffixes the IR node's name when it lowers to several."""

    name: str
    op: str
    inputs: tuple = ()
    attrs: tuple[tuple[str, Any], ...] = ()


def constant(name: str, shape: tuple[int, ...], values, dtype: Literal["float", "int64"] = "float") -> OnnxNode:
    return OnnxNode(name, "Constant", (), (("value", Tensor(shape, tuple(values), dtype)),))


@dataclass(frozen=True)
class OnnxContext:
    """What an ONNX lowering may ask about its node."""

    name: str
    attrs: Any
    in_shapes: tuple[Shape, ...]
    roles: frozenset[str]  # the state_dict roles the node has tensors for
    opset: int


# -- the declarations -------------------------------------------------------------------------


@dataclass
class ShapeContext:
    """A node's shape rule sees its attributes, its inputs' shapes, and how to report a problem
    at the node or at one of its spec arguments (`uses`: a note on the block use it is in)."""

    name: str
    attrs: Any
    shapes: list[Shape]
    span: Span
    arg_span: Callable[[str], Span]
    uses: Callable[[], list[Diagnostic]] = lambda: []

    def fail(self, code: str, message: str, arg: str | None = None, *notes: Diagnostic, where: str | None = None) -> None:
        raise SpecError(error(code, f"{where or self.name}: {message}", self.arg_span(arg) if arg else self.span, *notes))


def same_shape(ctx: ShapeContext) -> Shape:
    return ctx.shapes[0]


def no_count(attrs: Any, in_shape: Shape) -> tuple[int, int]:
    return 0, 0


def no_macs(attrs: Any, in_shape: Shape, out_shape: Shape) -> int:
    return 0


def no_slots(attrs: Any, in_shape: Shape, path: str, beside: str | None = None) -> list[Slot]:
    return []


Depth = Literal["weighted", "pooling"] | None


@dataclass(frozen=True)
class Op:
    """An IR kind, declared once.

    - `shape`: the output shape from the inputs' (raising a located error where it cannot be);
      `keeps_shape` ops pass their input's shape on.
    - `params`: (weights, biases) as Table 1 counts them; `buffers`: values stored beside them
      (batch norm's running statistics), which the ONNX model holds too.
    - `macs`: multiply-adds for one image; `depth`: whether it counts in the paper's depth.
    - `slots`: its tensors in the generated module's state_dict, at its module's path.
    - `torch`: its module's constructor (None: computed in forward(), without a module);
      `torch_after`: a functional call forward() applies to the module's output (a linear's ReLU);
      `torch_apply`: for an op whose attribute is an nn.Parameter (`parameter`), how forward()
      applies it (`x.mul(self.gamma.reshape(1, -1, 1, 1))`).
    - `onnx`: its ONNX nodes; `onnx_skip`: the inference graph leaves it out (dropout), passing
      its input on. `onnx_rule`: a diagnostic for what ONNX cannot express (checked by `check`);
      `onnx_opset_rule`: one for what an opset older than `build --opset` asks computes otherwise.
    - `patch`: the (kernel, stride) a table's "patch size/stride" column shows.
    - `combines`: a merge of several inputs (concat, add, mul): `sum` or `equal` channels, or equal
      channels with 1x1 maps broadcast over the others.
    - `channels`: where the generated code's output channel count comes from.
    """

    kind: str
    shape: Callable[[ShapeContext], Shape] = same_shape
    keeps_shape: bool = False
    needs: Literal["map", "flat"] | None = None  # a C x H x W input only, or a flat one only
    needs_hint: str = ""  # what the needs-map or needs-flat diagnostic advises
    params: Callable[[Any, Shape], tuple[int, int]] = no_count
    buffers: Callable[[Any, Shape], int] = lambda attrs, in_shape: 0
    macs: Callable[[Any, Shape, Shape], int] = no_macs
    depth: Depth = None
    # (attributes, input shape, module path, the path of the batch norm a bare conv keeps beside it)
    slots: Callable[[Any, Shape, str, str | None], list[Slot]] = no_slots
    torch: Callable[[Any], Call] | None = None
    torch_after: Callable[[Any], Call | None] = lambda attrs: None
    torch_apply: Callable[[Any], Call] | None = None
    parameter: bool = False  # its attribute is an nn.Parameter, which no nn.Sequential can hold
    onnx: Callable[[OnnxContext], list[OnnxNode]] | None = None
    onnx_skip: bool = False
    onnx_rule: Callable[[Any, Shape], str | None] | None = None
    onnx_rule_arg: str | None = None  # the spec argument an onnx_rule diagnostic points at
    # (attributes, input shape, output shape, opset): what an older opset computes otherwise
    onnx_opset_rule: Callable[[Any, Shape, Shape, int], str | None] | None = None
    patch: Callable[[Any], tuple[Pair, Pair] | None] = lambda attrs: None
    combines: Literal["sum", "equal", "broadcast"] | None = None
    # the output's channels as the generated code computes them: the input's, the `out`
    # argument's (scaled by the width or not), or all the input's values (a flatten)
    channels: Literal["same", "out", "out_unscaled", "flattened"] = "same"
    by_rank: bool = False  # its module differs for a flat input (nn.BatchNorm1d): every use must agree
    building_block: bool = True  # counted among the paper's building blocks (concat is not)
    label: str = ""  # how diagrams and summaries name it; the kind by default

    @property
    def title(self) -> str:
        return self.label or self.kind


@dataclass(frozen=True)
class SpecOp:
    """An op as a spec writes it: its arguments' declaration and how they resolve to an IR kind's
    attributes. `resolve(args, ctx)` gives (kind, attributes); `ctx` (netgen.passes.expand) reads
    channel counts and block parameters and reports problems at the argument."""

    name: str
    args: type
    resolve: Callable[[Any, Any], tuple[str, Any]]
    kind: str = ""  # the IR kind it resolves to (its own name unless given)
    defaultable: bool = False  # `defaults:` may give its arguments
    paper: str | None = None  # the word a paper's table prints for it ("convolution")
    several_inputs: bool = False  # reads several layers (`from: [a, b]`) or branches
    doc: str = ""  # README's one-line summary of its arguments

    @property
    def ir_kind(self) -> str:
        return self.kind or self.name


def pair(value) -> Pair:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


class NoArgs(Strict):
    """An op without arguments: write it with nothing after the colon (`flatten:`)."""


@dataclass(frozen=True)
class NoAttrs:
    pass


def one_of(words) -> str:
    """'a', 'b' or 'c'."""
    quoted = [repr(word) for word in words]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


# -- block parameters in arguments -------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A block parameter as generated code names it, where an argument names one (a float, a word)."""

    code: str


@dataclass(frozen=True)
class Select:
    """An IR kind chosen by a block parameter (`pool: {type: p}`): the kind for each of its values."""

    param: Param
    kinds: tuple[tuple[str, str], ...]


def choose(word: str | Param, kinds: dict[str, str]) -> str | Select:
    """The kind a word picks, or, where a block parameter gives the word, every kind it may pick."""
    return kinds[word] if isinstance(word, str) else Select(word, tuple(kinds.items()))


@dataclass(frozen=True)
class Unbound:
    """A channel count written with `in`, known once the op's input is: the shapes pass binds it."""

    expr: Any  # netgen.ops.expr.Expr, block parameters already substituted
    text: str  # as the spec writes it
    span: Span
    where: str  # the layer, for diagnostics
    arg: str
