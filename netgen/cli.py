"""The command line. The only module that prints or exits.

Exit codes: 0 success; 1 the spec has errors (diagnostics printed); 2 wrong usage;
3 `build --check` found stale output, or `verify` an undocumented disagreement, a claim that does
not hold or a stale committed build; 4 `bench`: a backend failed or gave other logits;
70 an internal error in netgen itself.

Every command takes `--json`: stdout is then one JSON object holding the command's result and
`diagnostics`, a list of objects in the one schema `Diagnostic.as_json` defines.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from netgen import __version__
from netgen.diagnostics import Diagnostic, Severity, SpecError, count
from netgen.printable import escape, plural

EXIT_SPEC_ERROR = 1
EXIT_USAGE = 2
EXIT_STALE = 3
EXIT_BACKEND_FAILED = 4
EXIT_INTERNAL = 70

EXIT_CODES = """\
Exit codes:
0 success
1 the spec has errors, each printed as file:line:col: error: message \\[code]
2 wrong usage
3 stale output (build --check, report --check), or a difference from the paper that nothing documents, a claim that does not hold or a stale committed build (verify)
4 bench: a backend failed to run or gave other logits than the plain module (the others are measured)
70 a bug in netgen; NETGEN_TRACEBACK=1 shows its traceback

Start a spec with `netgen new mynet`, then `netgen check specs/mynet.yaml`. Colour only on a terminal, never with NO_COLOR set."""


def _show_values(params) -> list:
    """Help shows an option's value as its metavar (DIR, N), a flag as nothing; typer would show `<bool>`."""
    for param in params:
        metavar = param.metavar if isinstance(param, TyperOption) and not param.is_flag else None
        param.display_type_rich = lambda ctx, metavar=metavar: metavar
    return params


class _Group(TyperGroup):
    def get_params(self, ctx: typer.Context) -> list:
        return _show_values(super().get_params(ctx))

    def resolve_command(self, ctx: typer.Context, args: list[str]):
        # An unknown command (`netgen chek`) answers in JSON too when --json follows it.
        _Request.json = "--json" in args
        try:
            return super().resolve_command(ctx, args)
        except typer.TyperException as exc:
            _json_error(getattr(exc, "exit_code", EXIT_USAGE), exc.format_message())
            raise


class _Command(TyperCommand):
    """Usage lines as a reader writes them (`netgen build SPEC... [--out DIR] [--check]`), and
    help that shows an option's value as its metavar rather than a Python type."""

    def get_params(self, ctx: typer.Context) -> list:
        return _show_values(super().get_params(ctx))

    def make_context(self, info_name, args, parent=None, **extra):
        # Known before the options are parsed, so that a usage error in any of them answers in JSON.
        _Request.json = "--json" in args
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except typer.TyperException as exc:
            _json_error(getattr(exc, "exit_code", EXIT_USAGE), exc.format_message())
            raise

    def get_usage(self, ctx: typer.Context) -> str:
        # One line: click would wrap it at 80 columns, breaking `--inline-functions` at its hyphen.
        return f"Usage: {ctx.command_path} {' '.join(self.collect_usage_pieces(ctx))}"

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                word = param.metavar or param.name.upper()
                word += "..." if param.nargs != 1 and not word.endswith("...") else ""
                pieces.append(word if param.required else f"[{word}]")
            elif isinstance(param, TyperOption) and param.name != "help" and not param.hidden:
                flag = max(param.opts, key=len)
                pieces.append(f"[{flag}]" if param.is_flag else f"[{flag} {param.metavar or 'VALUE'}]")
        return pieces


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    help="Compile YAML network specs to PyTorch source and ONNX models, draw them, and check them against their paper.",
    epilog=EXIT_CODES,
)


def _command(example: str, **kwargs):
    """Every command: the usage above, and an example at the foot of its --help."""
    return app.command(cls=_Command, epilog=f"Example: {example}", **kwargs)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"netgen {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", help="Print netgen's version and exit.", callback=_show_version, is_eager=True)
    ] = False,
) -> None:
    from netgen.files import forget_reads

    forget_reads()  # what this command reads is what it must not write onto


# -- shared arguments and options -------------------------------------------------------------


class _Request:
    """What the command line asked for, as far as an error before the command's result needs it."""

    json = False  # --json: stdout is one JSON object whatever happens, an error of usage or netgen's own too
    output: _Output | None = None  # the command's output, once it has one: its diagnostics go with an error


def _json_error(code: int, message: str) -> None:
    """With --json, an error that ends the command is one JSON object on stdout: the exit code,
    the message, and the diagnostics reported before it."""
    if not _Request.json:
        return
    diagnostics = _Request.output.diagnostics if _Request.output is not None else []
    document = {"ok": False, "error": {"exit_code": code, "message": message}, "diagnostics": [d.as_json() for d in diagnostics]}
    typer.echo(json.dumps(document, indent=2))


def _usage_error(message: str) -> NoReturn:
    """A usage mistake: one line, no location, exit 2."""
    typer.echo(escape(f"netgen: error: {message}"), err=True)
    _json_error(EXIT_USAGE, message)
    raise typer.Exit(EXIT_USAGE)


