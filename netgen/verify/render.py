"""A verification result as text: the table as printed beside the spec, the whole-network
claims, then every difference with its explanation. Sizes print as HxWxC in ASCII."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netgen.printable import plural
from netgen.summary import as_chw
from netgen.verify.reference import Size
from netgen.verify.table import LAYER, TOTAL, Check, Mark, VerifyResult

if TYPE_CHECKING:  # running the generated module needs torch; rendering its result does not
    from netgen.spec.model import Spec
    from netgen.verify.claims import ClaimCheck
    from netgen.verify.runtime import RuntimeResult

SYMBOLS = {Mark.ERRATUM: "*", Mark.DEVIATION: "~", Mark.MISMATCH: "!"}
HEADERS = {
    "type": "type",
    "patch_size_stride": "patch",
    "input_size": "input size",
    "output_size": "output size",
    "depth": "depth",
    "n1x1": "#1x1",
    "n3x3_reduce": "#3x3r",
    "n3x3": "#3x3",
    "n5x5_reduce": "#5x5r",
    "n5x5": "#5x5",
    "pool_proj": "proj",
    "params": "params",
    "ops": "ops",
}
TEXT_COLUMNS = ("type", "patch_size_stride", "input_size", "output_size")


def header(result: VerifyResult, column: str) -> str:
    """A column's heading: netgen's short one, or a declared column's title as printed, in ASCII."""
    return (result.titles.get(column) or HEADERS[column]).replace("×", "x")
CLAIM_LABELS = {
    "depth": "depth (layers with weights)",
    "depth_with_pooling": "depth with pooling",
    "params": "params (weights)",
    "ops": "multiply-adds",
    "building_blocks": "building blocks",
}


def render(result: VerifyResult) -> str:
    lines = [f"{result.name} ({result.spec_path}) against {result.reference_path}"]
    if result.title:
        lines.append(result.title)
    lines += [
        f"counts in the reference's units, as the paper prints them: params in K = {result.k:,} weights, ops in M = {result.m:,} multiply-adds",
        "each row as printed; under it (->) the spec's value of each cell that differs: * erratum, ~ deviation, ! MISMATCH",
        "",
        *_table(result),
        "",
        *_totals(result),
    ]
    if result.unmapped_layers:
        lines += [
            "",
            f"layers with weights that no row describes (in the totals only): {', '.join(result.unmapped_layers)}",
        ]
    differences = result.differences
    if differences:
        lines += ["", f"differences from the printed table ({len(differences)}):"]
        # Undocumented differences last, next to the verdict.
        for mark in (Mark.ERRATUM, Mark.DEVIATION, Mark.MISMATCH):
            for check in differences:
                if check.mark is mark:
                    lines += _difference(check)
    if result.unused_deviations:
        lines.append("")
    for deviation in result.unused_deviations:
        lines.append(f"{deviation.span}: note: this deviation covers no differing cell: {deviation.reason}")
    lines += ["", verdict(result)]
    return "\n".join(lines)


def _table(result: VerifyResult) -> list[str]:
    """The table as printed, one line per row; under a row that differs, a `->` line holds the
    computed value of each differing cell with its mark."""
    columns = result.columns
    header_row = ["row", *(header(result, column) for column in columns), "spec layers"]
    lines = [header_row]
    for row in result.rows:
        lines.append([row.id, *row.printed, ", ".join(row.layers)])
        missing = row.check(LAYER)
        differing = {check.cell: check for check in row.checks if check.mark is not Mark.AGREE}
        if missing is not None and missing.mark is not Mark.AGREE:
            differing = {"type": missing}
        if differing:
            lines.append(["  ->", *(_computed(differing.get(column)) for column in columns), ""])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header_row))]
    left = {0, len(header_row) - 1, *(i + 1 for i, column in enumerate(columns) if column in TEXT_COLUMNS)}

    def fmt(line: list[str]) -> str:
        cells = (
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return [fmt(header_row), rule, *(fmt(line) for line in lines[1:])]


def _computed(check: Check | None) -> str:
    if check is None:
        return ""
    return f"{check.computed or '(blank)'}{SYMBOLS.get(check.mark, '')}"


def _totals(result: VerifyResult) -> list[str]:
    if not result.totals:
        return []
    rows = [["whole network", "the paper", "computed", ""]]
    for check in result.totals:
        verdict = "" if check.mark is Mark.AGREE else check.mark.value
        if check.mark is Mark.REPORTED:
            verdict = f"{verdict}: {check.note}"
        rows.append([CLAIM_LABELS.get(check.cell, check.cell), check.printed, check.computed, verdict])
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)), row[3]]).rstrip()
        for row in rows
    ]


