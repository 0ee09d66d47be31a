"""Spec file to compiled graph: the front half of the compiler, without torch or onnx."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from netgen.diagnostics import SpecError
from netgen.ir.graph import Graph
from netgen.passes import compile_spec
from netgen.passes.expand import MAX_LAYERS, MAX_LAYERS_CEILING
from netgen.spec.library import with_use_notes
from netgen.spec.model import Spec
from netgen.spec.parse import load_spec, parse_spec
from netgen.spec.yaml_source import MAX_VALUES, YMap, load_yaml


def compile_file(
    path: str,
    input_size: tuple[int, int, int] | None = None,
    max_layers: int | None = None,
    data: bytes | None = None,
    read: Callable[..., YMap] | None = None,
) -> tuple[Spec, Graph]:
    """Load and compile a spec; `input_size` (C, H, W) replaces its `input`, to try another size.
    `max_layers` raises the safety limit on the expanded network, and with it the one on the
    values the file may hold, so a spec that lists every one of its layers still reads. `data`,
    when given, is the spec's text (an editor's unsaved buffer) in place of the file's, and `read`
    reads its YAML in place of load_yaml (netgen.spec.yaml_reuse)."""
    max_layers = MAX_LAYERS if max_layers is None else max_layers
    if not 1 <= max_layers <= MAX_LAYERS_CEILING:
        raise ValueError(f"max_layers must be from 1 to {MAX_LAYERS_CEILING:,}, got {max_layers:,}")
    max_values = max(MAX_VALUES, max_layers)
    with without_cycle_collection():
        if data is None:
            spec = load_spec(path, input_size, max_values=max_values)
        else:
            spec = parse_spec(path, data, input_size, max_values=max_values, read=read or load_yaml)
        with located_in_libraries(spec):
            graph = compile_spec(spec, max_layers)
        graph.warnings = with_use_notes(graph.warnings, spec.imports)
        return spec, graph


@contextmanager
def located_in_libraries(spec: Spec) -> Iterator[None]:
    """A problem found inside a block library is shown with the `use:` entries that brought it in."""
    try:
        yield
    except SpecError as exc:
        raise SpecError(with_use_notes(exc.diagnostics, spec.imports)) from None


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Python's cycle collector runs every few hundred allocations and rescans every object still
    alive; the compiler builds many long-lived objects and almost no cycles, so at 10,000 modules
    the collector took about a third of `check`. It is paused while the compiler runs."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
