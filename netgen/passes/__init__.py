"""The compiler's passes, in the order they run. Each takes the graph and the spec and returns
diagnostics; the pipeline stops after the first pass that reports any."""

from __future__ import annotations

from netgen.diagnostics import SpecError
from netgen.ir.build import build_graph
from netgen.ir.graph import Graph
from netgen.passes import check, depth, expand, macs, names, params, shapes
from netgen.spec.model import Spec

PIPELINE = (
    ("expand", expand.run),
    ("infer-shapes", shapes.run),
    ("check", check.run),
    ("count-params", params.run),
    ("count-macs", macs.run),
    ("depth", depth.run),
    ("names", names.run),
)


def compile_spec(spec: Spec) -> Graph:
    """Run every pass; raise SpecError with the diagnostics of the first pass that finds problems."""
    graph = build_graph(spec)
    for _name, run in PIPELINE:
        problems = run(graph, spec)
        if problems:
            raise SpecError(problems)
    return graph
