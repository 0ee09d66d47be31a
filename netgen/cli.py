"""The command line. The only module that prints or exits.

Exit codes: 0 success; 1 the spec has errors (diagnostics printed); 2 wrong usage;
3 `build --check` found stale output or `verify` found an undocumented disagreement;
70 an internal error in netgen itself.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import replace
from typing import Annotated, NoReturn

import typer

from netgen.diagnostics import Diagnostic, Severity, SpecError, count
from netgen.printable import escape

EXIT_SPEC_ERROR = 1
EXIT_USAGE = 2
EXIT_STALE = 3
EXIT_INTERNAL = 70

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Compile YAML network specs to PyTorch source and ONNX models, and check them against their paper.",
)

SpecArg = Annotated[str, typer.Argument(help="Path to a YAML network spec.", show_default=False)]


def _input_size(text: str | None) -> tuple[int, int, int] | None:
    """--input C,H,W, each within the limits a spec's `input` has."""
    if text is None:
        return None
    from netgen.spec.schema import MAX_SPATIAL

    parts = text.replace("x", ",").split(",")
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(1 <= value <= MAX_SPATIAL for value in values):
        raise typer.BadParameter(f"expected C,H,W: three integers from 1 to {MAX_SPATIAL}, such as 3,299,299; got {text!r}")
    return values


InputOption = Annotated[
    str | None,
    typer.Option(
        "--input",
        metavar="C,H,W",
        help="Compile for this input size instead of the spec's `input`, e.g. 3,299,299.",
        callback=_input_size,
        show_default=False,
    ),
]


def _echo(text: str, err: bool = False, nl: bool = True) -> None:
    """All netgen prints: spec text and paths may hold what a terminal obeys (ESC, CR, U+202E), shown as escapes."""
    typer.echo(escape(text), err=err, nl=nl)


def _report(exc: SpecError) -> None:
    _print(exc.diagnostics)


