"""The typed spec: what the user wrote, validated, with the span of every part."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from netgen.diagnostics import Span
from netgen.spec.claims import Claim
from netgen.spec.library import Import
from netgen.spec.schema import PARAM_KINDS, DataArgs, InitArgs, ParamType, Strict

Combine = Literal["seq", "concat", "add", "mul"]
# What a block parameter holds: a channel count (the default, scaled by the width), a whole number
# (a kernel size or a stride, never scaled), a number such as a residual scale, an activation
# (relu, gelu, ..., none) or a pool type (max or avg); `PARAM_KINDS` declares what each takes.
PARAM_TYPES: tuple[ParamType, ...] = tuple(PARAM_KINDS)
Value = int | float | str  # a block argument: a number, an activation, or a parameter name


@dataclass(frozen=True)
class OpCall:
    """A primitive op with its validated arguments (defaults filled in)."""

    op: str
    args: Strict
    arg_spans: dict[str, Span]
    span: Span

    def where(self, arg: str) -> Span:
        return self.arg_spans.get(arg, self.span)


@dataclass(frozen=True)
class BlockCall:
    """A use of a spec-defined block, with its arguments in the block's parameter order."""

    block: str
    args: tuple[Value, ...]
    arg_spans: tuple[Span, ...]
    span: Span


@dataclass(frozen=True)
class MergeCall:
    """`concat:` or `add:` of branches written in place: each branch reads the layer's input."""

    op: Literal["concat", "add", "mul"]
    branches: tuple[Branch, ...]
    span: Span


@dataclass(frozen=True)
class Layer:
    name: str
    call: OpCall | BlockCall | MergeCall
    span: Span
    inputs: tuple[str, ...] | None = None  # None: the previous layer's output
    input_spans: tuple[Span, ...] = ()
    row: str | None = None
    times: int = 1  # `times: N`: N copies in a row, an nn.Sequential numbered 0 .. N-1
    container: str | None = None  # a top-level layer inside a `sequential:` group of that name
    stage: bool = False  # `stage: true`: one of the feature maps a backbone user takes (timm's feature_info)
    init_std: float | None = None  # `init: {std}`: this layer's weight starts from its own truncated normal


@dataclass(frozen=True)
class Branch:
    name: str
    layers: tuple[Layer, ...]
    span: Span
    indexed: bool  # written as a list: layers are positional (nn.Sequential), not named attributes


@dataclass(frozen=True)
class Residual:
    """`residual:` the block computes act(input + scale * body); scale and act may name parameters."""

    scale: float | str
    act: str
    span: Span
    scale_span: Span
    act_span: Span
    drop_path: bool = False  # stochastic depth on the body, at the rate the spec's drop_path_rate gives this use


@dataclass(frozen=True)
class Split:
    """`split:` the block's input cut along channels into one part per branch, as written."""

    parts: tuple[int | str, ...]  # channel counts, parameters or expressions
    part_spans: tuple[Span, ...]
    span: Span


@dataclass(frozen=True)
class Block:
    name: str
    params: tuple[str, ...]
    param_spans: tuple[Span, ...]
    combine: Combine
    branches: tuple[Branch, ...]
    span: Span
    param_types: tuple[ParamType, ...] = ()
    flat: bool = False  # layers of mapping branches are attributes of the block, not of an nn.Sequential
    residual: Residual | None = None
    split: Split | None = None
    # A use has no module: the block's attributes are the using module's, named <use>_<attribute>.
    inline: bool = False

    def type_of(self, param: str) -> ParamType:
        return self.param_types[self.params.index(param)] if self.param_types else "channels"


@dataclass(frozen=True)
class Head:
    name: str
    source: str
    source_span: Span
    loss_weight: float
    layer: Layer
    span: Span
    # Written among `layers:` (`head: true`): the number of top-level layers written above it.
    # None: written under `heads:`, after every layer.
    position: int | None = None


@dataclass(frozen=True)
class Deviation:
    """Reference cells the spec departs from on purpose, and why; rows and cells as written, unchecked."""

    rows: tuple[str, ...]
    cells: tuple[str, ...]
    reason: str
    span: Span
    row_spans: tuple[Span, ...]
    cell_spans: tuple[Span, ...]


@dataclass(frozen=True)
class OutputField:
    """One field of the training outputs: its name and the layer (or head) whose output it holds."""

    name: str
    source: str
    span: Span
    source_span: Span


@dataclass(frozen=True)
class Outputs:
    """The spec's `outputs:`, as written; `netgen.ir.build` checks the fields name each output once."""

    class_name: str | None
    class_span: Span | None
    fields: tuple[OutputField, ...] | None
    span: Span
    when: str = "training"  # "always": forward() returns them in eval mode too


@dataclass(frozen=True)
class Spec:
    path: str
    name: str
    description: str
    input: tuple[int, int, int]
    num_classes: int
    width: float
    init: InitArgs
    drop_path_rate: float
    transform_input: bool | None  # None: the generated constructor has no transform_input argument
    reference: str | None
    blocks: dict[str, Block]
    layers: tuple[Layer, ...]
    heads: tuple[Head, ...]
    span: Span
    field_spans: dict[str, Span] = field(default_factory=dict)
    deviations: tuple[Deviation, ...] = ()
    outputs: Outputs | None = None
    data: DataArgs | None = None  # how images are prepared (timm's data config)
    width_divisor: int | None = None  # channel counts `width` scales are rounded to a multiple of it
    claims: tuple[Claim, ...] = ()  # the design's own targets, in the order written
    imports: tuple[Import, ...] = ()  # the block libraries read, each with the `use:` entry naming it

    def where(self, key: str) -> Span:
        return self.field_spans.get(key, self.span)

    def in_order(self) -> list[Layer | Head]:
        """Top-level layers and heads in the order the spec writes them: the order in which the
        generated module registers them, and so the order of its state_dict and parameters()."""
        out: list[Layer | Head] = []
        heads = sorted(self.heads, key=lambda head: len(self.layers) if head.position is None else head.position)
        pending = iter(heads)
        head = next(pending, None)
        for index, layer in enumerate(self.layers):
            while head is not None and head.position is not None and head.position <= index:
                out.append(head)
                head = next(pending, None)
            out.append(layer)
        while head is not None:
            out.append(head)
            head = next(pending, None)
        return out
