"""Normalisation: batch norm (also a conv's `bn:`) and local response normalisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, StrictInt

from netgen.ops.base import Arg, BackendGuard, Call, OnnxNode, Op, SpecOp, Weight, batch_norm_slots, keyword
from netgen.spec.fields import MAX_KERNEL, Finite, Positive32, Strict

# -- batch norm ------------------------------------------------------------------------------


class BatchNormArgs(Strict):
    """Batch normalisation (PyTorch's BatchNorm2d arguments)."""

    eps: Annotated[Positive32, Field(title="added to the variance, for numerical stability")] = 1e-5
    momentum: Annotated[
        Finite,
        Field(
            ge=0.0, le=1.0, title="weight of each batch in the running statistics", description="a number from 0 to 1"
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
    slots=lambda attrs, in_shape, path: batch_norm_slots(path, in_shape[0]),
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

OPS = (LRN_OP, BATCHNORM)
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
)
