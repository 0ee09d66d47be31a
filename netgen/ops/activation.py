"""Activations: each one a layer of its own (`relu:`) and a value of `act:` (a conv's, a linear's,
a residual's, or an `activation` block parameter's); `none` is no activation.

Each is declared once, as generated PyTorch writes it (a module, and a function of a tensor) and
as ONNX computes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from netgen.ops.base import INPUT, PREVIOUS, Arg, Call, NoArgs, NoAttrs, OnnxNode, Op, SpecOp, Step, constant, one_of


@dataclass(frozen=True)
class Activation:
    name: str
    module: Call  # its nn module: nn.ReLU()
    function: Call  # applied to a tensor: F.relu(x)
    # ONNX nodes computing it from the value `x` at an opset; the last one gives its output
    onnx: Callable[[Any, int], list[OnnxNode]]
    inplace: Call | None = None  # in place, where nothing else reads the tensor: F.relu(x, inplace=True)
    about: str = ""


def _one(op: str, attrs=()) -> Callable[[Any, int], list[OnnxNode]]:
    """The ONNX op of that name, at every opset netgen writes."""
    return lambda x, opset: [OnnxNode(op.lower(), op, (x,), attrs)]


def _times_x(name: str, gate: Callable[[Any, int], list[OnnxNode]]) -> Callable[[Any, int], list[OnnxNode]]:
    """x * gate(x): SiLU is x * sigmoid(x), hardswish x * hardsigmoid(x)."""

    def nodes(x, opset: int) -> list[OnnxNode]:
        inner = gate(x, opset)
        return [*inner, OnnxNode(name, "Mul", (x, Step(inner[-1].name)))]

    return nodes


def _gelu(approximate: str) -> Callable[[Any, int], list[OnnxNode]]:
    """ONNX's Gelu from opset 20; below it, the formula PyTorch computes: x/2 * (1 + erf(x / sqrt(2)))
    or, tanh-approximated, x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))."""

    def nodes(x, opset: int) -> list[OnnxNode]:
        if opset >= 20:
            return [OnnxNode("gelu", "Gelu", (x,), (("approximate", approximate),) if approximate != "none" else ())]
        if approximate == "none":
            inner = [
                constant("gelu_rsqrt2", (1,), [1 / math.sqrt(2)]),
                OnnxNode("gelu_scaled", "Mul", (x, PREVIOUS)),
                OnnxNode("gelu_erf", "Erf", (PREVIOUS,)),
            ]
        else:
            inner = [
                OnnxNode("gelu_square", "Mul", (x, x)),
                OnnxNode("gelu_cube", "Mul", (PREVIOUS, x)),
                constant("gelu_k", (1,), [0.044715]),
                OnnxNode("gelu_cube_k", "Mul", (Step("gelu_cube"), PREVIOUS)),
                OnnxNode("gelu_inner", "Add", (x, PREVIOUS)),
                constant("gelu_sqrt_2_pi", (1,), [math.sqrt(2 / math.pi)]),
                OnnxNode("gelu_scaled", "Mul", (Step("gelu_inner"), PREVIOUS)),
                OnnxNode("gelu_erf", "Tanh", (PREVIOUS,)),
            ]
        return [
            *inner,
            constant("gelu_one", (1,), [1.0]),
            OnnxNode("gelu_sum", "Add", (Step("gelu_erf"), PREVIOUS)),
            constant("gelu_half", (1,), [0.5]),
            OnnxNode("gelu_half_x", "Mul", (x, PREVIOUS)),
            OnnxNode("gelu", "Mul", (PREVIOUS, Step("gelu_sum"))),
        ]

    return nodes


def _relu6(x, opset: int) -> list[OnnxNode]:
    # Clip's bounds are inputs since opset 11, scalars.
    return [
        OnnxNode("relu6_min", "Constant", (), (("value_float", 0.0),)),
        OnnxNode("relu6_max", "Constant", (), (("value_float", 6.0),)),
        OnnxNode("relu6", "Clip", (x, Step("relu6_min"), Step("relu6_max"))),
    ]


# PyTorch's hardsigmoid is relu6(x + 3) / 6: ONNX's HardSigmoid with alpha 1/6 and beta 1/2.
_HARDSIGMOID = (("alpha", 1 / 6), ("beta", 0.5))


def _hardswish(x, opset: int) -> list[OnnxNode]:
    if opset >= 14:
        return [OnnxNode("hardswish", "HardSwish", (x,))]
    return _times_x("hardswish", _one("HardSigmoid", _HARDSIGMOID))(x, opset)


ACTIVATION_LIST = (
    Activation(
        "relu",
        Call("nn.ReLU"),
        Call("F.relu", (INPUT,)),
        _one("Relu"),
        inplace=Call("F.relu", (INPUT,), (("inplace", True),)),
        about="max(x, 0)",
    ),
    Activation("relu6", Call("nn.ReLU6"), Call("F.relu6", (INPUT,)), _relu6, about="min(max(x, 0), 6)"),
    Activation("gelu", Call("nn.GELU"), Call("F.gelu", (INPUT,)), _gelu("none"), about="x * Phi(x), with erf"),
    Activation(
        "gelu_tanh",
        Call("nn.GELU", (), (("approximate", "tanh"),)),
        Call("F.gelu", (INPUT,), (("approximate", "tanh"),)),
        _gelu("tanh"),
        about="GELU with its tanh approximation",
    ),
    # ONNX's Swish (opset 24) has no kernel in ONNX Runtime 1.32 at opset 28: x * sigmoid(x) at every opset.
    Activation("silu", Call("nn.SiLU"), Call("F.silu", (INPUT,)), _times_x("silu", _one("Sigmoid")), about="x * sigmoid(x)"),
    Activation("sigmoid", Call("nn.Sigmoid"), Call("torch.sigmoid", (INPUT,)), _one("Sigmoid"), about="1 / (1 + exp(-x))"),
    Activation("hardswish", Call("nn.Hardswish"), Call("F.hardswish", (INPUT,)), _hardswish, about="x * hardsigmoid(x)"),
    Activation(
        "hardsigmoid",
        Call("nn.Hardsigmoid"),
        Call("F.hardsigmoid", (INPUT,)),
        _one("HardSigmoid", _HARDSIGMOID),
        about="relu6(x + 3) / 6",
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
