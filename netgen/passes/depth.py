"""Depth pass, as the paper defines it: the longest input-to-output path counting layers with
weights (GoogLeNet: 22), and counting pooling layers too (27). Auxiliary heads are left out."""

from __future__ import annotations

from netgen.diagnostics import Diagnostic
from netgen.ir.graph import Graph, Node
from netgen.ir.ops import POOLING, WEIGHTED
from netgen.spec.model import Spec


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    longest = _longest(graph, list(graph.trunk()), within=None)
    graph.depth, graph.depth_with_pooling = longest[graph.output]
    rows: dict[str, list[Node]] = {}
    for node in graph.nodes():
        rows.setdefault(node.row, []).append(node)
    graph.row_depth = {}
    for row, nodes in rows.items():
        within = _longest(graph, nodes, within={node.name for node in nodes})
        graph.row_depth[row] = (max(plain for plain, _ in within.values()), max(pooled for _, pooled in within.values()))
    return []


def _longest(graph: Graph, nodes: list[Node], within: set[str] | None) -> dict[str, tuple[int, int]]:
    """Each node's longest path from the input (or from the first of `within`), counting layers with
    weights, and counting pooling layers too; `nodes` in topological order."""
    best: dict[str, tuple[int, int]] = {}
    for node in nodes:
        plain = pooled = 0
        for source in graph.inputs(node.name):
            if within is None or source in within:
                before = best.get(source)
                if before is not None:
                    plain, pooled = max(plain, before[0]), max(pooled, before[1])
        weighted = node.kind in WEIGHTED
        best[node.name] = (plain + weighted, pooled + (weighted or node.kind in POOLING))
    return best
