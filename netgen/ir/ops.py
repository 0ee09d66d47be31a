"""The closed set of op kinds the IR knows, and their resolved attributes (plain integers, no symbols)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OpKind(StrEnum):
    INPUT = "input"
    BLOCK = "block"  # a block use before the expand pass replaces it with primitive nodes
    CONV = "conv"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    ADAPTIVE_AVGPOOL = "adaptive_avgpool"
    LRN = "lrn"
    BATCHNORM = "batchnorm"
    RELU = "relu"
    DROPOUT = "dropout"
    FLATTEN = "flatten"
    LINEAR = "linear"
    SOFTMAX = "softmax"
    CONCAT = "concat"
    ADD = "add"


def kind_for_op(op: str) -> OpKind:
    """The IR kind of a spec op; `global_avgpool` is adaptive pooling to 1x1."""
    return OpKind.ADAPTIVE_AVGPOOL if op == "global_avgpool" else OpKind(op)


# Layers with weights, which make up the paper's depth ("22 layers deep").
WEIGHTED = frozenset({OpKind.CONV, OpKind.LINEAR})
# Pooling layers, which the paper adds to reach "27 layers if we also count pooling".
POOLING = frozenset({OpKind.MAXPOOL, OpKind.AVGPOOL, OpKind.ADAPTIVE_AVGPOOL})
# Ops that keep their input's shape.
SHAPE_PRESERVING = frozenset({OpKind.LRN, OpKind.BATCHNORM, OpKind.RELU, OpKind.DROPOUT, OpKind.SOFTMAX})

Pair = tuple[int, int]


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
    relu: bool
    # A plain nn.Conv2d, not a BasicConv2d unit; its batch norm is the attribute `<name>_bn` beside it.
    bare: bool = False


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


@dataclass(frozen=True)
class LRN:
    size: int
    alpha: float
    beta: float
    k: float


@dataclass(frozen=True)
class BatchNorm:
    eps: float
    momentum: float


@dataclass(frozen=True)
class Dropout:
    p: float


@dataclass(frozen=True)
class Linear:
    out: int
    bias: bool
    relu: bool


@dataclass(frozen=True)
class Input:
    shape: tuple[int, int, int]


@dataclass(frozen=True)
class Merge:
    """concat or add. A residual add reads (the block's input, its body) and scales the body:
    input + scale * body."""

    scale: float | None = None  # set on a residual add
    labels: tuple[str, ...] = ()  # how the user knows each input, for diagnostics; empty: by layer name


@dataclass(frozen=True)
class NoAttrs:
    pass
