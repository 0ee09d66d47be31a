"""Pooling: max and average over a window, and adaptive average pooling to a fixed size
(`global_avgpool` is adaptive pooling to 1x1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from netgen.ops.base import (
    Arg,
    BackendGuard,
    Call,
    NoArgs,
    OnnxNode,
    Op,
    Pair,
    Size,
    SpecOp,
    choose,
    keyword,
    one_of,
    pair,
)
from netgen.ops.window import padding, spatial
from netgen.spec.fields import Flag, Pad, Size2, SizeParam, Strict, Symbol, Takes


class PoolArgs(Strict):
    """Max pooling over a window."""

    kernel: Annotated[SizeParam, Field(title="window size")]
    stride: Annotated[
        SizeParam | None,
        Field(title="stride", description="an integer from 1 to 1024, an int parameter, or a pair [h, w] of them (default: the kernel)"),
    ] = None
    pad: Annotated[Pad, Field(title="padding on each side")] = 0
    ceil: Annotated[Flag, Field(title="round the output size up (Caffe's rounding) instead of down")] = False


class AvgPoolArgs(PoolArgs):
    """Average pooling over a window."""

    count_include_pad: Annotated[Flag, Field(title="whether padded zeros count in the average")] = True


POOL_TYPES = ("max", "avg")


class AnyPoolArgs(AvgPoolArgs):
    """Max or average pooling over a window, as its `type` says: a word or a `pool` block parameter."""

    type: Annotated[
        Literal[POOL_TYPES] | Symbol,  # type: ignore[valid-type]
        Takes(("pool",)),
        Field(title="max or average pooling", description=f"{one_of(POOL_TYPES)} or a pool parameter"),
    ]


class AdaptiveAvgPoolArgs(Strict):
    """Average pooling to a fixed output size, whatever the input size."""

    out: Annotated[Size2, Field(title="output size")]


@dataclass(frozen=True)
class Pool:
    kernel: Pair
    stride: Pair
    pad: Pair
    ceil: bool
    count_include_pad: bool = True


@dataclass(frozen=True)
class AdaptiveAvgPool:
    out: Pair


def _resolve_pool(kind: str | None):
    """maxpool, avgpool, or (kind None) `pool`, whose `type` picks the kind."""

    def resolve(args, ctx) -> tuple[str, Pool]:
        kernel = ctx.size(args.kernel, "kernel")
        chosen = kind or choose(ctx.word(args.type, "type", "pool"), {"max": "maxpool", "avg": "avgpool"})
        return chosen, Pool(
            kernel=kernel,
            stride=ctx.size(args.stride, "stride") if args.stride is not None else kernel,
            pad=padding(ctx, args.pad, kernel),
            ceil=args.ceil,
            count_include_pad=getattr(args, "count_include_pad", True),
        )

    return resolve


def _pool_shape(ctx):
    a = ctx.attrs
    for k, p in zip(a.kernel, a.pad, strict=True):
        if 2 * p > k:
            ctx.fail("pool-pad", f"pooling pad {p} is more than half the kernel {k}; at most {k // 2}", "pad")
    return (ctx.shapes[0][0], *spatial(ctx, a.kernel, a.stride, a.pad, ceil=a.ceil))


# Before opset 22, ONNX's pools round a ceil_mode output up without PyTorch's rule that the last
# window must start inside the input or its left padding: its shape inference gives one more row
# or column than ONNX Runtime computes, and than the IR has.
CEIL_AS_PYTORCH_OPSET = 22


def _older_rounding_rule(a: Pool, in_shape, out_shape, opset: int) -> str | None:
    if opset >= CEIL_AS_PYTORCH_OPSET or not a.ceil:
        return None
    older = tuple(
        -(-(size + 2 * pad - kernel) // stride) + 1
        for size, kernel, stride, pad in zip(in_shape[1:], a.kernel, a.stride, a.pad, strict=True)
    )
    if older == tuple(out_shape[1:]):
        return None
    return (
        f"at opset {opset} ONNX rounds this pool's output up to {older[0]}x{older[1]}, where PyTorch "
        f"(and ONNX from opset {CEIL_AS_PYTORCH_OPSET}) gives {out_shape[1]}x{out_shape[2]}: its last window "
        f"would start in the padding; build with --opset {CEIL_AS_PYTORCH_OPSET} or later, or give the pool ceil: false"
    )


def _window_pool(kind: str, module: str, onnx_op: str) -> Op:
    """Max or average pooling: nn.MaxPool2d / nn.AvgPool2d, ONNX's MaxPool / AveragePool."""

    def torch(m) -> Call:
        a = m.attrs
        kwargs = [("stride", Size(a.stride))]
        if a.pad != (0, 0):
            kwargs.append(("padding", Size(a.pad)))
        kwargs += keyword("ceil_mode", a.ceil, False)
        if kind == "avgpool":
            kwargs += keyword("count_include_pad", a.count_include_pad, True)
        return Call(module, (Size(a.kernel),), tuple(kwargs))

    def onnx(ctx) -> list[OnnxNode]:
        a = ctx.attrs
        attrs = [("kernel_shape", a.kernel), ("strides", a.stride), ("pads", (*a.pad, *a.pad)), ("ceil_mode", a.ceil)]
        if kind == "avgpool":  # set explicitly: ONNX's default (0) is the opposite of PyTorch's (True)
            attrs.append(("count_include_pad", a.count_include_pad))
        return [OnnxNode(kind, onnx_op, (Arg(0),), tuple(attrs))]

    return Op(
        kind,
        shape=_pool_shape,
        needs="map",
        depth="pooling",
        torch=torch,
        onnx=onnx,
        onnx_opset_rule=_older_rounding_rule,
        patch=lambda a: (a.kernel, a.stride),
    )


