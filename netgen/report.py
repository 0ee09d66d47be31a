"""A spec's report as Markdown: its layers with their counts, its totals and their conventions,
its check against the paper's table (errata and deviations explained), and its diagram.

`netgen report` writes it as <name>.md; generated/ holds one per spec in specs/."""

from __future__ import annotations

from typing import Any

from netgen.backends.diagram import make_diagram, to_mermaid
from netgen.build import Artifact
from netgen.diagnostics import SpecError
from netgen.ir.graph import Graph
from netgen.printable import markdown_code, markdown_text
from netgen.spec.model import Spec
from netgen.summary import count_text, size_text, summarize, type_text
from netgen.verify.claims import check_claims
from netgen.verify.reference import spec_reference
from netgen.verify.render import SYMBOLS, describe, explanation, header, verdict
from netgen.verify.table import LAYER, Mark, VerifyResult, verify

MARK_WORDS = {Mark.ERRATUM: "erratum", Mark.DEVIATION: "deviation", Mark.MISMATCH: "**MISMATCH**"}


def report_artifact(spec: Spec, graph: Graph, stem: str) -> Artifact:
    return Artifact(f"{stem}.md", report_markdown(spec, graph).encode(), golden=True)


def report_markdown(spec: Spec, graph: Graph) -> str:
    summary = summarize(spec, graph)
    c, h, w = summary["input"]
    # Every text from the spec or its reference is escaped for Markdown: it shows as written and
    # adds no heading, code block, link or HTML of its own.
    lines = [f"# {markdown_text(spec.name)}", ""]
    if spec.description:
        lines += [markdown_text(spec.description), ""]
    lines += [
        f"Compiled from {markdown_code(spec.path)} for a {h}x{w}x{c} input and {spec.num_classes} classes. "
        f"Written by {markdown_code(f'netgen report {spec.path}')}; edit the spec, not this file.",
        "",
        "## Layers",
        "",
        *_layers(summary),
        "",
        *_totals(summary),
    ]
    if spec.claims:
        lines += ["", *_claims(spec, graph)]
    if spec.reference is not None:
        result = verify(spec, graph, spec_reference(spec, None))
        lines += ["", *_verification(result)]
    lines += ["", "## Diagram", "", "```mermaid", to_mermaid(make_diagram(spec, graph, "module")).rstrip(), "```", ""]
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """A table of cells already written as Markdown."""
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    return ["| " + " | ".join(cells) + " |" for cells in [header, rule, *rows]]


def _layers(summary: dict[str, Any]) -> list[str]:
    columns = summary["module_columns"]
    header = ["layer", "type", "patch/stride", "output size", "depth", *columns, "params", "MACs"]

    def cells(row: dict[str, Any]) -> list[str]:
        module = [str(row["module"].get(column, "")) for column in columns]
        depth = str(row["depth"]) if row["depth"] else ""
        counts = [count_text(row["params"]), count_text(row["macs"])]
        texts = [row["name"], type_text(row), row["patch"] or "", size_text(row["output"]), depth, *module, *counts]
        return [_cell(text) for text in texts]

    totals = summary["totals"]
    total = ["**total**", "", "", "", str(totals["depth"]), *[""] * len(columns), count_text(totals["params"]), count_text(totals["macs"])]
    right = set(range(4, len(header)))
    lines = _table(header, [*(cells(row) for row in summary["rows"]), total], right)
    if summary["heads"]:
        lines += ["", "Heads, used in training only and left out of the totals:", ""]
        heads = [
            [
                _cell(text)
                for text in (head["name"], type_text(head), head["from"], f"{head['loss_weight']:g}", size_text(head["output"]), count_text(head["params"]), count_text(head["macs"]))
            ]
            for head in summary["heads"]
        ]
        lines += _table(["head", "type", "from", "loss weight", "output size", "params", "MACs"], heads, {3, 5, 6})
    return lines


