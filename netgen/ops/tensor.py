"""Ops that move values without learning anything: dropout and flatten."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from netgen.ops.base import Arg, Call, NoArgs, NoAttrs, OnnxNode, Op, SpecOp
from netgen.spec.fields import Probability, Strict


class DropoutArgs(Strict):
    """Dropout, in training only."""

    p: Annotated[Probability, Field(title="the share of values zeroed")]


@dataclass(frozen=True)
class Dropout:
    p: float


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
)
SPEC_OPS = (
    SpecOp("dropout", DropoutArgs, lambda args, ctx: ("dropout", Dropout(args.p)), paper="dropout"),
    SpecOp("flatten", NoArgs, lambda args, ctx: ("flatten", NoAttrs())),
)
