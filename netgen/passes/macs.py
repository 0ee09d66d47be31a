"""Count multiply-adds: one multiply-add counts 1, convolutions and linear layers only (as Table 1's ops)."""

from __future__ import annotations

from netgen.diagnostics import Diagnostic
from netgen.ir.graph import Graph
from netgen.ops import OPS
from netgen.spec.model import Spec

CONVENTION = "multiply-adds of conv and linear layers, one multiply-add counted once"


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    for node in graph.nodes():
        op = OPS.get(node.kind)
        node.macs = 0 if op is None else op.macs(node.attrs, graph[graph.inputs(node.name)[0]].shape, node.shape)
    return []