def _totals(summary: dict[str, Any]) -> list[str]:
    totals, conventions = summary["totals"], summary["conventions"]
    lines = [
        f"- params: {totals['params']:,} ({totals['weights']:,} weights + {totals['biases']:,} biases; {conventions['params']})",
        f"- multiply-adds: {totals['macs']:,} ({conventions['macs']})",
        f"- depth: {totals['depth']} layers with weights, {totals['depth_with_pooling']} with pooling ({conventions['depth']})",
    ]
    if summary["heads"]:
        lines.append(f"- params with heads: {totals['params_with_heads']:,}")
    return [*lines, "- counts are exact; sizes are HxWxC, as the papers print them"]


def _claims(spec: Spec, graph: Graph) -> list[str]:
    """The design's own targets, each with the network's value; K, M, G in a claim are 10^3, 10^6, 10^9."""
    checks, problems = check_claims(spec, graph)
    if problems:
        raise SpecError(problems)
    rows = [
        [
            _cell(check.label),
            markdown_code(check.stated, in_table=True),
            _cell(check.computed + (f" ({check.detail})" if check.detail else "")),
            "holds" if check.ok else "**FAILED**",
        ]
        for check in checks
    ]
    held = sum(check.ok for check in checks)
    return [
        "## Claims",
        "",
        "What the spec's `claims:` state (a claim's K, M and G are 10^3, 10^6 and 10^9), and what the network has.",
        "",
        *_table(["claim", "stated", "computed", ""], rows, set()),
        "",
        f"Verdict: {held} of {len(checks)} claims hold.",
    ]


def _verification(result: VerifyResult) -> list[str]:
    lines = ["## Against the paper", "", markdown_code(result.reference_path) + (f": {markdown_text(result.title)}" if result.title else "") + ".", ""]
    lines += [
        "Each row as printed; where the spec differs, the cell shows the printed value, an arrow and the spec's value, "
        "marked `*` for an erratum of the paper, `~` for a declared deviation, `!` for an undocumented mismatch. "
        f"Counts are in the paper's units: params in K = {result.k:,} weights, ops in M = {result.m:,} multiply-adds.",
        "",
    ]
    # A column's title is the reference's, as the paper prints it.
    header_row = ["row", *(_cell(header(result, column)) for column in result.columns), "spec layers"]
    rows = []
    for row in result.rows:
        differing = {check.cell: check for check in row.checks if check.mark is not Mark.AGREE}
        missing = differing.pop(LAYER, None)
        cells = []
        for column, printed in zip(result.columns, row.printed, strict=True):
            check = differing.get(column)
            shown = _cell(printed or "")
            cell = shown if check is None else f"{shown or '(blank)'} → {_cell(check.computed) or '(blank)'} {_symbol(check)}"
            cells.append(cell)
        layers = _cell(", ".join(row.layers)) if missing is None else f"(none) {_symbol(missing)}"
        rows.append([_cell(row.id), *cells, layers])
    lines += _table(header_row, rows, set())
    if result.totals:
        lines += ["", "| whole network | the paper | computed | |", "| --- | --- | --- | --- |"]
        for check in result.totals:
            mark = "" if check.mark in (Mark.AGREE, Mark.REPORTED) else MARK_WORDS[check.mark]
            if check.mark is Mark.REPORTED:
                mark = f"reported: {_cell(check.note)}"
            lines.append(f"| {_cell(check.cell)} | {_cell(check.printed)} | {_cell(check.computed)} | {mark} |")
    differences = result.differences
    if differences:
        lines += ["", f"Differences from the printed table ({len(differences)}):", ""]
        for mark in (Mark.ERRATUM, Mark.DEVIATION, Mark.MISMATCH):
            for check in differences:
                if check.mark is mark:
                    why = explanation(check)
                    lines.append(f"- {MARK_WORDS[mark]}: {markdown_text(describe(check))}" + (f"; {markdown_text(why)}" if why else ""))
    return [*lines, "", f"Verdict: {markdown_text(verdict(result))}"]


def _cell(text: str) -> str:
    """A table cell's text, shown as written."""
    return markdown_text(text, in_table=True)


def _symbol(check) -> str:
    return f"`{SYMBOLS[check.mark]}`" if check.mark in SYMBOLS else ""

