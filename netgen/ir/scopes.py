"""The expanded graph as a tree: each top-level layer or head, the block instances, branches and
repeated copies inside it (from each node's `scope`), down to the primitive ops.

`summary --depth` prints it and `graph --level layer` draws its clusters."""

from __future__ import annotations

from dataclasses import dataclass

from netgen.ir.graph import Graph, Node
from netgen.ops import OPS
from netgen.spec.model import BlockCall, Spec


@dataclass(frozen=True)
class Scope:
    path: str  # "inception3a.branch_3x3": the prefix of every node name inside it
    name: str  # the last part of the path, or the op for a block's own merge node
    kind: str  # a block's name, an op, "branch", or for a top-level layer its block or op
    nodes: tuple[Node, ...]  # every primitive node inside, in topological order
    exit: Node  # the node whose output is the scope's
    children: tuple[Scope, ...] = ()

    @property
    def params(self) -> int:
        return sum(node.weights + node.biases for node in self.nodes)

    @property
    def macs(self) -> int:
        return sum(node.macs for node in self.nodes)


def scope_tree(spec: Spec, graph: Graph) -> list[Scope]:
    """One scope per top-level layer, then one per head, in the spec's order."""
    by_row: dict[str, list[Node]] = {}
    for node in graph.nodes():
        by_row.setdefault(node.row, []).append(node)
    calls = [(layer.name, layer.call, layer.times) for layer in spec.layers]
    calls += [(head.name, head.layer.call, head.layer.times) for head in spec.heads]
    out = []
    for name, call, times in calls:
        kind = call.block if isinstance(call, BlockCall) else call.op
        scope = _scope(graph, name, by_row[name], level=1)
        out.append(Scope(name, name, f"{kind} x {times}" if times > 1 else kind, scope.nodes, scope.exit, scope.children))
    return out


def _scope(graph: Graph, path: str, nodes: list[Node], level: int) -> Scope:
    groups: dict[str, list[Node]] = {}
    for node in nodes:
        groups.setdefault(node.scope[level] if len(node.scope) > level else node.name, []).append(node)
    children = []
    if list(groups) != [path]:
        for key, members in groups.items():
            leaf = len(members) == 1 and members[0].name == key and len(members[0].scope) <= level
            children.append(_leaf(members[0], path) if leaf else _scope(graph, key, members, level + 1))
    exit_node = graph[graph.exits[path]] if path in graph.exits and graph.exits[path] in graph else nodes[-1]
    return Scope(path, path.rpartition(".")[2], _kind(graph, path, nodes), tuple(nodes), exit_node, tuple(children))


def _leaf(node: Node, parent: str) -> Scope:
    # A block's own concat or add carries the block's name; it is shown by what it does.
    name = node.kind.value if node.name == parent else node.name.rpartition(".")[2]
    return Scope(node.name, name, node.kind.value, (node,), node)


def _kind(graph: Graph, path: str, nodes: list[Node]) -> str:
    if path in graph.instances:
        return graph.instances[path].block
    merge = next((node for node in nodes if node.name == path and node.kind in OPS and OPS[node.kind].combines), None)
    if merge is not None:
        return merge.kind.value
    return "branch"
