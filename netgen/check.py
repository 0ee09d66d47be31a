"""What `netgen check` does to one spec, as a value: compile it, apply the backends' rules without
rendering anything, check its `row:` ids against its reference table and its `claims:`.

The command line prints the result; the language server (netgen.lsp) publishes the same
diagnostics to the editor, from the buffer's unsaved text. Neither torch nor onnx is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from netgen.diagnostics import Diagnostic, Severity, SpecError, is_error
from netgen.ir.graph import Graph
from netgen.spec.model import Spec
from netgen.spec.yaml_source import YMap
from netgen.verify.reference import Reference


@dataclass(frozen=True)
class Checked:
    """A spec's verdict: every diagnostic, and the spec and graph when the compiler got that far
    (they are there when only a backend's rule or the reference refused the spec)."""

    path: str
    diagnostics: list[Diagnostic]
    spec: Spec | None = None
    graph: Graph | None = None

    @property
    def ok(self) -> bool:
        return not any(is_error(diagnostic) for diagnostic in self.diagnostics)


def check_spec(
    path: str,
    input_size: tuple[int, int, int] | None = None,
    max_layers: int | None = None,
    strict: bool = False,
    data: bytes | None = None,
    load_reference: Callable[[str], Reference] | None = None,
    read: Callable[..., YMap] | None = None,
) -> Checked:
    """`data` is the spec's text when it is not the file's (an editor's buffer), `read` what reads
    its YAML (an editor's keeps what did not change: netgen.spec.yaml_reuse) and `load_reference`
    what reads the reference table (an editor's keeps it while the file is unchanged). `strict`
    makes the warnings of a spec that compiles errors."""
    from netgen import compile as compiler
    from netgen.build import check_backends, output_stem
    from netgen.verify.claims import claim_problems
    from netgen.verify.table import reference_problems

    spec = graph = None
    try:
        spec, graph = compiler.compile_file(path, input_size, max_layers, data, read)
        output_stem(path)  # the names build would write
        check_backends(spec, graph)
    except SpecError as exc:
        return Checked(path, exc.diagnostics, spec, graph)
    # Claims hold the spec at its own input size; `input_size` compiles another network.
    claimed = claim_problems(spec, graph) if input_size is None else []
    found = [*graph.warnings, *reference_problems(spec, load_reference), *claimed]
    if strict:
        found = [replace(d, severity=Severity.ERROR) for d in found]
    return Checked(path, found, spec, graph)
