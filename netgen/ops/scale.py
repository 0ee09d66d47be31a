"""Layer scale: a learnable per-channel factor (timm's `gamma`), an nn.Parameter of the module that
holds it, named like the layer: `gamma: {layer_scale: {init: 1.0e-6}}` in a block's layers gives
the block's own `gamma`, as timm's MetaNeXtBlock has it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from netgen.ops.base import INPUT, SELF, Arg, Call, OnnxNode, Op, Product, Slot, SpecOp, Step, Weight, constant
from netgen.spec.fields import Number32, Strict, Symbol, Takes


class LayerScaleArgs(Strict):
    """A learnable scale per channel (layer scale): an nn.Parameter named like the layer."""

    init: Annotated[
        Number32 | Symbol,
        Takes(("float",)),
        Field(title="the value every scale starts at (timm's ls_init_value)", description="a number that float32 holds (0, or 1.2e-38 to 3.4e38 either side of 0), or a float parameter"),
    ] = 1e-5


@dataclass(frozen=True)
class LayerScale:
    init: float


def _apply(m) -> Call:
    """x.mul(self.gamma.reshape(1, -1, 1, 1)) over a feature map, as timm writes it; x * self.gamma over features."""
    if m.flat:
        return Call("mul", (SELF,), on=INPUT)
    return Call("mul", (Call("reshape", (1, -1, 1, 1), on=SELF),), on=INPUT)


def _onnx(ctx) -> list[OnnxNode]:
    if len(ctx.in_shapes[0]) == 1:
        return [OnnxNode("mul", "Mul", (Arg(0), Weight("gamma")))]
    return [
        constant("axes", (2,), [1, 2], "int64"),
        OnnxNode("scale", "Unsqueeze", (Weight("gamma"), Step("axes"))),  # C x 1 x 1
        OnnxNode("mul", "Mul", (Arg(0), Step("scale"))),
    ]


OPS = (
    Op(
        "layer_scale",
        keeps_shape=True,
        params=lambda a, in_shape: (in_shape[0], 0),  # a scale, counted as a weight
        slots=lambda a, in_shape, path, beside=None: [Slot(path, (in_shape[0],), "gamma", a.init)],
        torch=lambda m: Call("nn.Parameter", (Product(m.attrs.init, Call("torch.ones", (m.in_channels,))),)),
        torch_apply=_apply,
        parameter=True,
        by_rank=True,
        onnx=_onnx,
    ),
)
SPEC_OPS = (
    SpecOp(
        "layer_scale",
        LayerScaleArgs,
        lambda args, ctx: ("layer_scale", LayerScale(ctx.number(args.init, "init"))),
        doc="`init`",
    ),
)