def _difference(check: Check) -> list[str]:
    where = f"{check.span}: " if check.mark is Mark.MISMATCH and check.span else ""
    head = f"  {check.mark.value:<9}  {where}{describe(check)}"
    why = explanation(check)
    return [head, f"      {why}"] if why else [head]


def describe(check: Check) -> str:
    """A differing cell in words: 'conv1 (convolution) params: computed 9.19K (9,408 weights) vs printed 2.7K'."""
    if check.cell == LAYER:
        return f"{check.label}: no layer of the spec maps to this row (`row: {check.row}`)"
    computed = check.computed or "(blank)"
    if check.exact:
        computed += f" ({check.exact})"
    if check.row == TOTAL:
        return f"{check.label} {CLAIM_LABELS.get(check.cell, check.cell)}: computed {computed} vs claimed {check.printed}"
    return f"{check.label} {check.cell}: computed {computed} vs printed {check.printed or '(blank)'}"


def explanation(check: Check) -> str:
    """Why a cell differs: the erratum's or the deviation's reason, or what disagrees."""
    if check.mark is Mark.ERRATUM:
        return f"documented erratum: {check.note}"
    if check.mark is Mark.DEVIATION:
        return f"declared deviation ({check.span}): {check.note}"
    return "" if check.cell == LAYER else check.note


def verdict(result: VerifyResult) -> str:
    counts = {mark: sum(1 for check in result.differences if check.mark is mark) for mark in SYMBOLS}
    if result.ok:
        return (
            f"ok: every difference is documented ({plural(counts[Mark.ERRATUM], 'erratum', 'errata')} of the paper, "
            f"{plural(counts[Mark.DEVIATION], 'declared deviation', 'declared deviations')})"
        )
    return (
        f"FAILED: {plural(counts[Mark.MISMATCH], 'undocumented difference', 'undocumented differences')} (MISMATCH); "
        "fix the spec, or declare each under `deviations:` with a reason"
    )


def render_claims(spec: Spec, checks: list[ClaimCheck]) -> str:
    """The spec's claims, each with the network's value and where a failing one is written."""
    lines = [
        f"{spec.name} ({spec.path}): its claims; counts are exact, and a claim's K, M, G are 10^3, 10^6, 10^9",
        "",
    ]
    rows = [["claim", "stated", "computed", ""]]
    for check in checks:
        computed = check.computed + (f" ({check.detail})" if check.detail else "")
        rows.append([check.label, check.stated, computed, "" if check.ok else "FAILED"])
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    rule = ["-" * width for width in widths]
    for row in [rows[0], rule, *rows[1:]]:
        lines.append("  ".join([*(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)), *row[3:]]).rstrip())
    failed = [check for check in checks if not check.ok]
    if failed:
        lines.append("")
        lines += [f"  FAILED  {check.claim.span}: {check.message().removeprefix('claims: ')}" for check in failed]
    held = len(checks) - len(failed)
    verdict = (
        f"ok: every claim holds ({plural(held, 'claim', 'claims')})"
        if not failed
        else f"FAILED: {plural(len(failed), 'claim does', 'claims do')} not hold ({held} of {len(checks)} hold)"
    )
    return "\n".join([*lines, "", verdict])


