"""Channel shuffle (ShuffleNet): the channels, in `groups` groups, interleaved so that the next
grouped convolution mixes them: nn.ChannelShuffle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, StrictInt

from netgen.ops.base import PREVIOUS, Arg, Call, OnnxNode, Op, SpecOp, constant
from netgen.spec.fields import MAX_CHANNELS, Strict, Symbol, Takes


class ChannelShuffleArgs(Strict):
    """Channel shuffle: channels in groups, interleaved (ShuffleNet's)."""

    groups: Annotated[
        Annotated[StrictInt, Field(ge=1, le=MAX_CHANNELS)] | Symbol,
        Takes(("int",)),
        Field(title="how many groups the channels form", description="a positive integer that divides the channels, or an int parameter"),
    ]


@dataclass(frozen=True)
class ChannelShuffle:
    groups: int


def _shape(ctx):
    channels = ctx.shapes[0][0]
    if channels % ctx.attrs.groups:
        ctx.fail("bad-groups", f"{ctx.attrs.groups} groups do not divide {channels} channels", "groups")
    return ctx.shapes[0]


def _onnx(ctx) -> list[OnnxNode]:
    """A Gather along the channels: output channel a * g + b is input channel b * (C / g) + a."""
    channels, groups = ctx.in_shapes[0][0], ctx.attrs.groups
    order = [(j % groups) * (channels // groups) + j // groups for j in range(channels)]
    return [constant("order", (channels,), order, "int64"), OnnxNode("shuffle", "Gather", (Arg(0), PREVIOUS), (("axis", 1),))]


OPS = (
    Op(
        "channel_shuffle",
        shape=_shape,
        needs="map",
        torch=lambda m: Call("nn.ChannelShuffle", (m.attrs.groups,)),
        onnx=_onnx,
    ),
)
SPEC_OPS = (
    SpecOp(
        "channel_shuffle",
        ChannelShuffleArgs,
        lambda args, ctx: ("channel_shuffle", ChannelShuffle(ctx.integer(args.groups, "groups"))),
        doc="`groups`",
    ),
)