def _adaptive_shape(ctx):
    return (ctx.shapes[0][0], *ctx.attrs.out)


def _adaptive_onnx(ctx) -> list[OnnxNode]:
    out_h, out_w = ctx.attrs.out
    if (out_h, out_w) == (1, 1):
        return [OnnxNode("avgpool", "GlobalAveragePool", (Arg(0),))]
    _, height, width = ctx.in_shapes[0]
    if height % out_h or width % out_w:  # the export pass refuses such a spec
        raise BackendGuard(f"{ctx.name}: adaptive pooling {height}x{width} to {out_h}x{out_w} has unequal windows")
    # Equal windows: a plain average pool with kernel = stride = input / output.
    kernel = (height // out_h, width // out_w)
    return [OnnxNode("avgpool", "AveragePool", (Arg(0),), (("kernel_shape", kernel), ("strides", kernel)))]


def _adaptive_rule(a: AdaptiveAvgPool, in_shape) -> str | None:
    _, height, width = in_shape
    out_h, out_w = a.out
    if a.out == (1, 1) or not (height % out_h or width % out_w):
        return None
    return (
        f"adaptive average pooling from {height}x{width} to {out_h}x{out_w} has windows of different sizes, "
        "which ONNX cannot express; make the input a multiple of the output"
    )


OPS = (
    _window_pool("maxpool", "nn.MaxPool2d", "MaxPool"),
    _window_pool("avgpool", "nn.AvgPool2d", "AveragePool"),
    Op(
        "adaptive_avgpool",
        shape=_adaptive_shape,
        needs="map",
        depth="pooling",
        torch=lambda m: Call("nn.AdaptiveAvgPool2d", (m.attrs.out,)),
        onnx=_adaptive_onnx,
        onnx_rule=_adaptive_rule,
        onnx_rule_arg="out",
    ),
)
SPEC_OPS = (
    SpecOp("maxpool", PoolArgs, _resolve_pool("maxpool"), defaultable=True, paper="max pool"),
    SpecOp("avgpool", AvgPoolArgs, _resolve_pool("avgpool"), defaultable=True, paper="avg pool"),
    SpecOp("pool", AnyPoolArgs, _resolve_pool(None), kind="maxpool", paper="pool"),
    SpecOp(
        "adaptive_avgpool",
        AdaptiveAvgPoolArgs,
        lambda args, ctx: ("adaptive_avgpool", AdaptiveAvgPool(pair(args.out))),
        paper="avg pool",
    ),
    SpecOp(
        "global_avgpool",
        NoArgs,
        lambda args, ctx: ("adaptive_avgpool", AdaptiveAvgPool((1, 1))),
        kind="adaptive_avgpool",
        paper="avg pool",
    ),
)
