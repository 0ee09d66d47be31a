"""Names pass: every spec name must keep its own Python identifier in the generated code.

The layout is the single source of those identifiers, so this pass computes it (it imports no
backend library): `netgen check` then reports names that collide once made Python-safe, such as
block parameters `class` and `class_`, before any code is generated.
"""

from __future__ import annotations

from netgen.backends.layout import make_layout
from netgen.diagnostics import Diagnostic, SpecError
from netgen.ir.graph import Graph
from netgen.spec.model import Spec


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    try:
        make_layout(spec, graph)
    except SpecError as exc:
        return exc.diagnostics
    return []
