"""The IR: a networkx MultiDiGraph whose nodes are named layers and whose edges carry input order.

A multigraph, because one value may feed several inputs of one node (an `add` with two identity
shortcuts, `concat` with `from: [a, a]`): each input is its own edge, keyed by its index.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from netgen.diagnostics import Diagnostic, Span
from netgen.ir.ops import OpKind

Shape = tuple[int, ...]  # (C, H, W) or (F,), batch left out


@dataclass(slots=True)
class Node:
    name: str
    kind: OpKind
    attrs: Any
    span: Span
    row: str  # the top-level layer or head this node belongs to
    head: str | None = None  # set for nodes of an auxiliary head
    ref_row: str | None = None  # the reference-table row id the spec gives that layer
    call: Any = None  # the spec's call (OpCall / BlockCall) this node came from
    scope: tuple[str, ...] = ()  # enclosing block instances, outermost first
    init_std: float | None = None  # the layer's own `init: {std}`, where it differs from the spec's
    # filled in by passes
    shape: Shape | None = None
    weights: int = 0
    biases: int = 0
    macs: int = 0
    unbound: bool = False  # a channel count in its attributes waits for its input's (`in`)

    def where(self, arg: str | None) -> Span:
        """The spec argument's place when the node's call has one, else the node's."""
        if arg is not None and self.call is not None and hasattr(self.call, "where"):
            return self.call.where(arg)
        return self.span


@dataclass(frozen=True)
class Instance:
    """One use of a block, remembered after expansion for the backends and for diagnostics."""

    path: str
    block: str
    args: tuple[int, ...]
    span: Span
    entry: str  # the node feeding the block
    exit: str  # the node producing its output
    nodes: tuple[str, ...] = ()


