"""The classifier's ops: the fully connected layer and the softmax over its outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from netgen.ops.activation import ACTIVATIONS, NONE, ActivationName
from netgen.ops.base import Arg, Call, NoArgs, NoAttrs, OnnxNode, Op, Slot, SpecOp, Step, Weight
from netgen.spec.fields import Channels, Flag, Strict


class LinearArgs(Strict):
    """A fully connected layer; it needs a flatten before it."""

    out: Annotated[Channels, Field(title="output features (not scaled by width)")]
    bias: Annotated[Flag, Field(title="whether it adds a bias")] = True
    act: Annotated[ActivationName, Field(title="the activation after it")] = "none"


@dataclass(frozen=True)
class Linear:
    out: int
    bias: bool
    act: str  # the activation forward() applies to its output: relu, gelu, ..., none


def _resolve(args: LinearArgs, ctx) -> tuple[str, Linear]:
    return "linear", Linear(out=ctx.channels(args.out, "out", scaled=False), bias=args.bias, act=args.act)


def _slots(a: Linear, in_shape, path: str, beside: str | None = None) -> list[Slot]:
    out = [Slot(f"{path}.weight", (a.out, in_shape[0]), "weight")]
    if a.bias:
        out.append(Slot(f"{path}.bias", (a.out,), "bias"))
    return out


def _onnx(ctx) -> list[OnnxNode]:
    bias = (Weight("bias"),) if "bias" in ctx.roles else ()
    nodes = [OnnxNode("gemm", "Gemm", (Arg(0), Weight("weight"), *bias), (("transB", 1),))]
    if ctx.attrs.act != NONE:
        nodes += ACTIVATIONS[ctx.attrs.act].onnx(Step("gemm"), ctx.opset)
    return nodes


OPS = (
    Op(
        "linear",
        shape=lambda ctx: (ctx.attrs.out,),
        needs="flat",
        needs_hint="; add a flatten layer before it",
        params=lambda a, in_shape: (in_shape[0] * a.out, a.out if a.bias else 0),
        macs=lambda a, in_shape, out_shape: in_shape[0] * a.out,
        depth="weighted",
        slots=_slots,
        torch=lambda m: Call("nn.Linear", (m.in_channels, m.out), () if m.attrs.bias else (("bias", False),)),
        # The activation is applied in forward(), on the bare layer's output (a ReLU in place).
        torch_after=lambda a: None if a.act == NONE else ACTIVATIONS[a.act].inplace or ACTIVATIONS[a.act].function,
        onnx=_onnx,
        channels="out_unscaled",
    ),
    Op(
        "softmax",
        keeps_shape=True,
        torch=lambda m: Call("nn.Softmax", (), (("dim", 1),)),
        onnx=lambda ctx: [OnnxNode("softmax", "Softmax", (Arg(0),), (("axis", 1),))],
    ),
)
SPEC_OPS = (
    SpecOp("linear", LinearArgs, _resolve, defaultable=True, paper="linear"),
    SpecOp("softmax", NoArgs, lambda args, ctx: ("softmax", NoAttrs()), paper="softmax"),
)
