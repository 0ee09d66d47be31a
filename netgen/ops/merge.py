"""Merges of several inputs: `concat` along channels, `add` and `mul` (elementwise; a 1x1 map, such
as a squeeze-and-excitation gate, broadcast over the others), written with `from: [a, b]` or as
branches (a block's body, or a layer of a block). A block's `residual:` is an add too, of the
block's input and its scaled body."""

from __future__ import annotations

from dataclasses import dataclass

from netgen.ops.base import ARGS, PREVIOUS, Arg, NoArgs, OnnxNode, Op, SpecOp, constant


@dataclass(frozen=True)
class Merge:
    """concat or add. A residual add reads (the block's input, its body) and scales the body:
    input + scale * body."""

    scale: float | None = None  # set on a residual add
    labels: tuple[str, ...] = ()  # how the user knows each input, for diagnostics; empty: by layer name


def _add_onnx(ctx) -> list[OnnxNode]:
    scale = ctx.attrs.scale
    if scale is not None and scale != 1.0:
        # A residual: input + scale * body, the scale a constant of its own.
        return [
            constant("scale", (1,), [scale]),
            OnnxNode("scaled", "Mul", (PREVIOUS, Arg(1))),
            OnnxNode("add", "Add", (PREVIOUS, Arg(0))),
        ]
    return [OnnxNode("add", "Add" if len(ctx.in_shapes) == 2 else "Sum", (ARGS,))]


def _mul_onnx(ctx) -> list[OnnxNode]:
    """The elementwise product, ONNX's Mul broadcasting a 1x1 map as PyTorch does; Mul takes two inputs."""
    nodes = [OnnxNode("mul", "Mul", (Arg(0), Arg(1)))]
    for index in range(2, len(ctx.in_shapes)):
        nodes.append(OnnxNode(f"mul{index}", "Mul", (PREVIOUS, Arg(index))))
    return nodes


OPS = (
    Op(
        "concat",
        combines="sum",
        building_block=False,
        onnx=lambda ctx: [OnnxNode("concat", "Concat", (ARGS,), (("axis", 1),))],
    ),
    Op("add", combines="equal", onnx=_add_onnx),
    Op("mul", combines="broadcast", onnx=_mul_onnx),
)
SPEC_OPS = (
    SpecOp("concat", NoArgs, lambda args, ctx: ("concat", Merge()), several_inputs=True),
    SpecOp("add", NoArgs, lambda args, ctx: ("add", Merge()), several_inputs=True),
    SpecOp("mul", NoArgs, lambda args, ctx: ("mul", Merge()), several_inputs=True),
)
