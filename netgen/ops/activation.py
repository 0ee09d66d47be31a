"""Activations: each one a layer of its own (`relu:`) and a value of `act:` (a conv's, a linear's,
a residual's, or an `activation` block parameter's); `none` is no activation.

Each is declared once, as generated PyTorch writes it (a module, and a function of a tensor) and
as ONNX computes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from netgen.ops.base import INPUT, Arg, Call, NoArgs, NoAttrs, OnnxNode, Op, SpecOp, one_of


@dataclass(frozen=True)
class Activation:
    name: str
    module: Call  # its nn module: nn.ReLU()
    function: Call  # applied to a tensor: F.relu(x)
    # ONNX nodes computing it from the value `x` at an opset; the last one gives its output
    onnx: Callable[[Any, int], list[OnnxNode]]
    inplace: Call | None = None  # in place, where nothing else reads the tensor: F.relu(x, inplace=True)
    about: str = ""


ACTIVATION_LIST = (
    Activation(
        "relu",
        Call("nn.ReLU"),
        Call("F.relu", (INPUT,)),
        lambda x, opset: [OnnxNode("relu", "Relu", (x,))],
        inplace=Call("F.relu", (INPUT,), (("inplace", True),)),
        about="max(x, 0)",
    ),
)
ACTIVATIONS: dict[str, Activation] = {act.name: act for act in ACTIVATION_LIST}
NONE = "none"
ACTIVATION_NAMES = (*ACTIVATIONS, NONE)  # what `act:` takes

ActivationName = Annotated[
    Literal[ACTIVATION_NAMES],  # type: ignore[valid-type]
    Field(description=one_of(ACTIVATION_NAMES)),
]


def _op(act: Activation) -> Op:
    return Op(
        act.name,
        keeps_shape=True,
        torch=lambda m, act=act: act.module,
        onnx=lambda ctx, act=act: act.onnx(Arg(0), ctx.opset),
    )


OPS = tuple(_op(act) for act in ACTIVATION_LIST)
SPEC_OPS = tuple(
    SpecOp(act.name, NoArgs, lambda args, ctx, kind=act.name: (kind, NoAttrs()), doc=act.about)
    for act in ACTIVATION_LIST
)
