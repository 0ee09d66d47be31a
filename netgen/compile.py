"""Spec file to compiled graph: the front half of the compiler, without torch or onnx."""

from __future__ import annotations

from netgen.ir.graph import Graph
from netgen.passes import compile_spec
from netgen.spec.model import Spec
from netgen.spec.parse import load_spec


def compile_file(path: str, input_size: tuple[int, int, int] | None = None) -> tuple[Spec, Graph]:
    """Load and compile a spec; `input_size` (C, H, W) replaces its `input`, to try another size."""
    spec = load_spec(path, input_size)
    return spec, compile_spec(spec)