def _os_failure(exc: OSError, verb: str) -> NoReturn:
    """A path the system refuses (not a folder, unwritable, a name too long): one line, usage."""
    where = f" {exc.filename}" if exc.filename is not None else ""
    _usage_error(f"cannot {verb}{where}: {exc.strerror or exc}")


def _out_folder(out_dir: Path, specs: list[str], suffix: str) -> None:
    """--out must be a folder (or not exist yet), and no two specs may write one file name."""
    try:
        if out_dir.exists() and not out_dir.is_dir():
            _usage_error(f"--out {out_dir} is not a folder")
    except OSError as exc:  # a name too long for the file system, say
        _os_failure(exc, "write")
    from netgen.build import module_name

    builds: dict[str, str] = {}  # output name, lower case as some file systems compare it -> spec
    for path in specs:
        other = builds.setdefault(module_name(path).lower(), path)
        if other != path or specs.count(path) > 1:
            _usage_error(
                f"{other} and {path} would both write {out_dir / module_name(path)}{suffix}; build them into different --out folders"
            )


def _existing(paths: list[str] | str) -> list[str] | str:
    """A spec that is not there is a usage error, not a spec error at a made-up line 1."""
    for path in [paths] if isinstance(paths, str) else paths:
        if not os.path.exists(path):
            _usage_error(f"{path}: no such file")
    return paths


def _input_size(text: str | None) -> tuple[int, int, int] | None:
    """--input C,H,W, each within the limits a spec's `input` has."""
    if text is None:
        return None
    from netgen.spec.schema import MAX_SPATIAL

    if "x" in text.lower() or "×" in text:
        # HxWxC is how sizes print; what is written, as the spec's `input`, is channels first.
        raise typer.BadParameter(
            f"expected C,H,W with commas, channels first as the spec's `input`, such as 3,299,299; got {text!r} "
            "(sizes print as HxWxC: 299x299x3)"
        )
    parts = text.split(",")
    # ASCII digits only: int() would also read '3_0' and digits of other scripts ('٣').
    values = tuple(int(part) for part in parts) if all(re.fullmatch(r"[0-9]+", part) for part in parts) else ()
    if len(values) != 3 or not all(1 <= value <= MAX_SPATIAL for value in values):
        raise typer.BadParameter(f"expected C,H,W: three integers from 1 to {MAX_SPATIAL}, such as 3,299,299; got {text!r}")
    return values


def _max_layers(value: int | None) -> int | None:
    """--max-layers N: the ceiling keeps a check's time bounded, however large N is written."""
    from netgen.passes.expand import MAX_LAYERS_CEILING

    if value is not None and value > MAX_LAYERS_CEILING:
        raise typer.BadParameter(f"at most {MAX_LAYERS_CEILING:,}, the most a check can expand in bounded time; got {value:,}")
    return value


SpecArg = Annotated[
    str, typer.Argument(metavar="SPEC", help="Path to a YAML network spec.", show_default=False, callback=_existing)
]
SpecsArg = Annotated[
    list[str],
    typer.Argument(metavar="SPEC...", help="One or more YAML network specs.", show_default=False, callback=_existing),
]
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
MaxLayersOption = Annotated[
    int | None,
    typer.Option(
        "--max-layers",
        metavar="N",
        min=1,
        callback=_max_layers,
        help="Refuse a network that expands to more layers than this (default: 50,000; at most 1,000,000), and a spec file of more values; raise it for networks that really are that large.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object on stdout: the result and its diagnostics.")
]
OutDirOption = Annotated[str, typer.Option("--out", metavar="DIR", help="Folder for the generated files.")]
CheckOption = Annotated[
    bool, typer.Option("--check", help="Write nothing; exit 3 with a diff if the files in --out are stale.")
]


# -- output: one printer for diagnostics, text or JSON ----------------------------------------

_COLOURS = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.NOTE: "cyan"}


def _colour(stream) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return not os.environ.get("NO_COLOR") and stream.isatty()


def _styled(diagnostic: Diagnostic) -> str:
    head, *notes = escape(diagnostic.render()).splitlines()
    word = f"{diagnostic.severity.value}:"
    head = head.replace(word, typer.style(word, fg=_COLOURS[diagnostic.severity], bold=True), 1)
    notes = [line.replace("note:", typer.style("note:", fg=_COLOURS[Severity.NOTE], bold=True), 1) for line in notes]
    return "\n".join([head, *notes])


