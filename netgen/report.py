"""A spec's report as Markdown: its layers with their counts, its totals and their conventions,
its check against the paper's table (errata and deviations explained), and its diagram.

`netgen report` writes it as <name>.md; generated/ holds one per spec in specs/."""

from __future__ import annotations

from typing import Any

from netgen.backends.diagram import make_diagram, to_mermaid
from netgen.build import Artifact
from netgen.ir.graph import Graph
from netgen.printable import markdown_code, markdown_text
from netgen.spec.model import Spec
from netgen.summary import kilo, mega, summarize
from netgen.verify.reference import spec_reference
from netgen.verify.render import HEADERS, SYMBOLS, describe, explanation, verdict
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
        c, h, w = row["output"]
        module = [str(row["module"].get(column, "")) for column in columns]
        depth = str(row["depth"]) if row["depth"] else ""
        texts = [row["name"], row["type"], row["patch"] or "", f"{h}x{w}x{c}", depth, *module, kilo(row["params"]), mega(row["macs"])]
        return [markdown_text(text) for text in texts]

    totals = summary["totals"]
    total = ["**total**", "", "", "", str(totals["depth"]), *[""] * len(columns), kilo(totals["params"]), mega(totals["macs"])]
    right = set(range(4, len(header)))
    lines = _table(header, [*(cells(row) for row in summary["rows"]), total], right)
    if summary["heads"]:
        lines += ["", "Heads, used in training only and left out of the totals:", ""]
        heads = [
            [
                markdown_text(text)
                for text in (head["name"], head["type"], head["from"], f"{head['loss_weight']:g}", f"{head['output'][1]}x{head['output'][2]}x{head['output'][0]}", kilo(head["params"]), mega(head["macs"]))
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
    return [*lines, "- K = 1024 and M = 10^6, as Table 1 of the GoogLeNet paper counts"]


def _verification(result: VerifyResult) -> list[str]:
    lines = ["## Against the paper", "", markdown_code(result.reference_path) + (f": {markdown_text(result.title)}" if result.title else "") + ".", ""]
    lines += [
        "Each row as printed; where the spec differs, the cell shows the printed value, an arrow and the spec's value, "
        "marked `*` for an erratum of the paper, `~` for a declared deviation, `!` for an undocumented mismatch.",
        "",
    ]
    header = ["row", *(HEADERS[column] for column in result.columns), "spec layers"]
    rows = []
    for row in result.rows:
        differing = {check.cell: check for check in row.checks if check.mark is not Mark.AGREE}
        missing = differing.pop(LAYER, None)
        cells = []
        for column, printed in zip(result.columns, row.printed, strict=True):
            check = differing.get(column)
            shown = markdown_text(printed or "")
            cell = shown if check is None else f"{shown or '(blank)'} → {markdown_text(check.computed) or '(blank)'} {_symbol(check)}"
            cells.append(cell)
        layers = markdown_text(", ".join(row.layers)) if missing is None else f"(none) {_symbol(missing)}"
        rows.append([markdown_text(row.id), *cells, layers])
    lines += _table(header, rows, set())
    if result.totals:
        lines += ["", "| whole network | the paper | computed | |", "| --- | --- | --- | --- |"]
        for check in result.totals:
            mark = "" if check.mark in (Mark.AGREE, Mark.REPORTED) else MARK_WORDS[check.mark]
            if check.mark is Mark.REPORTED:
                mark = f"reported: {markdown_text(check.note)}"
            lines.append(f"| {markdown_text(check.cell)} | {markdown_text(check.printed)} | {markdown_text(check.computed)} | {mark} |")
    differences = result.differences
    if differences:
        lines += ["", f"Differences from the printed table ({len(differences)}):", ""]
        for mark in (Mark.ERRATUM, Mark.DEVIATION, Mark.MISMATCH):
            for check in differences:
                if check.mark is mark:
                    why = explanation(check)
                    lines.append(f"- {MARK_WORDS[mark]}: {markdown_text(describe(check))}" + (f"; {markdown_text(why)}" if why else ""))
    return [*lines, "", f"Verdict: {markdown_text(verdict(result))}"]


def _symbol(check) -> str:
    return f"`{SYMBOLS[check.mark]}`" if check.mark in SYMBOLS else ""

