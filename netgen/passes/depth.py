"""Depth pass, as the paper defines it: the longest input-to-output path counting layers with
weights (GoogLeNet: 22), and counting pooling layers too (27). Auxiliary heads are left out."""

from __future__ import annotations

from netgen.diagnostics import Diagnostic
from netgen.ir.graph import Graph, Node
from netgen.ir.ops import POOLING, WEIGHTED
from netgen.spec.model import Spec


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    plain = _longest(graph, lambda node: node.kind in WEIGHTED)
    pooled = _longest(graph, lambda node: node.kind in WEIGHTED or node.kind in POOLING)
    graph.depth, graph.depth_with_pooling = plain[graph.output], pooled[graph.output]
    rows: dict[str, list[Node]] = {}
    for node in graph.nodes():
        rows.setdefault(node.row, []).append(node)
    graph.row_depth = {
        row: (
            _longest_within(graph, nodes, lambda node: node.kind in WEIGHTED),
            _longest_within(graph, nodes, lambda node: node.kind in WEIGHTED or node.kind in POOLING),
        )
        for row, nodes in rows.items()
    }
    return []


def _longest(graph: Graph, counts) -> dict[str, int]:
    best: dict[str, int] = {}
    for node in graph.trunk():
        before = max((best[source] for source in graph.inputs(node.name) if source in best), default=0)
        best[node.name] = before + (1 if counts(node) else 0)
    return best


def _longest_within(graph: Graph, nodes: list[Node], counts) -> int:
    members = {node.name for node in nodes}
    best: dict[str, int] = {}
    for node in nodes:  # already in topological order
        before = max((best[source] for source in graph.inputs(node.name) if source in members), default=0)
        best[node.name] = before + (1 if counts(node) else 0)
    return max(best.values(), default=0)