class _Output:
    """What a command says: diagnostics and lines of text, or, with --json, one object at the end."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.diagnostics: list[Diagnostic] = []
        _Request.output = self

    def report(self, diagnostics: list[Diagnostic]) -> None:
        """Diagnostics of one spec, then their tally ('2 errors, 1 warning')."""
        self.diagnostics += diagnostics
        if self.as_json or not diagnostics:
            return
        colour = _colour(sys.stderr)
        for diagnostic in diagnostics:
            # Spec text and paths may hold what a terminal obeys (ESC, CR, U+202E): shown as escapes.
            typer.echo(_styled(diagnostic) if colour else escape(diagnostic.render()), err=True, color=colour)
        typer.echo(count(diagnostics), err=True)

    def line(self, text: str, err: bool = False, nl: bool = True, keep: str = "\n") -> None:
        """A line for the terminal: what it would obey shown as escapes, but the characters in
        `keep`, which a machine-readable text (DOT's tabs) has escaped in its own syntax already."""
        if not self.as_json:
            typer.echo(escape(text, keep=keep), err=err, nl=nl)

    def finish(self, code: int = 0, **result: Any) -> None:
        if self.as_json:
            document = {**result, "ok": code == 0, "diagnostics": [d.as_json() for d in self.diagnostics]}
            typer.echo(json.dumps(document, indent=2))
        if code:
            raise typer.Exit(code)

    @contextlib.contextmanager
    def progress(self, message: str):
        """A spinner on stderr for steps that take seconds (building, running a model); only on a terminal."""
        if self.as_json or not sys.stderr.isatty():
            yield
            return
        from rich.console import Console

        with Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR"))).status(message):
            yield


    @contextlib.contextmanager
    def progress_bar(self, total: int):
        """A progress bar on stderr, advanced by calling what this yields with what is being done; only on a terminal."""
        if self.as_json or not sys.stderr.isatty():
            yield lambda _description: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")))
        columns = (TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("starting", total=total)
            yield lambda description: bar.update(task, advance=1, description=escape(description))


def _compiled(out: _Output, path: str, input_size=None, max_layers: int | None = None):
    """(spec, graph) with its warnings reported, or None after reporting its errors."""
    from netgen.compile import compile_file

    try:
        spec, graph = compile_file(path, input_size, max_layers)
    except SpecError as exc:
        out.report(exc.diagnostics)
        return None
    out.report(graph.warnings)
    return spec, graph


def _compiled_or_exit(out: _Output, path: str, input_size=None, max_layers: int | None = None):
    """(spec, graph) for a command that reads one spec; a spec with errors ends the command."""
    compiled = _compiled(out, path, input_size, max_layers)
    if compiled is None:
        out.finish(EXIT_SPEC_ERROR)
    return compiled


# -- commands ----------------------------------------------------------------------------------


@_command("netgen check specs/googlenet.yaml --input 3,299,299")
def check(
    specs: SpecsArg,
    input_size: InputOption = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors (exit 1).")] = False,
    max_layers: MaxLayersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compile specs and plan the generated module, writing nothing; print every diagnostic with its file:line:col."""
    from netgen.check import check_spec

    out = _Output(as_json)
    results = []
    for path in specs:
        checked = check_spec(path, input_size, max_layers, strict)
        out.report(checked.diagnostics)
        if not checked.ok:
            results.append({"spec": path, "ok": False})
            continue
        spec, graph = checked.spec, checked.graph
        c, h, w = graph[graph.output].shape if len(graph[graph.output].shape) == 3 else (graph[graph.output].shape[0], 1, 1)
        results.append({"spec": path, "ok": True, "name": spec.name, "output": [c, h, w]})
        held = f", {plural(len(spec.claims), 'claim holds', 'claims hold')}" if spec.claims and input_size is None else ""
        out.line(f"{path}: ok ({spec.name}, output {h}x{w}x{c}{held})")
    out.finish(EXIT_SPEC_ERROR if not all(result["ok"] for result in results) else 0, specs=results)


@_command("netgen summary specs/googlenet.yaml --depth 2")
def summary(
    spec_path: SpecArg,
    depth: Annotated[
        int,
        typer.Option("--depth", metavar="N", min=1, max=16, help="Rows down to this depth: 1 the network's layers, 2 their branches and repeats, and so on."),
    ] = 1,
    as_json: JsonOption = False,
    input_size: InputOption = None,
    max_layers: MaxLayersOption = None,
) -> None:
    """Print a Table-1-like summary: output sizes, depth, module columns, params and multiply-adds."""
    from netgen.summary import render_table, render_tree, summarize

    out = _Output(as_json)
    compiled = _compiled_or_exit(out, spec_path, input_size, max_layers)
    result = summarize(*compiled, depth=depth)
    out.line(render_table(result) if depth == 1 else render_tree(result))
    out.finish(0, **result)


@_command("netgen build specs/googlenet.yaml --out generated")
def build(
    specs: SpecsArg,
    out_dir: OutDirOption = "generated",
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            metavar="FILE",
            help="A state_dict of the generated module to put into the ONNX model: a .safetensors file (save_weights() writes one), or a torch.save pickle, read with weights_only=True.",
        ),
    ] = None,
    check_only: CheckOption = False,
    inline_functions: Annotated[
        bool, typer.Option("--inline-functions", help="Emit ONNX blocks as plain nodes instead of local functions.")
    ] = False,
    opset: Annotated[
        int | None,
        typer.Option("--opset", metavar="N", min=13, max=28, help="The ONNX opset to write, from 13 to 28 (default: 28).", show_default=False),
    ] = None,
    optimize: Annotated[
        bool,
        typer.Option(
            "--optimize",
            help="Build for inference: the module gains for_inference() and from_plain() (batch norm folded, 1x1 convolutions of one input fused, channels_last), and the ONNX model is rewritten the same way.",
        ),
    ] = False,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile",
            help="Run each of the spec's rows in forward() inside a torch.profiler range named <Class>.<row>, so a profiler attributes time to the spec's rows (netgen bench --per-layer does); without it the module has no ranges and pays nothing.",
        ),
    ] = False,
    input_size: InputOption = None,
    max_layers: MaxLayersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write <name>.py (PyTorch) and <name>.onnx (+ <name>.onnx.txt, its graph as text) for each spec."""
    from netgen.build import load_weights, output_stem, render_all, weights_limit

    if weights is not None and len(specs) != 1:
        raise typer.BadParameter("--weights belongs to one spec; build one spec at a time with it")
    _out_folder(Path(out_dir), specs, ".py")
    out = _Output(as_json)
    failed = False
    results = []
    for path in specs:
        state = None
        with out.progress(f"building {path}"):
            try:
                compiled = _compiled(out, path, input_size, max_layers)
                state = load_weights(weights, weights_limit(compiled[1])) if weights is not None and compiled else None
                artifacts = render_all(*compiled, output_stem(path), state, inline_functions, opset, optimize, profile) if compiled else None
            except SpecError as exc:
                out.report(exc.diagnostics)
                artifacts = None
        if artifacts is None:
            failed = True
            results.append({"spec": path, "ok": False})
            continue
        if state is not None:
            out.line(f"read {weights} {state.how}")
        result = _write_or_compare(out, path, Path(out_dir), artifacts, check_only, "build")
        if state is not None:
            result["weights"] = {"file": weights, "read": state.how}
        results.append(result)
    _finish_writes(out, failed, results)


def _write_or_compare(out: _Output, path: str, out_dir: Path, artifacts, check_only: bool, command: str) -> dict:
    """Write a spec's artefacts, or with --check compare them with what is there."""
    from netgen.build import stale, stale_names, write_all

    if check_only:
        try:
            diffs = stale(out_dir, artifacts)
        except OSError as exc:
            _os_failure(exc, "read")
        if diffs:
            # The way out first; the diff, which can run to thousands of lines, after it.
            out.line(f"{path}: {out_dir}/ is stale; run: netgen {command} {path} --out {out_dir}", err=True)
        for diff in diffs:
            out.line(diff, nl=False)
        if not diffs:
            out.line(f"{path}: {out_dir}/ is up to date")
        return {"spec": path, "ok": not diffs, "stale": stale_names(out_dir, artifacts)}
    try:
        written = write_all(out_dir, artifacts)
    except OSError as exc:
        _os_failure(exc, "write")
    for target in written:
        out.line(f"wrote {target}")
    return {"spec": path, "ok": True, "written": [str(target) for target in written]}


def _finish_writes(out: _Output, failed: bool, results: list[dict]) -> None:
    outdated = any(result.get("stale") for result in results)
    out.finish(EXIT_SPEC_ERROR if failed else EXIT_STALE if outdated else 0, specs=results)


ReferenceOption = Annotated[
    str | None,
    typer.Option(
        "--reference",
        metavar="FILE",
        help="A reference table to check against (default: the spec's `reference`, relative to the spec file).",
    ),
]


@_command("netgen verify specs/*.yaml --runtime")
def verify(
    specs: SpecsArg,
    reference: ReferenceOption = None,
    runtime: Annotated[
        bool,
        typer.Option("--runtime", help="Also run the generated PyTorch module and check every layer's real output shape and parameter count against the IR."),
    ] = False,
    generated: Annotated[
        str | None,
        typer.Option(
            "--generated",
            metavar="DIR",
            help="Also hold the files netgen build wrote for each spec into DIR (and its report, where DIR has one) to what the spec builds to now.",
            show_default=False,
        ),
    ] = None,
    max_layers: MaxLayersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Hold each spec to its paper's table (cell by cell), its claims, with --runtime its generated module, and with --generated its committed build; exit 3 on any difference that nothing documents."""
    if reference is not None and len(specs) != 1:
        raise typer.BadParameter("--reference belongs to one spec; verify one spec at a time with it")
    folder = Path(generated) if generated is not None else None
    if folder is not None and not folder.is_dir():
        _usage_error(f"--generated {generated} is not a folder")
    out = _Output(as_json)
    results = []
    for index, path in enumerate(specs):
        if index:
            out.line("")
        results.append(_verify_one(out, path, reference, runtime, folder, max_layers))
    failed = [result for result in results if result["ok"] is None]
    differ = [result for result in results if result["ok"] is False]
    if len(specs) > 1:
        counts = [f"{len(specs) - len(failed) - len(differ)} ok"]
        counts += [f"{len(differ)} with differences ({', '.join(r['spec'] for r in differ)})"] if differ else []
        counts += [f"{len(failed)} with errors ({', '.join(r['spec'] for r in failed)})"] if failed else []
        out.line(f"\nverified {plural(len(specs), 'spec', 'specs')}: {', '.join(counts)}")
    for result in failed:
        result["ok"] = False
    # One spec's result is also the document itself, as it was before verify took several.
    single = {key: value for key, value in results[0].items() if key not in ("spec", "ok")} if len(results) == 1 else {}
    out.finish(EXIT_SPEC_ERROR if failed else EXIT_STALE if differ else 0, specs=results, **single)


def _verify_one(out: _Output, path: str, reference: str | None, runtime: bool, generated: Path | None, max_layers: int | None) -> dict:
    """Verify one spec, printing as it goes; `ok` is None when the spec has errors."""
    from netgen.verify.render import render, render_claims, render_runtime, result_json, runtime_json

    verified = _verified(out, path, reference, runtime, max_layers)
    if verified is None:
        return {"spec": path, "ok": None}
    spec, graph, result, claims = verified
    document: dict[str, Any] = {"spec": path, "ok": True, "verify": None, "claims": None, "runtime": None, "generated": None}
    if result is not None:
        out.line(render(result))
        document["verify"] = result_json(result)
    if spec.claims:
        out.line(("\n" if result is not None else "") + render_claims(spec, claims))
        document["claims"] = [_claim_json(check) for check in claims]
    if result is None and not spec.claims:
        out.line(
            f"{spec.name} ({path}): no reference table and no claims to hold it to; "
            "state the design's targets under `claims:`, or name its paper's table with `reference:`"
        )
    ok = (result is None or result.ok) and all(check.ok for check in claims)
    if runtime:
        with out.progress(f"running the generated module of {path}"):
            from netgen.verify.runtime import run_generated

            ran = run_generated(spec, graph)
        out.line("\n" + render_runtime(ran))
        ok, document["runtime"] = ok and ran.ok, runtime_json(ran)
    if generated is not None:
        with out.progress(f"comparing {generated}/ with {path}"):
            compared = _compared(out, spec, graph, path, generated)
        if compared is None:
            document["ok"] = None
            return document
        names, outdated = compared
        document["generated"] = {"folder": str(generated), "compared": names, "stale": outdated}
        if outdated:
            missing = [name for name in outdated if not Path(name).exists()]
            phrases = [_are(missing, "missing"), _are([name for name in outdated if name not in missing], "stale")]
            out.line(f"\n{path}: {'; '.join(filter(None, phrases))}; run: {_rebuild(path, generated, outdated)}")
        else:
            out.line(f"\n{path}: {', '.join(names)} {'is' if len(names) == 1 else 'are'} up to date")
        ok = ok and not outdated
    document["ok"] = ok
    return document


def _compared(out: _Output, spec, graph, path: str, folder: Path) -> tuple[list[str], list[str]] | None:
    """(the files compared, those of them missing or stale), or None after reporting why the spec
    does not build. The build's files must be in `folder`; its report is compared where it is there."""
    from netgen.build import output_stem, render_all, stale_names
    from netgen.report import report_artifact

    try:
        stem = output_stem(path)
        artifacts = [artifact for artifact in render_all(spec, graph, stem) if artifact.golden]
        report = report_artifact(spec, graph, stem)
        if (folder / report.name).exists():
            artifacts.append(report)
        return [str(folder / artifact.name) for artifact in artifacts], stale_names(folder, artifacts)
    except SpecError as exc:
        out.report(exc.diagnostics)
        return None
    except OSError as exc:
        _os_failure(exc, "read")


def _are(names: list[str], what: str) -> str:
    """'a.py is missing', 'a.py, b.md are stale', or nothing for no names."""
    return f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} {what}" if names else ""


def _rebuild(path: str, folder: Path, outdated: list[str]) -> str:
    """The commands that write the stale files again."""
    where = "" if folder == Path("generated") else f" --out {folder}"
    commands = []
    if any(not name.endswith(".md") for name in outdated):
        commands.append(f"netgen build {path}{where}")
    if any(name.endswith(".md") for name in outdated):
        commands.append(f"netgen report {path}{where}")
    return " && ".join(commands)


def _claim_json(check) -> dict:
    return {"claim": check.label, "stated": check.stated, "computed": check.computed, "ok": check.ok, "where": str(check.claim.span)}


def _verified(out: _Output, spec_path: str, reference: str | None, runtime: bool = False, max_layers: int | None = None):
    """(spec, graph, the table's verify result or None, the claims judged), or None after reporting
    why there is none. A spec without a reference table is verified against its claims alone."""
    from netgen.verify.claims import check_claims
    from netgen.verify.reference import spec_reference
    from netgen.verify.table import verify as verify_spec

    compiled = _compiled(out, spec_path, max_layers=max_layers)
    if compiled is None:
        return None
    spec, graph = compiled
    try:
        result = None
        if reference is not None or spec.reference is not None:
            result = verify_spec(spec, graph, spec_reference(spec, reference))
        claims, problems = check_claims(spec, graph)
        if problems:
            raise SpecError(problems)
        if runtime:
            from netgen.verify.runtime import check_runnable

            check_runnable(spec, graph)  # before allocating anything
        return spec, graph, result, claims
    except SpecError as exc:
        out.report(exc.diagnostics)
        return None


def _batches(text: str | None) -> tuple[int, ...] | None:
    """--batch 1,8,32: batch sizes, each at least 1."""
    if text is None:
        return None
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(1 <= value <= 65536 for value in values):
        raise typer.BadParameter(f"expected batch sizes from 1 to 65536 separated by commas, such as 1,8,32; got {text!r}")
    return tuple(dict.fromkeys(values))


BACKENDS = ("eager", "optimize", "compile", "onnxruntime")


def _backends(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in BACKENDS]
    if unknown or not names:
        raise typer.BadParameter(f"expected some of {','.join(BACKENDS)} separated by commas; got {text!r}")
    return names


class Device(StrEnum):
    CPU = "cpu"
    CUDA = "cuda"


@_command("netgen bench specs/googlenet.yaml --batch 1,8 --per-layer")
def bench(
    spec_path: SpecArg,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch",
            metavar="N,N,...",
            help="Batch sizes to measure (default: 1,8,32; with --train 8,32; with --quick 1, or 2 with --train).",
            callback=_batches,
            show_default=False,
        ),
    ] = None,
    input_size: InputOption = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            metavar="NAME,...",
            help="Backends to measure: eager (the generated module), optimize (build --optimize's from_plain), compile (torch.compile; its compile time is reported apart), onnxruntime (the ONNX model). Default: every one that runs here, and with --train eager and compile.",
            callback=_backends,
            show_default=False,
        ),
    ] = None,
    train: Annotated[
        bool, typer.Option("--train", help="Measure a training step (forward, training_loss, backward, SGD) instead of inference.")
    ] = False,
    device: Annotated[
        Device | None,
        typer.Option("--device", metavar="cpu|cuda", help="Where to run (default: cuda when PyTorch sees a GPU, else cpu).", show_default=False),
    ] = None,
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help="Weights and inputs in channels_last memory format (for GPUs' tensor cores).")
    ] = False,
    bf16: Annotated[bool, typer.Option("--bf16", help="Run under bfloat16 autocast (for GPUs; ONNX Runtime stays float32).")] = False,
    per_layer: Annotated[
        bool,
        typer.Option(
            "--per-layer",
            help="Also profile the module built with --profile and print a Table-1-like table: each row's measured ms and GFLOP/s beside its multiply-adds, naming the rows whose share of the time is far above their share of the multiply-adds.",
        ),
    ] = False,
    repeats: Annotated[int | None, typer.Option("--repeats", metavar="N", min=1, help="Timed calls per backend and batch size (default: 20; --quick 3).", show_default=False)] = None,
    warmup: Annotated[int | None, typer.Option("--warmup", metavar="N", min=1, help="Calls before the timed ones, the first included (default: 3; --quick 1).", show_default=False)] = None,
    threads: Annotated[int | None, typer.Option("--threads", metavar="N", min=1, help="CPU threads for PyTorch and ONNX Runtime (default: PyTorch's, one per core).", show_default=False)] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run: batch 1, 3 timed calls, 1 warm-up, torch.compile left out unless --backend names it.")
    ] = False,
    max_layers: MaxLayersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build the spec into a temporary folder and measure it here: latency (median, IQR), images/s, GFLOP/s and peak memory per backend and batch size."""
    gc.enable()  # main() leaves it off; PyTorch's compilers and profiler leave cycles behind
    out = _Output(as_json)
    spec, graph = _compiled_or_exit(out, spec_path, input_size, max_layers)
    import tempfile

    import torch

    from netgen.bench.candidates import Backend, BackendUnavailable, Settings
    from netgen.bench.render import render
    from netgen.bench.run import Plan, choose_backends, training_batch_problem
    from netgen.bench.run import bench as measure
    from netgen.bench.subject import built_subject
    from netgen.build import output_stem

    if device is None:
        device = Device.CUDA if torch.cuda.is_available() else Device.CPU
    elif device is Device.CUDA and not torch.cuda.is_available():
        _usage_error("--device cuda: PyTorch sees no GPU here (a CPU build of torch, or no driver); use --device cpu")
    if batch is None:
        batch = ((2,) if train else (1,)) if quick else ((8, 32) if train else (1, 8, 32))
    if train and (problem := training_batch_problem(graph, batch)):
        _usage_error(problem)
    settings = Settings(device.value, train, bf16, channels_last, threads or torch.get_num_threads())
    with tempfile.TemporaryDirectory(prefix="netgen-bench-") as folder:
        try:
            with out.progress(f"building {spec_path}"):
                subject = built_subject(spec, graph, output_stem(spec_path), Path(folder), per_layer)
        except SpecError as exc:  # a backend's own check: netgen's bug, reported as build reports it
            out.report(exc.diagnostics)
            out.finish(EXIT_SPEC_ERROR)
        try:
            requested = None if backend is None else [Backend(name) for name in backend]
            chosen, skipped = choose_backends(subject, requested, settings, quick)
        except BackendUnavailable as exc:
            _usage_error(str(exc))
        repeats, warmup = repeats or (3 if quick else 20), warmup or (1 if quick else 3)
        plan = Plan(batch, chosen, settings, repeats, warmup, per_layer, 1 if quick else 5, skipped)
        # The progress bar after the spinner: a terminal shows one live display at a time.
        with out.progress_bar(plan.calls) as heard:
            result = {"spec": spec_path, **measure(subject, plan, heard)}
    out.line(render(result))
    failed = [row for row in result["results"] if not row["ok"]]
    out.finish(EXIT_BACKEND_FAILED if failed else 0, **result)


class DiagramFormat(StrEnum):
    MERMAID = "mermaid"
    DOT = "dot"
    SVG = "svg"


class DiagramLevel(StrEnum):
    MODULE = "module"
    LAYER = "layer"


@_command("netgen graph specs/googlenet.yaml --format mermaid --level module")
def graph(
    spec_path: SpecArg,
    form: Annotated[
        DiagramFormat,
        typer.Option("--format", metavar="mermaid|dot|svg", help="Mermaid (renders in Markdown), Graphviz DOT, or SVG drawn by Graphviz's dot program."),
    ] = DiagramFormat.MERMAID,
    level: Annotated[
        DiagramLevel,
        typer.Option("--level", metavar="module|layer", help="One node per layer and head, or every op with a cluster per block and branch."),
    ] = DiagramLevel.MODULE,
    output: Annotated[
        str | None, typer.Option("--output", "-o", metavar="FILE", help="Write the diagram here instead of printing it.")
    ] = None,
    input_size: InputOption = None,
    max_layers: MaxLayersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Draw the network: each layer with its output size, params and multiply-adds."""
    from netgen.backends.diagram import diagram_json, make_diagram, to_dot, to_mermaid, to_svg

    out = _Output(as_json)
    compiled = _compiled_or_exit(out, spec_path, input_size, max_layers)
    diagram = make_diagram(*compiled, level.value)
    if form == "svg":
        with out.progress("drawing with Graphviz"):
            text = to_svg(diagram)
        if text is None:
            _usage_error("--format svg needs Graphviz's `dot` program: install Graphviz (apt-get install graphviz, brew install graphviz) or use --format dot")
    else:
        text = to_mermaid(diagram) if form == "mermaid" else to_dot(diagram)
    if output is not None:
        from netgen.files import write_files

        try:
            write_files([(Path(output), text.encode("utf-8"))])
        except OSError as exc:
            _os_failure(exc, "write")
        out.line(f"wrote {output}")
    else:
        # Mermaid, DOT and SVG escape every character a terminal would obey; their tabs are layout.
        out.line(text, nl=not text.endswith("\n"), keep="\n\t")
    out.finish(0, format=form.value, level=level.value, graph=diagram_json(diagram), text=text)


