"""A typed spec to the unexpanded IR: one node per top-level layer and head, edges from `from:`."""

from __future__ import annotations

import keyword

import networkx as nx

from netgen.diagnostics import Diagnostic, SpecError, error, note
from netgen.ir.graph import Graph, Node
from netgen.ir.names import TUPLE_ATTRIBUTES
from netgen.ir.ops import Input, OpKind, kind_for_op
from netgen.spec.model import BlockCall, Layer, OpCall, Spec
from netgen.spec.parse import MERGE_OPS, suggestion

INPUT = "input"


def kind_of(layer: Layer) -> OpKind:
    """BLOCK for a layer the expand pass replaces by several nodes: a block use or a repeated layer."""
    if isinstance(layer.call, BlockCall) or layer.times > 1:
        return OpKind.BLOCK
    return kind_for_op(layer.call.op)


def build_graph(spec: Spec, max_layers: int | None = None) -> Graph:
    """The unexpanded graph; with `max_layers`, a spec of more top-level layers and heads (the input
    counted, as the expand pass counts it) is refused at the first one over the limit."""
    graph = Graph()
    problems: list[Diagnostic] = []
    graph.add(Node(INPUT, OpKind.INPUT, Input(spec.input), spec.where("input"), row=INPUT, shape=spec.input))
    if max_layers is not None and 1 + len(spec.layers) + len(spec.heads) > max_layers:
        over = [*spec.layers, *(head.layer for head in spec.heads)][max_layers - 1]
        raise SpecError(
            error("too-large", f"the network has more than {max_layers:,} layers; --max-layers N raises the limit", over.span)
        )
    names: dict[str, Layer] = {}
    for layer in spec.layers:
        if layer.name == INPUT:
            problems.append(error("reserved-name", "'input' names the network's input; rename this layer", layer.span))
            continue
        names[layer.name] = layer
        node = Node(layer.name, kind_of(layer), None, layer.span, row=layer.name, ref_row=layer.row, call=layer.call, init_std=layer.init_std)
        graph.add(node)
    previous = INPUT
    for layer in spec.layers:
        if layer.name in names:
            _connect(graph, layer, previous, names, problems, trunk_only=False)
            previous = layer.name
    graph.output = previous
    for head in spec.heads:
        layer = head.layer
        if head.name in names or head.name == INPUT:
            problems.append(error("duplicate-name", f"head {head.name!r} has the name of a layer", head.span))
            continue
        graph.add(Node(head.name, kind_of(layer), None, layer.span, row=head.name, head=head.name, call=layer.call))
        _connect(graph, layer, previous, names, problems, trunk_only=True)
        graph.heads[head.name] = head.name
    if problems:
        raise SpecError(problems)
    _reject_cycles(graph, names)
    if spec.outputs is not None:
        _check_outputs(spec, graph)
    _reject_forward_references(spec)
    return graph


def _check_outputs(spec: Spec, graph: Graph) -> None:
    """`outputs.fields` must name the logits layer and every head, each once."""
    outputs = spec.outputs
    heads = [head.name for head in spec.heads]
    if not heads:
        raise SpecError(
            error(
                "bad-outputs",
                "outputs: the network has no heads, so forward() returns the logits alone; remove 'outputs'",
                outputs.span,
            )
        )
    if outputs.fields is None:
        return
    logits = graph.logits()
    wanted = [logits, *heads]
    problems: list[Diagnostic] = []
    named: dict[str, str] = {}
    for field in outputs.fields:
        # The fields are the contract with the caller's code: refused, never renamed.
        if field.name.startswith("_") or keyword.iskeyword(field.name) or field.name in TUPLE_ATTRIBUTES:
            why = (
                "starts with '_'"
                if field.name.startswith("_")
                else "is a Python keyword"
                if keyword.iskeyword(field.name)
                else f"would hide tuple.{field.name}()"
            )
            problems.append(error("bad-name", f"output field {field.name!r} {why}; a NamedTuple field cannot", field.span))
        elif field.source in named:
            problems.append(
                error(
                    "bad-outputs",
                    f"output field {field.name!r} names {field.source!r}, which field {named[field.source]!r} names already",
                    field.source_span,
                )
            )
        elif field.source not in wanted:
            if field.source == graph.output:
                why = f"the output activation; a field holds the logits of {logits!r}, which predict() turns into probabilities"
            else:
                why = f"neither the logits layer ({logits}) nor a head ({', '.join(heads)}){suggestion(field.source, wanted)}"
            problems.append(error("bad-outputs", f"output field {field.name!r} names {field.source!r}, {why}", field.source_span))
        else:
            named[field.source] = field.name
    missing = [source for source in wanted if source not in named]
    if missing and not problems:
        listed = ", ".join(f"{source!r}" for source in missing)
        problems.append(
            error(
                "bad-outputs",
                f"outputs: 'fields' leaves out {listed}; give a field for the logits layer and for every head",
                outputs.span,
            )
        )
    if problems:
        raise SpecError(problems)


