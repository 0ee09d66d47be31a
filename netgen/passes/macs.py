"""Count multiply-adds: one multiply-add counts 1, convolutions and linear layers only (as Table 1's ops)."""

from __future__ import annotations

import math

from netgen.diagnostics import Diagnostic
from netgen.ir.graph import Graph
from netgen.ir.ops import OpKind
from netgen.spec.model import Spec

CONVENTION = "multiply-adds of conv and linear layers, one multiply-add counted once"


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    for node in graph.nodes():
        node.macs = 0
        if node.kind is OpKind.CONV:
            (in_channels, *_), (kh, kw) = graph[graph.inputs(node.name)[0]].shape, node.attrs.kernel
            node.macs = math.prod(node.shape) * (in_channels // node.attrs.groups) * kh * kw
        elif node.kind is OpKind.LINEAR:
            node.macs = node.weights
    return []