def _print(diagnostics: list[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        _echo(diagnostic.render(), err=True)
    if diagnostics:
        _echo(count(diagnostics), err=True)


def _usage_error(message: str) -> NoReturn:
    _echo(f"netgen: error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def _os_failure(exc: OSError, verb: str) -> NoReturn:
    """An --out path the system refuses (not a folder, unwritable, a name too long): one line, usage."""
    where = f" {exc.filename}" if exc.filename is not None else ""
    _usage_error(f"cannot {verb}{where}: {exc.strerror or exc}")


@app.command()
def check(
    specs: Annotated[list[str], typer.Argument(help="One or more YAML network specs.", show_default=False)],
    input_size: InputOption = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors (exit 1).")] = False,
) -> None:
    """Compile specs and run every backend in memory, writing nothing; print every diagnostic with its file:line:col."""
    from netgen.build import output_stem, render_all
    from netgen.compile import compile_file

    failed = False
    for path in specs:
        try:
            spec, graph = compile_file(path, input_size)
            render_all(spec, graph, output_stem(path))
        except SpecError as exc:
            _report(exc)
            failed = True
            continue
        if strict and graph.warnings:
            _print([replace(warning, severity=Severity.ERROR) for warning in graph.warnings])
            failed = True
            continue
        _print(graph.warnings)
        c, h, w = graph[graph.output].shape if len(graph[graph.output].shape) == 3 else (graph[graph.output].shape[0], 1, 1)
        _echo(f"{path}: ok ({spec.name}, output {h}x{w}x{c})")
    if failed:
        raise typer.Exit(EXIT_SPEC_ERROR)


@app.command()
def summary(
    spec_path: SpecArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    input_size: InputOption = None,
) -> None:
    """Print a Table-1-like summary: output sizes, depth, module columns, params and multiply-adds."""
    from netgen.compile import compile_file
    from netgen.summary import render_table, summarize

    try:
        spec, graph = compile_file(spec_path, input_size)
    except SpecError as exc:
        _report(exc)
        raise typer.Exit(EXIT_SPEC_ERROR) from None
    _print(graph.warnings)
    result = summarize(spec, graph)
    _echo(json.dumps(result, indent=2) if as_json else render_table(result))


@app.command()
def build(
    specs: Annotated[list[str], typer.Argument(help="One or more YAML network specs.", show_default=False)],
    out: Annotated[str, typer.Option("--out", help="Folder for the generated files.")] = "generated",
    weights: Annotated[
        str | None, typer.Option("--weights", help="A state_dict of the generated module to put into the ONNX model.")
    ] = None,
    check_only: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 3 with a diff if the files in --out are stale.")
    ] = False,
    inline_functions: Annotated[
        bool, typer.Option("--inline-functions", help="Emit ONNX blocks as plain nodes instead of local functions.")
    ] = False,
    opset: Annotated[
        int | None,
        typer.Option("--opset", min=13, max=28, help="The ONNX opset to write, from 13 to 28 (default: 28).", show_default=False),
    ] = None,
) -> None:
    """Write <name>.py (PyTorch) and <name>.onnx (+ <name>.onnx.txt, its graph as text) for each spec."""
    from pathlib import Path

    from netgen.build import load_weights, module_name, output_stem, render_all, stale, write_all
    from netgen.compile import compile_file

    if weights is not None and len(specs) != 1:
        raise typer.BadParameter("--weights belongs to one spec; build one spec at a time with it")
    out_dir = Path(out)
    try:
        if out_dir.exists() and not out_dir.is_dir():
            _usage_error(f"--out {out} is not a folder")
    except OSError as exc:  # a name too long for the file system, say
        _os_failure(exc, "write")
    builds: dict[str, str] = {}  # output name, lower case as some file systems compare it -> spec
    for path in specs:
        other = builds.setdefault(module_name(path).lower(), path)
        if other != path or specs.count(path) > 1:
            _usage_error(f"{other} and {path} would both write {out_dir / module_name(path)}.py; build them into different --out folders")
    failed = outdated = False
    for path in specs:
        try:
            state = load_weights(weights) if weights is not None else None
            spec, graph = compile_file(path)
            _print(graph.warnings)
            artifacts = render_all(spec, graph, output_stem(path), state, inline_functions, opset)
        except SpecError as exc:
            _report(exc)
            failed = True
            continue
        if check_only:
            try:
                diffs = stale(out_dir, artifacts)
            except OSError as exc:
                _os_failure(exc, "read")
            for diff in diffs:
                _echo(diff, nl=False)
            if diffs:
                outdated = True
                _echo(f"{path}: {out_dir}/ is stale; run: netgen build {path} --out {out}", err=True)
            else:
                _echo(f"{path}: {out_dir}/ is up to date")
            continue
        try:
            written = write_all(out_dir, artifacts)
        except OSError as exc:
            _os_failure(exc, "write")
        for target in written:
            _echo(f"wrote {target}")
    if failed:
        raise typer.Exit(EXIT_SPEC_ERROR)
    if outdated:
        raise typer.Exit(EXIT_STALE)


@app.command()
def verify(
    spec_path: SpecArg,
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="A reference table to check against (default: the spec's `reference`, relative to the spec file)."),
    ] = None,
    runtime: Annotated[
        bool,
        typer.Option("--runtime", help="Also run the generated PyTorch module and check every layer's real output shape and parameter count against the IR."),
    ] = False,
) -> None:
    """Compare a spec with its paper's table cell by cell; exit 3 on a difference that is neither a documented erratum nor a declared deviation."""
    from netgen.compile import compile_file
    from netgen.verify.reference import load_reference, reference_path
    from netgen.verify.render import render, render_runtime
    from netgen.verify.table import verify as verify_spec

    try:
        spec, graph = compile_file(spec_path)
        result = verify_spec(spec, graph, load_reference(reference_path(spec, reference)))
        if runtime:
            from netgen.verify.runtime import check_runnable

            check_runnable(spec, graph)
    except SpecError as exc:
        _report(exc)
        raise typer.Exit(EXIT_SPEC_ERROR) from None
    _print(graph.warnings)
    _echo(render(result))
    ok = result.ok
    if runtime:
        from netgen.verify.runtime import run_generated

        ran = run_generated(spec, graph)
        _echo("\n" + render_runtime(ran))
        ok = ok and ran.ok
    if not ok:
        raise typer.Exit(EXIT_STALE)


def _terminated(signum: int, _frame) -> NoReturn:
    raise SystemExit(128 + signum)


def main() -> None:
    """Entry point: any exception that is not a diagnostic is netgen's bug, reported in one line."""
    # Stopped like Ctrl-C, by an exception, so that `build` removes its temporary files on the way out.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("NETGEN_TRACEBACK"):
            raise
        print(
            escape(f"netgen: internal error: {type(exc).__name__}: {exc}", keep="") + "\n"
            "This is a bug in netgen, not in your spec. Run again with NETGEN_TRACEBACK=1 to see the traceback.",
            file=sys.stderr,
        )
        sys.exit(EXIT_INTERNAL)