def _connect(graph: Graph, layer: Layer, previous: str, names, problems, trunk_only: bool) -> None:
    if layer.inputs is None:
        graph.connect(previous, layer.name, 0)
        return
    for index, (source, span) in enumerate(zip(layer.inputs, layer.input_spans, strict=True)):
        if source != INPUT and source not in names:
            problems.append(
                error(
                    "unknown-layer",
                    f"{layer.name}: 'from' names {source!r}, which is not a layer{suggestion(source, names)}",
                    span,
                )
            )
        elif source == layer.name:
            problems.append(error("cycle", f"{layer.name}: a layer cannot take its own output as input", span))
        else:
            graph.connect(source, layer.name, index)


def _reject_cycles(graph: Graph, layers: dict[str, Layer]) -> None:
    """A cycle can only close through `from`; it is reported at the `from` entries that make it."""
    try:
        # A multigraph's cycle edges are (source, target, key).
        cycle = [(source, target) for source, target, *_ in nx.find_cycle(graph.g)]
    except nx.NetworkXNoCycle:
        return
    # Blame the `from` that names a later layer: a cycle needs one, and it is the unusual edge.
    order = {name: index for index, name in enumerate(layers)}
    start = next((i for i, (source, target) in enumerate(cycle) if order[source] >= order[target]), 0)
    cycle = cycle[start:] + cycle[:start]
    names = [source for source, _ in cycle]
    path = " -> ".join([*names, names[0]])
    spans = [_input_span(layers[target], source) for source, target in cycle]
    notes: list[Diagnostic] = [
        note(f"{target} takes its input from {source} here", span) for (source, target), span in zip(cycle[1:], spans[1:], strict=True)
    ]
    source, target = cycle[0]
    raise SpecError(
        error(
            "cycle",
            f"{target}: 'from' {source} closes a cycle: {path}; a layer cannot take its input from its own output",
            spans[0],
            *notes,
        )
    )


def _reject_forward_references(spec: Spec) -> None:
    """Layers run in the order they are written, as inside a block; one that reads a later layer
    (without a cycle, which is reported first) would read a value not computed yet."""
    order = {layer.name: index for index, layer in enumerate(spec.layers)}
    problems = [
        error(
            "forward-reference",
            f"{layer.name}: 'from' names {source!r}, which comes later in 'layers'; layers run in the order "
            f"they are written, so move {source} above {layer.name}",
            span,
        )
        for index, layer in enumerate(spec.layers)
        for source, span in zip(layer.inputs or (), layer.input_spans, strict=True)
        if order.get(source, -1) > index
    ]
    # A head written among the layers sits where it is written, so it reads a layer above it.
    problems += [
        error(
            "forward-reference",
            f"{head.name}: 'from' names {head.source!r}, which comes later in 'layers'; a head written among the layers "
            f"reads a layer above it, so move the head below {head.source}",
            head.source_span,
        )
        for head in spec.heads
        if head.position is not None and order.get(head.source, -1) >= head.position
    ]
    if problems:
        raise SpecError(problems)


def _input_span(layer: Layer, source: str):
    """Where `layer` names `source` in its `from`, or the layer itself when it follows `source` implicitly."""
    if layer.inputs is not None and source in layer.inputs:
        return layer.input_spans[layer.inputs.index(source)]
    return layer.span


def has_module(layer: Layer) -> bool:
    """Whether the generated module holds the layer as a module: a concat or add of earlier layers is computed in forward()."""
    return not (isinstance(layer.call, OpCall) and layer.call.op in MERGE_OPS)
