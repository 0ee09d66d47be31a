"""Ops that move values without learning anything: dropout, stochastic depth (a residual's
`drop_path`), flatten, and the parts of a block's channel `split`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from netgen.ops.base import Arg, Call, NoArgs, NoAttrs, OnnxNode, Op, SpecOp, Step, constant
from netgen.spec.fields import Probability, Strict, Symbol, Takes


class DropoutArgs(Strict):
    """Dropout, in training only."""

    p: Annotated[
        Probability | Symbol,
        Takes(("float",)),
        Field(title="the share of values zeroed", description="a number from 0 up to (not including) 1 that float32 holds (0, or 1.2e-38 and above), or a float parameter"),
    ]


@dataclass(frozen=True)
class Dropout:
    p: float


@dataclass(frozen=True)
class DropPath:
    """Stochastic depth on a residual's body: in training, a sample's whole body is dropped with
    probability `rate` (the survivors scaled by 1 / (1 - rate)); the identity in eval."""

    rate: float


@dataclass(frozen=True)
class Split:
    """One part of a block's input cut along channels: channels sum(sizes[:index]) up to that plus sizes[index]."""

    sizes: tuple  # every part's channels, in order (a count written with `in` bound by the shapes pass)
    index: int
    where: str  # the block use, for diagnostics

    @property
    def start(self) -> int:
        return sum(self.sizes[: self.index])


def _split_shape(ctx):
    channels, *spatial = ctx.shapes[0]
    sizes = ctx.attrs.sizes
    if sum(sizes) != channels:
        ctx.fail(
            "split-channels",
            f"'split' cuts {channels} channels into {' + '.join(map(str, sizes))} = {sum(sizes)}; the parts must add "
            "up to the input's channels",
            None,
            *ctx.uses(),
            where=ctx.attrs.where,
        )
    return (sizes[ctx.attrs.index], *spatial)


def _split_onnx(ctx) -> list[OnnxNode]:
    start = ctx.attrs.start
    return [
        constant("starts", (1,), [start], "int64"),
        constant("ends", (1,), [start + ctx.attrs.sizes[ctx.attrs.index]], "int64"),
        constant("axes", (1,), [1], "int64"),
        OnnxNode("slice", "Slice", (Arg(0), Step("starts"), Step("ends"), Step("axes"))),
    ]


OPS = (
    Op(
        "dropout",
        keeps_shape=True,
        torch=lambda m: Call("nn.Dropout", (), (("p", m.attrs.p),)),
        onnx_skip=True,  # the inference graph passes its input on
    ),
    Op(
        "flatten",
        shape=lambda ctx: (math.prod(ctx.shapes[0]),),
        torch=lambda m: Call("nn.Flatten"),
        onnx=lambda ctx: [OnnxNode("flatten", "Flatten", (Arg(0),), (("axis", 1),))],
        channels="flattened",
    ),
    # A residual's `drop_path: true`: its generated DropPath is the block's own (netgen.backends.pytorch).
    Op("drop_path", keeps_shape=True, onnx_skip=True, building_block=False),
    # A block's `split:`: forward() cuts the input with one torch.split (netgen.backends.pytorch).
    Op("split", shape=_split_shape, onnx=_split_onnx, building_block=False),
)
SPEC_OPS = (
    SpecOp("dropout", DropoutArgs, lambda args, ctx: ("dropout", Dropout(ctx.number(args.p, "p"))), paper="dropout"),
    SpecOp("flatten", NoArgs, lambda args, ctx: ("flatten", NoAttrs())),
)
