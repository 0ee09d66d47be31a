"""Spec file to compiled graph: the front half of the compiler, without torch or onnx."""

from __future__ import annotations

from netgen.ir.graph import Graph
from netgen.passes import compile_spec
from netgen.spec.model import Spec
from netgen.spec.parse import load_spec


def compile_file(path: str) -> tuple[Spec, Graph]:
    spec = load_spec(path)
    return spec, compile_spec(spec)
