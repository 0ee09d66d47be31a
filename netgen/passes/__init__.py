"""The compiler's passes, in the order they run. Each takes the graph and the spec and returns
diagnostics; the pipeline stops after the first pass that reports an error. Warnings do not
stop it: they are kept on the graph for the command line to print."""

from __future__ import annotations

from netgen.diagnostics import SpecError, is_error
from netgen.ir.build import build_graph
from netgen.ir.graph import Graph
from netgen.passes import check, depth, expand, export, features, macs, names, params, shapes
from netgen.spec.model import Spec

PIPELINE = (
    ("expand", expand.run),
    ("infer-shapes", shapes.run),
    ("check", check.run),
    ("count-params", params.run),
    ("count-macs", macs.run),
    ("depth", depth.run),
    ("features", features.run),
    ("names", names.run),
    ("export", export.run),
)


def compile_spec(spec: Spec, max_layers: int = expand.MAX_LAYERS) -> Graph:
    """Run every pass; raise SpecError with the errors of the first pass that finds any (and the
    warnings found until then). The network may expand to at most `max_layers` layers."""
    graph = build_graph(spec, max_layers)
    graph.max_layers = max_layers
    for _name, run in PIPELINE:
        problems = run(graph, spec)
        graph.warnings += [problem for problem in problems if not is_error(problem)]
        errors = [problem for problem in problems if is_error(problem)]
        if errors:
            raise SpecError([*graph.warnings, *errors])
    return graph