def size_text(shape: tuple[int, ...] | None) -> str:
    """An output shape as the table prints it, HxWxC; a vector of F values is 1x1xF."""
    if shape is None:
        return "(not run)"
    return str(Size(tuple(as_chw(shape)))) if len(shape) in (1, 3) else "x".join(map(str, shape))


def render_runtime(result: RuntimeResult) -> str:
    batch, *chw = result.input_shape
    lines = [
        f"runtime: the generated {result.network_class}, one forward pass in training mode on a batch of {batch} at {size_text(tuple(chw))}",
        "",
    ]
    rows = [["row", "layer", "module", "output (IR)", "output (run)", "params (IR)", "params (run)", ""]]
    for run in result.layers:
        rows.append(
            [
                run.row,
                run.layer,
                run.module or "(inline)",
                size_text(run.ir_shape),
                size_text(run.real_shape),
                f"{run.ir_params:,}",
                f"{run.real_params:,}",
                "" if run.ok else "MISMATCH",
            ]
        )
    total_ok = result.ir_params == result.real_params
    rows.append(["", "total", "", "", "", f"{result.ir_params:,}", f"{result.real_params:,}", "" if total_ok else "MISMATCH"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {5, 6}
    first = 0 if any(run.row for run in result.layers) else 1  # no reference row to show: no column for them
    for row in rows:
        cells = (cell.rjust(width) if i in right else cell.ljust(width) for i, (cell, width) in enumerate(zip(row, widths, strict=True)))
        lines.append("  ".join(list(cells)[first:]).rstrip())
    lines.append("")
    failures = [run for run in result.layers if not run.ok]
    for run in failures:
        lines.append(
            f"{run.span}: error: {run.layer}: the generated module gives {size_text(run.real_shape)} "
            f"with {run.real_params:,} parameters; the IR says {size_text(run.ir_shape)} with {run.ir_params:,}"
        )
    if result.ok:
        lines.append("ok: every layer's real output shape and parameter count equal the IR's")
    else:
        count = len(failures) + (0 if total_ok else 1)
        lines.append(f"FAILED: {count} difference{'s' if count != 1 else ''} between the generated module and the IR")
    return "\n".join(lines)


def _check_json(check: Check) -> dict:
    return {
        "row": check.row,
        "label": check.label,
        "cell": check.cell,
        "printed": check.printed,
        "computed": check.computed,
        "exact": check.exact or None,
        "mark": check.mark.value,
        "note": check.note or None,
        "where": str(check.span) if check.span else None,
    }


def result_json(result: VerifyResult) -> dict:
    """`verify --json`: every row as printed, every cell that differs with its verdict, the claims."""
    return {
        "name": result.name,
        "spec": result.spec_path,
        "reference": result.reference_path,
        "title": result.title,
        "columns": list(result.columns),
        **({"titles": dict(result.titles)} if result.titles else {}),
        "rows": [
            {
                "id": row.id,
                "label": row.label,
                "layers": list(row.layers),
                "printed": dict(zip(result.columns, row.printed, strict=True)),
                "differences": [_check_json(check) for check in row.checks if check.mark is not Mark.AGREE],
            }
            for row in result.rows
        ],
        "totals": [_check_json(check) for check in result.totals],
        "unmapped_layers": list(result.unmapped_layers),
        "unused_deviations": [{"where": str(d.span), "reason": d.reason} for d in result.unused_deviations],
        "verdict": verdict(result),
        "ok": result.ok,
    }


def runtime_json(result: RuntimeResult) -> dict:
    return {
        "network_class": result.network_class,
        "input_shape": list(result.input_shape),
        "layers": [
            {
                "row": run.row,
                "layer": run.layer,
                "module": run.module or None,
                "output_ir": as_chw(run.ir_shape),
                "output_run": as_chw(run.real_shape) if run.real_shape is not None else None,
                "params_ir": run.ir_params,
                "params_run": run.real_params,
                "ok": run.ok,
            }
            for run in result.layers
        ],
        "params_ir": result.ir_params,
        "params_run": result.real_params,
        "ok": result.ok,
    }