@_command("netgen report specs/googlenet.yaml --out generated")
def report(
    specs: SpecsArg,
    out_dir: OutDirOption = "generated",
    check_only: CheckOption = False,
    input_size: InputOption = None,
    max_layers: MaxLayersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write <name>.md for each spec: its summary, its check against the paper, and its diagram."""
    from netgen.build import output_stem
    from netgen.report import report_artifact

    _out_folder(Path(out_dir), specs, ".md")
    out = _Output(as_json)
    failed = False
    results = []
    for path in specs:
        compiled = _compiled(out, path, input_size, max_layers)
        if compiled is None:
            failed = True
            results.append({"spec": path, "ok": False})
            continue
        try:
            artifact = report_artifact(*compiled, output_stem(path))
        except SpecError as exc:
            out.report(exc.diagnostics)
            failed = True
            results.append({"spec": path, "ok": False})
            continue
        results.append(_write_or_compare(out, path, Path(out_dir), [artifact], check_only, "report"))
    _finish_writes(out, failed, results)


class DiffFormat(StrEnum):
    TEXT = "text"
    MD = "md"


@_command("netgen diff specs/googlenet.yaml specs/googlenet-bn.yaml --format md")
def diff(
    spec_a: Annotated[str, typer.Argument(metavar="A", help="The spec to compare from.", show_default=False, callback=_existing)],
    spec_b: Annotated[str, typer.Argument(metavar="B", help="The spec to compare to.", show_default=False, callback=_existing)],
    form: Annotated[
        DiffFormat, typer.Option("--format", metavar="text|md", help="Text for a terminal, or Markdown tables for a pull request.")
    ] = DiffFormat.TEXT,
    input_size: InputOption = None,
    max_layers: MaxLayersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare two specs row by row: layers added, removed and changed (output size, block arguments, params, multiply-adds) and the totals' change."""
    from netgen.diff import as_json as diff_json
    from netgen.diff import diff as compare
    from netgen.diff import render_markdown, render_text

    out = _Output(as_json)
    first = _compiled(out, spec_a, input_size, max_layers)
    second = _compiled(out, spec_b, input_size, max_layers)
    if first is None or second is None:
        out.finish(EXIT_SPEC_ERROR)
        return
    result = compare(first, second)
    text = render_markdown(result) if form == DiffFormat.MD else render_text(result)
    out.line(text, nl=not text.endswith("\n"))
    out.finish(0, diff=diff_json(result))


@_command("netgen schema > specs/netgen.schema.json")
def schema(as_json: JsonOption = False) -> None:
    """Print the JSON Schema of a spec, for editors (the loader validates with the same declarations)."""
    from netgen.spec.document import schema_text

    text = schema_text()
    out = _Output(as_json)
    out.line(text, nl=False)
    out.finish(0, schema=json.loads(text))


@_command("netgen new mynet --from specs/googlenet.yaml")
def new(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The new spec's name: writes <DIR>/<NAME>.yaml.", show_default=False)],
    source: Annotated[
        str | None, typer.Option("--from", metavar="SPEC", help="Start from a copy of this spec instead of a small example.")
    ] = None,
    out_dir: Annotated[str, typer.Option("--out", metavar="DIR", help="Folder to write the spec into.")] = "specs",
    as_json: JsonOption = False,
) -> None:
    """Write a new spec to start from, every field commented, and the JSON Schema beside it for the editor."""
    from netgen.build import module_name_problem, suggest_name
    from netgen.files import read_output, write_files
    from netgen.spec.document import SCHEMA_FILE, schema_text
    from netgen.spec.new import new_spec, spec_name

    if spec_name(name) is None:
        _usage_error(f"{name!r} is not a usable name: use letters, digits, '_' and '-', starting with a letter")
    stem = name.replace("-", "_")
    why = module_name_problem(stem)
    if why is not None:
        _usage_error(f"{name!r} is not a usable name: the generated module would be named {stem!r}, which {why}; choose another NAME, e.g. {suggest_name(stem)}")
    if source is not None:
        _existing(source)
    folder = Path(out_dir)
    _out_folder(folder, [], ".yaml")
    target = folder / f"{name}.yaml"
    if os.path.lexists(target):
        _usage_error(f"{target} exists already; choose another NAME or remove it")
    out = _Output(as_json)
    try:
        text, beside = new_spec(name, target, source)
    except SpecError as exc:
        out.report(exc.diagnostics)
        out.finish(EXIT_SPEC_ERROR)
    files = [] if (folder / SCHEMA_FILE).exists() else [(folder / SCHEMA_FILE, schema_text().encode())]
    try:
        for path, content in beside.items():
            there = read_output(path)
            if there is None:
                files.append((path, content))
            elif there != content:
                _usage_error(f"{path} exists already and differs from the file {source} reads there; remove it or choose another --out")
        files.append((target, text.encode()))
        for path, _ in files:
            path.parent.mkdir(parents=True, exist_ok=True)
        written = write_files(files)
    except OSError as exc:
        _os_failure(exc, "write")
    for path in written:
        out.line(f"wrote {path}")
    out.line(f"next: netgen check {target}")
    out.finish(0, written=[str(path) for path in written])


@_command("netgen lsp (started by the editor; README: Editor support)")
def lsp() -> None:
    """Run the language server on stdin and stdout, for editors: check's diagnostics as you type, each layer's output size, hover, go to definition, completion and quick fixes."""
    from netgen.lsp.server import serve

    gc.enable()  # main() leaves it off; the server runs it between checks (netgen.lsp.server)
    serve()


def _terminated(signum: int, _frame) -> NoReturn:
    raise SystemExit(128 + signum)


def _leave(code: int | str | None) -> NoReturn:
    """Exit as sys.exit(code) would, but without freeing every object of the compiled network one
    by one at shutdown, which after a 10,000-module check took over a second; every file is closed
    by now, so only the standard streams need flushing."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def main() -> None:
    """Entry point: any exception that is not a diagnostic is netgen's bug, reported in one line."""
    # A command's objects (a compiled network: a 10,000-module one is millions) live until the
    # process ends, so Python's cycle collector would only walk them to find nothing: the first
    # collection after a check of 10,000 modules took 0.4 s. It stays off; `bench`, which runs
    # PyTorch's compilers and profiler for minutes, and `lsp`, which runs for hours, turn it back on.
    gc.disable()
    # Stopped like Ctrl-C, by an exception, so that `build` removes its temporary files on the way out.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        app()
    except SystemExit as exc:
        _leave(exc.code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("NETGEN_TRACEBACK"):
            raise
        message = f"internal error: {type(exc).__name__}: {exc}"
        print(
            escape(f"netgen: {message}", keep="") + "\n"
            "This is a bug in netgen, not in your spec. Run again with NETGEN_TRACEBACK=1 to see the traceback.",
            file=sys.stderr,
        )
        _json_error(EXIT_INTERNAL, message)
        sys.exit(EXIT_INTERNAL)
