"""Pictures of a compiled network: a neutral diagram (nodes, edges, clusters), drawn as Mermaid
(which code hosts render in Markdown), as Graphviz DOT through the `graphviz` package, or as SVG
through Graphviz's `dot` program.

Module level: one node per top-level layer and head, labelled with its output size, params and
multiply-adds. Layer level: one node per op, a cluster per block instance and per branch."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from netgen.ir.graph import Graph
from netgen.ir.ops import OpKind
from netgen.ir.scopes import Scope, scope_tree
from netgen.ops import OPS
from netgen.spec.model import Spec
from netgen.summary import as_chw, patch, size_text


@dataclass(frozen=True)
class DiagramNode:
    id: str  # the layer's name (module level) or the op's full IR name (layer level)
    title: str  # "inception3a: inception"
    output: list[int]  # C, H, W
    params: int
    macs: int
    head: bool = False


@dataclass(frozen=True)
class Cluster:
    id: str
    title: str
    nodes: tuple[str, ...]  # ids of the nodes directly inside
    clusters: tuple[Cluster, ...] = ()


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    head: bool = False  # into an auxiliary head: drawn dashed


@dataclass(frozen=True)
class Diagram:
    name: str
    level: str
    nodes: tuple[DiagramNode, ...]
    edges: tuple[Edge, ...]
    clusters: tuple[Cluster, ...] = ()


def make_diagram(spec: Spec, graph: Graph, level: str = "module") -> Diagram:
    return _module_diagram(spec, graph) if level == "module" else _layer_diagram(spec, graph)


def _input_node(graph: Graph) -> DiagramNode:
    return DiagramNode("input", "input", as_chw(graph["input"].shape), 0, 0)


def _module_diagram(spec: Spec, graph: Graph) -> Diagram:
    scopes = scope_tree(spec, graph)
    heads = {head.name for head in spec.heads}
    nodes = [_input_node(graph)]
    nodes += [
        DiagramNode(scope.path, f"{scope.path}: {_kind(scope.kind, scope.nodes if not scope.children else ())}", as_chw(scope.exit.shape), scope.params, scope.macs, scope.path in heads)
        for scope in scopes
    ]
    edges: dict[tuple[str, str], Edge] = {}
    for node in graph.nodes():
        for source in graph.inputs(node.name):
            row = graph[source].row
            if row != node.row:
                edges.setdefault((row, node.row), Edge(row, node.row, node.row in heads))
    return Diagram(spec.name, "module", tuple(nodes), tuple(edges.values()))


def _layer_diagram(spec: Spec, graph: Graph) -> Diagram:
    nodes = [_input_node(graph)]
    for node in graph.nodes():
        if node.kind is not OpKind.INPUT:
            short = node.name.rpartition(".")[2]
            title = f"{short}: {_kind(OPS[node.kind].title, (node,))}"
            nodes.append(DiagramNode(node.name, title, as_chw(node.shape), node.weights + node.biases, node.macs, node.head is not None))
    edges = tuple(
        Edge(source, node.name, node.head is not None) for node in graph.nodes() for source in graph.inputs(node.name)
    )
    clusters = tuple(_cluster(scope) for scope in scope_tree(spec, graph) if scope.children)
    return Diagram(spec.name, "layer", tuple(nodes), edges, clusters)


def _kind(kind: str, nodes) -> str:
    """An op with its kernel and stride where it has them (`conv 1x7/1`), as the summary shows it."""
    shape = patch(nodes[0]) if len(nodes) == 1 else None  # one op, not a block or branch of several
    return f"{kind} {shape}" if shape else kind


def _cluster(scope: Scope) -> Cluster:
    return Cluster(
        scope.path,
        f"{scope.name}: {scope.kind}",
        tuple(child.path for child in scope.children if not child.children),
        tuple(_cluster(child) for child in scope.children if child.children),
    )


def diagram_json(diagram: Diagram) -> dict:
    return asdict(diagram)


def label_lines(node: DiagramNode) -> list[str]:
    lines = [node.title, size_text(node.output)]
    counts = [text for text in (f"{node.params:,} params" if node.params else "", f"{node.macs:,} MACs" if node.macs else "") if text]
    if counts:
        lines.append(", ".join(counts))
    return lines


# -- Mermaid ----------------------------------------------------------------------------------


def to_mermaid(diagram: Diagram) -> str:
    """A flowchart; ids are n0, n1, ... because Mermaid's ids cannot hold every spec name's dots."""
    ids = {node.id: f"n{index}" for index, node in enumerate(diagram.nodes)}
    lines = ["flowchart TD"]
    clustered = _clustered(diagram.clusters)
    for node in diagram.nodes:
        if node.id not in clustered:
            lines.append(f"  {_mermaid_node(ids[node.id], node)}")
    by_id = {node.id: node for node in diagram.nodes}
    for index, cluster in enumerate(diagram.clusters):
        lines += _mermaid_cluster(cluster, ids, by_id, f"c{index}", "  ")
    for edge in diagram.edges:
        arrow = "-.->" if edge.head else "-->"
        lines.append(f"  {ids[edge.source]} {arrow} {ids[edge.target]}")
    return "\n".join(lines) + "\n"


def _mermaid_node(mermaid_id: str, node: DiagramNode) -> str:
    text = "<br/>".join(_mermaid_text(line) for line in label_lines(node))
    return f'{mermaid_id}["{text}"]'


def _mermaid_text(text: str) -> str:
    """Text in a Mermaid label: what Mermaid or the Markdown around it would read as syntax, and
    every unprintable character, as Mermaid's entity codes (#quot;, #96;)."""
    named = {"&": "#amp;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "#": "#35;", "`": "#96;"}
    return "".join(named.get(ch) or (ch if ch.isprintable() else f"#{ord(ch)};") for ch in text)


def _mermaid_cluster(cluster: Cluster, ids, by_id, cluster_id: str, indent: str) -> list[str]:
    lines = [f'{indent}subgraph {cluster_id}["{_mermaid_text(cluster.title)}"]']
    for node_id in cluster.nodes:
        lines.append(f"{indent}  {_mermaid_node(ids[node_id], by_id[node_id])}")
    for index, inner in enumerate(cluster.clusters):
        lines += _mermaid_cluster(inner, ids, by_id, f"{cluster_id}_{index}", indent + "  ")
    lines.append(f"{indent}end")
    return lines


def _clustered(clusters) -> set[str]:
    inside: set[str] = set()
    for cluster in clusters:
        inside.update(cluster.nodes)
        inside |= _clustered(cluster.clusters)
    return inside


# -- Graphviz ---------------------------------------------------------------------------------


def to_graphviz(diagram: Diagram):
    import graphviz

    dot = graphviz.Digraph(
        _dot_text(diagram.name),
        graph_attr={"rankdir": "TB", "label": _dot_text(f"{diagram.name} ({diagram.level} level)"), "labelloc": "t", "fontname": "Helvetica"},
        node_attr={"shape": "box", "style": "rounded", "fontname": "Helvetica", "fontsize": "10"},
        edge_attr={"arrowsize": "0.6"},
    )
    by_id = {node.id: node for node in diagram.nodes}
    clustered = _clustered(diagram.clusters)
    for node in diagram.nodes:
        if node.id not in clustered:
            _dot_node(dot, node)
    for cluster in diagram.clusters:
        _dot_cluster(dot, cluster, by_id)
    for edge in diagram.edges:
        dot.edge(edge.source, edge.target, **({"style": "dashed"} if edge.head else {}))
    return dot


def _dot_node(dot, node: DiagramNode) -> None:
    # "\\n" is DOT's own line break; the graphviz package passes it through as written.
    dot.node(node.id, "\\n".join(_dot_text(line) for line in label_lines(node)), **({"style": "rounded,dashed"} if node.head else {}))


def _dot_text(text: str) -> str:
    """Text in a DOT label: the graphviz package quotes it; a backslash (DOT's escape), '&' and
    every unprintable character are written so Graphviz shows them as they are."""
    named = {"\\": "\\\\", "&": "&amp;"}
    return "".join(named.get(ch) or (ch if ch.isprintable() else f"&#{ord(ch)};") for ch in text)


def _dot_cluster(dot, cluster: Cluster, by_id) -> None:
    # Graphviz draws a subgraph as a box only when its name starts with "cluster".
    with dot.subgraph(name=f"cluster_{cluster.id}") as inner:
        inner.attr(label=_dot_text(cluster.title), style="rounded", color="gray50", fontname="Helvetica", fontsize="10")
        for node_id in cluster.nodes:
            _dot_node(inner, by_id[node_id])
        for nested in cluster.clusters:
            _dot_cluster(inner, nested, by_id)


def to_dot(diagram: Diagram) -> str:
    return to_graphviz(diagram).source


def to_svg(diagram: Diagram) -> str | None:
    """The diagram drawn by Graphviz's `dot` program, or None when it is not installed."""
    import graphviz

    try:
        return to_graphviz(diagram).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        return None
