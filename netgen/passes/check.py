"""Check pass: problems that do not stop shape inference but make a network wrong (errors), or
probably not what its author meant (warnings)."""

from __future__ import annotations

import networkx as nx

from netgen.diagnostics import Diagnostic, error, note, warning
from netgen.ir.graph import Graph, Node
from netgen.ir.ops import SHAPE_PRESERVING, OpKind
from netgen.spec.model import Spec


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    return _dead_layers(graph) + _pools_not_global(graph)


def _pools_not_global(graph: Graph) -> list[Diagnostic]:
    """A fixed-size pool feeding a flatten is usually meant to pool the whole map (GoogLeNet's 7x7
    average pool at 224x224). At another input size it stops being global and the classifier after
    it silently grows; say so. A pool counts as meant to be global when it does not stride (stride 1)
    or covers at least half its input in each direction; VGG's 2x2/2 before its classifier does not."""
    problems = []
    for node in graph.nodes():
        if node.kind is not OpKind.FLATTEN:
            continue
        pool = _producer(graph, node)
        if pool.kind not in (OpKind.AVGPOOL, OpKind.MAXPOOL) or pool.shape[1:] == (1, 1):
            continue
        channels, height, width = graph[graph.inputs(pool.name)[0]].shape
        (kh, kw), stride = pool.attrs.kernel, pool.attrs.stride
        if stride != (1, 1) and (2 * kh < height or 2 * kw < width):
            continue
        out_h, out_w = pool.shape[1:]
        kind = "average" if pool.kind is OpKind.AVGPOOL else "max"
        notes = [note(f"in {name}, used here", graph.instances[name].span) for name in pool.scope if name in graph.instances][-1:]
        problems.append(
            warning(
                "pool-not-global",
                f"{pool.name}: the {kh}x{kw} {kind} pool over a {height}x{width} input gives {out_h}x{out_w}, not 1x1, "
                f"so {node.name} passes on {channels * out_h * out_w} values where one per channel ({channels}) was "
                f"probably meant; write {'global_avgpool' if kind == 'average' else 'adaptive pooling'} to pool the whole map at any input size",
                pool.span,
                *notes,
            )
        )
    return problems


def _producer(graph: Graph, node: Node) -> Node:
    """The layer whose output reaches `node` through layers that keep its shape (dropout, ReLU, ...)."""
    source = graph[graph.inputs(node.name)[0]]
    while source.kind in SHAPE_PRESERVING and graph.inputs(source.name):
        source = graph[graph.inputs(source.name)[0]]
    return source


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
