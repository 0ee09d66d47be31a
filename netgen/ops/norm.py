"""Normalisation: batch norm (also a conv's `bn:`), layer norm and local response normalisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, StrictInt

from netgen.ops.base import (
    PREVIOUS,
    Arg,
    BackendGuard,
    Call,
    OnnxNode,
    Op,
    Slot,
    SpecOp,
    Step,
    Weight,
    batch_norm_slots,
    constant,
    keyword,
)
from netgen.spec.fields import MAX_KERNEL, Positive32, Strict, float32

# -- batch norm ------------------------------------------------------------------------------


class BatchNormArgs(Strict):
    """Batch normalisation (PyTorch's BatchNorm2d arguments)."""

    eps: Annotated[Positive32, Field(title="added to the variance, for numerical stability")] = 1e-5
    momentum: Annotated[
        float32(ge=0.0, le=1.0),
        Field(
            title="weight of each batch in the running statistics",
            description="a number from 0 to 1 that float32 holds (0, or 1.2e-38 and above)",
        ),
    ] = 0.1


@dataclass(frozen=True)
class BatchNorm:
    eps: float
    momentum: float


BATCH_NORM_INPUTS = (Weight("bn_weight"), Weight("bn_bias"), Weight("running_mean"), Weight("running_var"))


def batch_norm_node(eps: float, x) -> OnnxNode:
    return OnnxNode("bn", "BatchNormalization", (x, *BATCH_NORM_INPUTS), (("epsilon", float(eps)),))


def _batch_norm_module(m) -> Call:
    """nn.BatchNorm2d, or nn.BatchNorm1d over the features of a flat input (`m.flat`)."""
    a = m.attrs
    return Call(
        f"nn.BatchNorm{'1d' if m.flat else '2d'}",
        (m.in_channels,),
        keyword("eps", a.eps, 0.00001) + keyword("momentum", a.momentum, 0.1),
    )


BATCHNORM = Op(
    "batchnorm",
    keeps_shape=True,
    params=lambda attrs, in_shape: (in_shape[0], in_shape[0]),
    buffers=lambda attrs, in_shape: 2 * in_shape[0],
    slots=lambda attrs, in_shape, path, beside=None: batch_norm_slots(path, in_shape[0]),
    torch=_batch_norm_module,
    by_rank=True,
    onnx=lambda ctx: [batch_norm_node(ctx.attrs.eps, Arg(0))],
)


# -- local response normalisation --------------------------------------------------------------


class LRNArgs(Strict):
    """Local response normalisation across channels (AlexNet's, GoogLeNet's)."""

    size: Annotated[
        StrictInt,
        Field(
            ge=1,
            le=MAX_KERNEL,
            title="how many neighbouring channels",
            description=f"an integer from 1 to {MAX_KERNEL}",
        ),
    ]
    # ONNX Runtime refuses alpha or beta <= 0; k <= 0 divides by zero where a window is all zeros.
    alpha: Annotated[Positive32, Field(title="scale")] = 1e-4
    beta: Annotated[Positive32, Field(title="exponent")] = 0.75
    k: Annotated[Positive32, Field(title="additive constant")] = 1.0


@dataclass(frozen=True)
class LRN:
    size: int
    alpha: float
    beta: float
    k: float


def _lrn_onnx(ctx) -> list[OnnxNode]:
    a = ctx.attrs
    if a.size % 2 == 0:  # the export pass refuses such a spec
        raise BackendGuard(f"{ctx.name}: an even LRN size {a.size}")
    attrs = (("size", a.size), ("alpha", float(a.alpha)), ("beta", float(a.beta)), ("bias", float(a.k)))
    return [OnnxNode("lrn", "LRN", (Arg(0),), attrs)]


def _lrn_rule(attrs: LRN, in_shape) -> str | None:
    if attrs.size % 2:
        return None
    return (
        "ONNX Runtime runs only odd LRN sizes (and ONNX centres an even window one channel off from PyTorch), "
        f"got {attrs.size}; use an odd size"
    )


LRN_OP = Op(
    "lrn",
    keeps_shape=True,
    needs="map",
    needs_hint="; put it before the flatten",  # it runs across the channels of a feature map
    torch=lambda m: Call(
        "nn.LocalResponseNorm", (m.attrs.size,), (("alpha", m.attrs.alpha), ("beta", m.attrs.beta), ("k", m.attrs.k))
    ),
    onnx=_lrn_onnx,
    onnx_rule=_lrn_rule,
    onnx_rule_arg="size",
)

# -- layer norm --------------------------------------------------------------------------------


class LayerNormArgs(Strict):
    """Layer normalisation: over the channels of a feature map at each position (timm's LayerNorm2d),
    or over the features of a flat vector (nn.LayerNorm), with a learnable scale and shift."""

    eps: Annotated[Positive32, Field(title="added to the variance, for numerical stability (timm's LayerNorm2d: 1e-6)")] = 1e-5


@dataclass(frozen=True)
class LayerNorm:
    eps: float


def _layer_norm_module(m) -> Call:
    kwargs = keyword("eps", m.attrs.eps, 0.00001)
    if m.flat:
        return Call("nn.LayerNorm", (m.in_channels,), kwargs)
    return Call("LayerNorm2d", (m.in_channels,), kwargs, helper="layer_norm_2d")


def _layer_norm_onnx(ctx) -> list[OnnxNode]:
    """ONNX's LayerNormalization from opset 17 (over the last axis: a map is transposed channels-last
    and back, as timm's LayerNorm2d permutes it); below it, the mean and variance over axis 1."""
    eps = float(ctx.attrs.eps)
    is_map = len(ctx.in_shapes[0]) == 3
    scale_shift = (Weight("ln_weight"), Weight("ln_bias"))
    if ctx.opset >= 17:
        norm = ("axis", -1), ("epsilon", eps)
        if not is_map:
            return [OnnxNode("layernorm", "LayerNormalization", (Arg(0), *scale_shift), norm)]
        return [
            OnnxNode("channels_last", "Transpose", (Arg(0),), (("perm", (0, 2, 3, 1)),)),
            OnnxNode("layernorm", "LayerNormalization", (PREVIOUS, *scale_shift), norm),
            OnnxNode("channels_first", "Transpose", (PREVIOUS,), (("perm", (0, 3, 1, 2)),)),
        ]
    nodes = [
        OnnxNode("mean", "ReduceMean", (Arg(0),), (("axes", (1,)), ("keepdims", 1))),
        OnnxNode("centered", "Sub", (Arg(0), PREVIOUS)),
        OnnxNode("square", "Mul", (PREVIOUS, PREVIOUS)),
        OnnxNode("variance", "ReduceMean", (PREVIOUS,), (("axes", (1,)), ("keepdims", 1))),
        constant("eps", (1,), [eps]),
        OnnxNode("shifted", "Add", (Step("variance"), PREVIOUS)),
        OnnxNode("std", "Sqrt", (PREVIOUS,)),
        OnnxNode("normed", "Div", (Step("centered"), PREVIOUS)),
    ]
    scale, shift = scale_shift
    if is_map:  # the (C,) scale and shift over C x H x W
        nodes += [
            constant("axes", (2,), [1, 2], "int64"),
            OnnxNode("scale", "Unsqueeze", (scale, PREVIOUS)),
            OnnxNode("shift", "Unsqueeze", (shift, Step("axes"))),
        ]
        scale, shift = Step("scale"), Step("shift")
    return [*nodes, OnnxNode("scaled", "Mul", (Step("normed"), scale)), OnnxNode("layernorm", "Add", (PREVIOUS, shift))]


LAYERNORM = Op(
    "layernorm",
    keeps_shape=True,
    params=lambda attrs, in_shape: (in_shape[0], in_shape[0]),  # the scale counts as a weight, the shift as a bias
    slots=lambda attrs, in_shape, path, beside=None: [
        Slot(f"{path}.weight", (in_shape[0],), "ln_weight", 1.0),
        Slot(f"{path}.bias", (in_shape[0],), "ln_bias", 0.0),
    ],
    torch=_layer_norm_module,
    by_rank=True,
    onnx=_layer_norm_onnx,
)

OPS = (LRN_OP, BATCHNORM, LAYERNORM)
SPEC_OPS = (
    SpecOp(
        "lrn",
        LRNArgs,
        lambda args, ctx: ("lrn", LRN(args.size, args.alpha, args.beta, args.k)),
        defaultable=True,
        doc="`size`, `alpha`, `beta`, `k`",
    ),
    SpecOp(
        "batchnorm",
        BatchNormArgs,
        lambda args, ctx: ("batchnorm", BatchNorm(args.eps, args.momentum)),
        defaultable=True,
    ),
    SpecOp("layernorm", LayerNormArgs, lambda args, ctx: ("layernorm", LayerNorm(args.eps)), defaultable=True, doc="`eps`"),
)
