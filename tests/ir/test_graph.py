"""The IR graph's own bookkeeping: the order every pass walks, and the caches behind it."""

from __future__ import annotations

import random

import networkx as nx
import pytest

from netgen.ir.graph import _topological_order


@pytest.mark.parametrize("seed", range(40))
def test_the_topological_order_is_networkx_lexicographic_order_by_insertion(seed):
    rng = random.Random(seed)
    names = [f"n{index}" for index in range(rng.randint(1, 40))]
    graph = nx.MultiDiGraph()
    added = names[:]
    rng.shuffle(added)  # inserted in another order than the edges run
    graph.add_nodes_from(added)
    # Orders repeat once a node is removed and another added, so ties must break as networkx breaks them.
    order = {name: rng.randint(0, len(names) // 2) for name in added}
    for _ in range(rng.randint(0, 80)):
        a, b = sorted(rng.sample(range(len(names)), 2)) if len(names) > 1 else (0, 0)
        if a != b:
            graph.add_edge(names[a], names[b])  # parallel edges too: a layer may read one value twice
    expected = list(nx.lexicographical_topological_sort(graph, key=order.__getitem__))
    assert _topological_order(graph, order) == expected


def test_a_cycle_is_refused_as_networkx_refuses_it():
    graph = nx.MultiDiGraph([("a", "b"), ("b", "a")])
    with pytest.raises(nx.NetworkXUnfeasible):
        _topological_order(graph, {"a": 0, "b": 1})


def _graph_of(edges: list[tuple[str, str, int]], names: list[str]):
    from netgen.diagnostics import Span
    from netgen.ir.graph import Graph, Node
    from netgen.ir.ops import OpKind

    graph = Graph()
    for name in names:
        graph.add(Node(name, OpKind.RELU, None, Span("s.yaml", 1, 1), name))
    for source, target, index in edges:
        graph.connect(source, target, index)
    return graph


def test_inputs_and_uses_follow_every_change_to_the_graph():
    graph = _graph_of([("a", "c", 1), ("b", "c", 0)], ["a", "b", "c"])
    assert graph.inputs("c") == ["b", "a"]  # by input index, not by the order edges were made
    assert [node.name for node in graph.nodes()] == ["a", "b", "c"]
    graph.connect("a", "c", 2)
    assert graph.inputs("c") == ["b", "a", "a"]
    assert graph.uses("a") == [("c", 1), ("c", 2)]
    graph.remove("b")
    assert graph.inputs("c") == ["a", "a"]
    assert [node.name for node in graph.nodes()] == ["a", "c"]
    inputs = graph.inputs("c")
    inputs.append("x")  # a caller's list is its own
    assert graph.inputs("c") == ["a", "a"]
