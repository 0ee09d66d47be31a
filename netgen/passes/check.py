"""Check pass: problems that do not stop shape inference but make a network wrong."""

from __future__ import annotations

import networkx as nx

from netgen.diagnostics import Diagnostic, error
from netgen.ir.graph import Graph
from netgen.ir.ops import OpKind
from netgen.spec.model import Spec


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    return _dead_layers(graph)


def _dead_layers(graph: Graph) -> list[Diagnostic]:
    """Every trunk layer must feed the output or a head; a dangling branch is usually a typo in `from`."""
    live = {graph.output, *graph.heads.values()}
    for end in list(live):
        live |= nx.ancestors(graph.g, end)
    problems = []
    reported_rows: set[str] = set()
    for node in graph.nodes():
        if node.name in live or node.row in reported_rows:
            continue
        reported_rows.add(node.row)
        problems.append(
            error(
                "unused-layer",
                f"{node.row}: its output reaches neither the network's output ({graph.output}) nor a head; check 'from'",
                node.span,
            )
        )
    return problems


def is_trunk_output(graph: Graph, name: str) -> bool:
    return name == graph.output and graph[name].kind is not OpKind.INPUT
