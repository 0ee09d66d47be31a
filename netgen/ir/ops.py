"""The op kinds the IR knows: one per op declared in netgen.ops, the network's input, and (before
the expand pass replaces them) block uses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from netgen.ops import OPS, SPEC_OPS
from netgen.ops.base import NoAttrs
from netgen.ops.merge import Merge

OpKind = StrEnum("OpKind", {"INPUT": "input", "BLOCK": "block", **{kind.upper(): kind for kind in OPS}})

__all__ = ["OpKind", "Input", "Merge", "NoAttrs", "kind_for_op", "WEIGHTED", "POOLING", "SHAPE_PRESERVING"]


def kind_for_op(op: str) -> OpKind:
    """The IR kind a spec op resolves to (`global_avgpool` is adaptive pooling to 1x1)."""
    return OpKind(SPEC_OPS[op].ir_kind)


# Layers with weights, which make up the paper's depth ("22 layers deep").
WEIGHTED = frozenset(OpKind(kind) for kind, op in OPS.items() if op.depth == "weighted")
# Pooling layers, which the paper adds to reach "27 layers if we also count pooling".
POOLING = frozenset(OpKind(kind) for kind, op in OPS.items() if op.depth == "pooling")
# Ops that keep their input's shape.
SHAPE_PRESERVING = frozenset(OpKind(kind) for kind, op in OPS.items() if op.keeps_shape)


@dataclass(frozen=True)
class Input:
    shape: tuple[int, int, int]