@dataclass
class Graph:
    """Wraps nx.MultiDiGraph so every pass iterates in one deterministic order (insertion order)."""

    g: nx.MultiDiGraph = field(default_factory=nx.MultiDiGraph)
    output: str = ""
    heads: dict[str, str] = field(default_factory=dict)  # head name -> its output node
    instances: dict[str, Instance] = field(default_factory=dict)
    # a layer that expands to several nodes (a block use, `times: N`, a concat of branches) -> its last node
    exits: dict[str, str] = field(default_factory=dict)
    # filled in by the depth pass: longest weighted path to the output, without and with pooling
    depth: int = 0
    depth_with_pooling: int = 0
    row_depth: dict[str, tuple[int, int]] = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)  # what the passes found that does not stop a build
    # filled in by the features pass: netgen.passes.features.Features, or None for a network whose
    # logits come from no linear classifier at its end
    features: Any = None
    max_layers: int | None = None  # the expand pass's limit on nodes when not its default (`--max-layers`)
    # (spec, its netgen.backends.layout.Layout), kept by the names pass for the backends until the graph changes
    layout: tuple | None = field(default=None, repr=False)
    _order: dict[str, int] = field(default_factory=dict)
    # name -> Node, beside networkx's node-data dicts: passes ask for a node per edge, and one lookup
    # in one table touches less memory than two (a 10,000-module network has 80,000 nodes)
    _nodes: dict[str, Node] = field(default_factory=dict, repr=False)
    # the topological order, computed once per change to the graph: backends ask for it per block use
    _sorted: list[str] | None = field(default=None, repr=False)
    _position: dict[str, int] = field(default_factory=dict, repr=False)
    _sorted_nodes: list[Node] = field(default_factory=list, repr=False)
    # each node's inputs in order, kept until an edge into it changes: passes ask for them per use
    _inputs: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    def add(self, node: Node, inputs: list[str] | tuple[str, ...] = ()) -> Node:
        name, g = node.name, self.g
        self._nodes[name] = node
        if name in g._node or any(source not in g._node for source in inputs):
            g.add_node(name, node=node)
            for index, source in enumerate(inputs):
                self.connect(source, name, index)
        else:
            # What add_node and add_edge do, without their checks per call: the expansion of a
            # 10,000-module network adds 80,000 nodes, each new and reading nodes that exist.
            g._node[name] = {"node": node}
            g._succ[name] = {}
            preds = g._pred[name] = {}
            for index, source in enumerate(inputs):
                keyed = preds.get(source)
                if keyed is None:
                    keyed = preds[source] = g._succ[source][name] = {}
                keyed[index] = {"index": index}
            nx._clear_cache(g)
            self._inputs[name] = tuple(inputs)  # its only edges, in their order
        self._order.setdefault(name, len(self._order))
        self._sorted, self.layout = None, None
        return node

    def connect(self, source: str, target: str, index: int) -> None:
        self.g.add_edge(source, target, key=index, index=index)
        self._sorted, self.layout = None, None
        self._inputs.pop(target, None)

    def remove(self, name: str) -> None:
        for user in self.g.successors(name):
            self._inputs.pop(user, None)
        self._inputs.pop(name, None)
        self.g.remove_node(name)
        del self._order[name]
        del self._nodes[name]
        self._sorted, self.layout = None, None

    def exit_of(self, name: str) -> str:
        """The node whose output is the layer's: itself, or the last node of its expansion."""
        return self.exits.get(name, name)

    def __getitem__(self, name: str) -> Node:
        return self._nodes[name]

    def __contains__(self, name: str) -> bool:
        return name in self.g

    def inputs(self, name: str) -> list[str]:
        known = self._inputs.get(name)
        if known is None:
            edges = [(data["index"], source) for source, keyed in self.g._pred[name].items() for data in keyed.values()]
            known = self._inputs[name] = tuple(source for _, source in sorted(edges, key=lambda edge: edge[0]))
        return list(known)

    def users(self, name: str) -> list[str]:
        return sorted(self.g._succ[name], key=self._order.__getitem__)

    def uses(self, name: str) -> list[tuple[str, int]]:
        """(user, input index) for every input `name` feeds, a user fed twice listed twice."""
        edges = [(user, data["index"]) for user, keyed in self.g._succ[name].items() for data in keyed.values()]
        return sorted(edges, key=lambda edge: (self._order[edge[0]], edge[1]))

    def logits(self) -> str:
        """The node forward() returns: the output, or what the network's last layer reads when that layer
        is a softmax (the output activation, applied by predict()). A block ending in softmax is no such layer."""
        output = self[self.output]
        if output.kind is OpKind.SOFTMAX and output.name == output.row:
            return self.inputs(self.output)[0]
        return self.output

    def nodes(self) -> Iterator[Node]:
        """Nodes in topological order, ties broken by the order they were added."""
        self._topological()
        return iter(self._sorted_nodes)

    def position(self, name: str) -> int:
        """Where `name` comes in nodes()."""
        self._topological()
        return self._position[name]

    def _topological(self) -> list[str]:
        if self._sorted is None:
            self._sorted = _topological_order(self.g, self._order)
            self._position = {name: index for index, name in enumerate(self._sorted)}
            self._sorted_nodes = [self._nodes[name] for name in self._sorted]
        return self._sorted

    def trunk(self) -> Iterator[Node]:
        return (node for node in self.nodes() if node.head is None)


def _topological_order(g: nx.MultiDiGraph, order: dict[str, int]) -> list[str]:
    """Kahn's algorithm taking, of the nodes ready, the one first by `order`, then by its place in
    `g`: the order nx.lexicographical_topological_sort gives with that key, without its calls per edge."""
    place = {name: index for index, name in enumerate(g)}
    waiting = {name: len(sources) for name, sources in g._pred.items()}
    ready = [(order[name], place[name], name) for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        _, _, name = heapq.heappop(ready)
        out.append(name)
        for user in g._succ[name]:
            left = waiting[user] - 1
            waiting[user] = left
            if not left:
                heapq.heappush(ready, (order[user], place[user], user))
    if len(out) != len(waiting):
        raise nx.NetworkXUnfeasible("the graph contains a cycle")
    return out
