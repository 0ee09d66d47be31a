"""The 2-D convolution: grouped and depthwise (`groups`), with square or band (1xk, kx1) kernels,
optionally followed by batch norm and an activation, as one BasicConv2d unit (torchvision's) or,
`bare`, as a lone nn.Conv2d."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, StrictBool

from netgen.ops.activation import ACTIVATIONS, NONE, ActivationName
from netgen.ops.base import PREVIOUS, Arg, Call, OnnxNode, Op, Pair, Size, Slot, SpecOp, Step, Weight, batch_norm_slots
from netgen.ops.norm import BatchNormArgs, batch_norm_node
from netgen.ops.window import padding, spatial
from netgen.spec.fields import Channels, Flag, Groups, Pad, SizeParam, Strict


class ConvArgs(Strict):
    """A 2-D convolution, optionally followed by batch norm and a ReLU (a BasicConv2d unit)."""

    out: Annotated[Channels, Field(title="output channels")]
    kernel: Annotated[SizeParam, Field(title="kernel size")]
    stride: Annotated[SizeParam, Field(title="stride")] = 1
    pad: Annotated[Pad, Field(title="zero padding on each side; 'same' keeps the size at stride 1")] = 0
    groups: Annotated[
        Groups, Field(title="grouped convolution: input and output channels split into this many groups")
    ] = 1
    bias: Annotated[Flag, Field(title="whether the convolution adds a bias")] = True
    bn: Annotated[
        StrictBool | BatchNormArgs,
        Field(title="batch norm after the convolution", description="true, false or {eps: ..., momentum: ...}"),
    ] = False
    act: Annotated[ActivationName, Field(title="the activation after it")] = "none"
    # A plain nn.Conv2d attribute (keys <name>.weight, <name>.bias) rather than a BasicConv2d unit;
    # its batch norm, if any, is the attribute beside it, <name>_bn (Caffe's layout).
    bare: Annotated[
        Flag,
        Field(title="a plain nn.Conv2d attribute instead of a BasicConv2d unit; its batch norm is the attribute <name>_bn beside it, its activation applied in forward()"),
    ] = False


@dataclass(frozen=True)
class Conv:
    out: int
    kernel: Pair
    stride: Pair
    pad: Pair
    groups: int
    bias: bool
    bn_eps: float | None  # batch norm after the convolution, when set
    bn_momentum: float
    act: str  # the activation after it: relu, gelu, ..., none
    # A plain nn.Conv2d, not a BasicConv2d unit; its batch norm is the attribute `<name>_bn` beside it.
    bare: bool = False


def _resolve(args: ConvArgs, ctx) -> tuple[str, Conv]:
    kernel = ctx.size(args.kernel, "kernel")
    bn = BatchNormArgs() if args.bn is True else args.bn
    return "conv", Conv(
        bare=args.bare,
        out=ctx.channels(args.out, "out"),
        kernel=kernel,
        stride=ctx.size(args.stride, "stride"),
        pad=padding(ctx, args.pad, kernel),
        groups=ctx.channels(args.groups, "groups", scaled=False, types=("channels", "int")),
        bias=args.bias,
        bn_eps=bn.eps if bn else None,
        bn_momentum=bn.momentum if bn else 0.1,
        act=args.act,
    )


def _shape(ctx):
    a = ctx.attrs
    channels = ctx.shapes[0][0]
    if channels % a.groups or a.out % a.groups:
        ctx.fail(
            "bad-groups",
            f"groups {a.groups} must divide both the input channels ({channels}) and 'out' ({a.out})",
            "groups",
        )
    return (a.out, *spatial(ctx, a.kernel, a.stride, a.pad, ceil=False))


def _params(a: Conv, in_shape) -> tuple[int, int]:
    weights = a.out * (in_shape[0] // a.groups) * a.kernel[0] * a.kernel[1]
    biases = a.out if a.bias else 0
    if a.bn_eps is not None:  # batch norm's scale counts as a weight, its shift as a bias
        return weights + a.out, biases + a.out
    return weights, biases


def _macs(a: Conv, in_shape, out_shape) -> int:
    """Each output value takes (in_channels / groups) * kh * kw multiply-adds: a depthwise
    convolution (groups = channels) kh * kw."""
    return math.prod(out_shape) * (in_shape[0] // a.groups) * a.kernel[0] * a.kernel[1]


def _slots(a: Conv, in_shape, path: str, beside: str | None = None) -> list[Slot]:
    """A BasicConv2d unit's `conv` and `bn`, or a bare nn.Conv2d's own, its batch norm `beside` it."""
    conv = path if a.bare else f"{path}.conv"
    out = [Slot(f"{conv}.weight", (a.out, in_shape[0] // a.groups, *a.kernel), "weight")]
    if a.bias:
        out.append(Slot(f"{conv}.bias", (a.out,), "bias"))
    if a.bn_eps is not None:
        if a.bare and beside is None:
            raise AssertionError(f"{path}: a bare conv with batch norm has no place for it")
        out += batch_norm_slots(beside if a.bare else f"{path}.bn", a.out)
    return out


def _module(m) -> Call:
    """nn.Conv2d(in, out, kernel_size=...) for a bare conv, else the file's BasicConv2d unit, with
    the options (`m.conv_options`) in which it differs from the unit's defaults."""
    a = m.attrs
    kwargs = [("kernel_size", Size(a.kernel))]
    if a.stride != (1, 1):
        kwargs.append(("stride", Size(a.stride)))
    if a.pad != (0, 0):
        kwargs.append(("padding", Size(a.pad)))
    if a.groups != 1:
        kwargs.append(("groups", a.groups))
    if a.bare:
        if not a.bias:
            kwargs.append(("bias", False))
        return Call("nn.Conv2d", (m.in_channels, m.out), tuple(kwargs))
    return Call("BasicConv2d", (m.in_channels, m.out), (*kwargs, *m.conv_options))


def _onnx(ctx) -> list[OnnxNode]:
    a = ctx.attrs
    attrs = [("kernel_shape", a.kernel), ("strides", a.stride), ("pads", (*a.pad, *a.pad))]
    if a.groups != 1:
        attrs.append(("group", a.groups))
    bias = (Weight("bias"),) if "bias" in ctx.roles else ()
    nodes = [OnnxNode("conv", "Conv", (Arg(0), Weight("weight"), *bias), tuple(attrs))]
    if a.bn_eps is not None:
        nodes.append(batch_norm_node(a.bn_eps, PREVIOUS))
    if a.act != NONE:
        nodes += ACTIVATIONS[a.act].onnx(Step(nodes[-1].name), ctx.opset)
    return nodes


OPS = (
    Op(
        "conv",
        shape=_shape,
        needs="map",
        params=_params,
        buffers=lambda a, in_shape: 2 * a.out if a.bn_eps is not None else 0,
        macs=_macs,
        depth="weighted",
        slots=_slots,
        torch=_module,
        # A bare conv's activation is applied in forward(), after its batch norm if it has one.
        torch_after=lambda a: None if not a.bare or a.act == NONE else ACTIVATIONS[a.act].inplace or ACTIVATIONS[a.act].function,
        onnx=_onnx,
        patch=lambda a: (a.kernel, a.stride),
        channels="out",
    ),
)
SPEC_OPS = (SpecOp("conv", ConvArgs, _resolve, defaultable=True, paper="convolution"),)
