"""Two designs compared row by row: `netgen diff A.yaml B.yaml`.

Each spec's summary (netgen.summary) gives its rows: the network's layers, then its heads. Rows
are matched by name; those left over are matched by position, between the rows that matched by
name, where their types line up (a layer renamed in place is one row, changed, not one removed and
one added). A matched row
shows each cell that differs: type, patch/stride, output size, block arguments (as the block
receives them, after `width`), params and multiply-adds. The totals follow, with their change in
absolute figures and in percent of A's.
"""

from __future__ import annotations

import bisect
import difflib
from dataclasses import dataclass, field
from typing import Any

from netgen.ir.graph import Graph
from netgen.spec.model import Spec
from netgen.summary import summarize

CELLS = ("name", "type", "patch", "output", "args", "params", "macs")
CELL_TITLES = {
    "name": "name",
    "type": "type",
    "patch": "patch/stride",
    "output": "output size",
    "args": "block arguments",
    "params": "params",
    "macs": "multiply-adds",
}
COUNTED = ("params", "macs")  # cells whose change is a number, shown with its percent
TOTALS = (
    ("params", "params"),
    ("macs", "multiply-adds"),
    ("depth", "depth"),
    ("depth_with_pooling", "depth with pooling"),
    ("params_with_heads", "params with heads"),
    ("macs_with_heads", "multiply-adds with heads"),
)


@dataclass(frozen=True)
class Change:
    cell: str
    a: Any
    b: Any

    @property
    def delta(self) -> int | None:
        return self.b - self.a if self.cell in COUNTED else None

    @property
    def percent(self) -> float | None:
        return percent(self.a, self.b) if self.cell in COUNTED else None


@dataclass(frozen=True)
class RowDiff:
    """One row of either design: matched (by name or by position), or only in A or only in B."""

    a: dict[str, Any] | None
    b: dict[str, Any] | None
    matched_by: str | None  # "name", "position", or None when the row is in one design only
    changes: tuple[Change, ...] = ()

    @property
    def status(self) -> str:
        if self.a is None:
            return "added"
        if self.b is None:
            return "removed"
        return "changed" if self.changes else "same"

    @property
    def label(self) -> str:
        if self.a is not None and self.b is not None and self.a["name"] != self.b["name"]:
            return f"{self.a['name']} -> {self.b['name']}"
        return (self.a or self.b)["name"]


@dataclass(frozen=True)
class Diff:
    a: dict[str, Any]  # each spec's summary, with its rows' cells as compared
    b: dict[str, Any]
    layers: tuple[RowDiff, ...]
    heads: tuple[RowDiff, ...]
    totals: tuple[Change, ...] = field(default=())


def percent(a: int, b: int) -> float | None:
    return None if a == 0 else (b - a) / a * 100


def diff(a: tuple[Spec, Graph], b: tuple[Spec, Graph]) -> Diff:
    first, second = _summary(*a), _summary(*b)
    totals = tuple(Change(key, first["totals"][key], second["totals"][key]) for key, _ in TOTALS)
    return Diff(first, second, _match(first["rows"], second["rows"]), _match(first["heads"], second["heads"]), totals)


def _summary(spec: Spec, graph: Graph) -> dict[str, Any]:
    summary = summarize(spec, graph)
    for row in [*summary["rows"], *summary["heads"]]:
        instance = graph.instances.get(row["name"])
        row["args"] = list(instance.args) if instance is not None else None
    return summary


def _cells(row: dict[str, Any]) -> dict[str, Any]:
    c, h, w = row["output"]
    return {
        "name": row["name"],
        "type": row["type"],
        "patch": row["patch"],
        "output": f"{h}x{w}x{c}",
        "args": row["args"],
        "params": row["params"],
        "macs": row["macs"],
    }


def _compare(a: dict[str, Any], b: dict[str, Any], matched_by: str) -> RowDiff:
    first, second = _cells(a), _cells(b)
    changes = tuple(Change(cell, first[cell], second[cell]) for cell in CELLS if first[cell] != second[cell])
    return RowDiff(a, b, matched_by, changes)


def _match(rows_a: list[dict], rows_b: list[dict]) -> tuple[RowDiff, ...]:
    """Pairs by name, in the order both designs agree on; between two such pairs, rows whose name
    the other design lacks pair up by position; what is left is removed (A) or added (B), where
    it stands in its design."""
    names_a = {row["name"] for row in rows_a}
    names_b = {row["name"]: index for index, row in enumerate(rows_b)}
    anchors = _increasing([(index, names_b[row["name"]]) for index, row in enumerate(rows_a) if row["name"] in names_b])
    out: list[RowDiff] = []
    previous_a = previous_b = -1
    for index_a, index_b in [*anchors, (len(rows_a), len(rows_b))]:
        gap_a, gap_b = rows_a[previous_a + 1 : index_a], rows_b[previous_b + 1 : index_b]
        free_a = [row for row in gap_a if row["name"] not in names_b]
        free_b = [row for row in gap_b if row["name"] not in names_a]
        out += _by_position(free_a, free_b)
        # named in both designs, but not in the order of the others: moved
        out += [RowDiff(row, None, None) for row in gap_a if row["name"] in names_b]
        out += [RowDiff(None, row, None) for row in gap_b if row["name"] in names_a]
        if index_a < len(rows_a):
            out.append(_compare(rows_a[index_a], rows_b[index_b], "name"))
        previous_a, previous_b = index_a, index_b
    return tuple(out)


def _by_position(rows_a: list[dict], rows_b: list[dict]) -> list[RowDiff]:
    """The rows of a gap in order, paired where their types line up (a conv renamed in place is one
    row; a pool where a conv was is one removed and one added)."""
    types = difflib.SequenceMatcher(
        None, [row["type"] for row in rows_a], [row["type"] for row in rows_b], autojunk=False
    )
    out: list[RowDiff] = []
    for tag, start_a, end_a, start_b, end_b in types.get_opcodes():
        if tag == "equal":
            out += [
                _compare(row_a, row_b, "position")
                for row_a, row_b in zip(rows_a[start_a:end_a], rows_b[start_b:end_b], strict=True)
            ]
            continue
        out += [RowDiff(row, None, None) for row in rows_a[start_a:end_a]]
        out += [RowDiff(None, row, None) for row in rows_b[start_b:end_b]]
    return out


def _increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of pairs whose second items increase (pairs come sorted by their first):
    the rows both designs keep in the same order."""
    tails: list[int] = []  # tails[k]: index in `pairs` of the smallest end of a run of length k + 1
    ends: list[int] = []  # that end's second item
    before: list[int | None] = []
    for index, (_, second) in enumerate(pairs):
        length = bisect.bisect_left(ends, second)
        before.append(tails[length - 1] if length else None)
        if length == len(tails):
            tails.append(index)
            ends.append(second)
        else:
            tails[length], ends[length] = index, second
    run, at = [], tails[-1] if tails else None
    while at is not None:
        run.append(pairs[at])
        at = before[at]
    return run[::-1]


# -- output ------------------------------------------------------------------------------------


def show(cell: str, value: Any) -> str:
    if value is None:
        return ""
    if cell in COUNTED or isinstance(value, int):
        return f"{value:,}"
    if cell == "args":
        return "[" + ", ".join(f"{arg:g}" if isinstance(arg, float) else str(arg) for arg in value) + "]"
    return str(value)


def show_delta(change: Change) -> str:
    delta = change.b - change.a if isinstance(change.a, int) and isinstance(change.b, int) else None
    if delta is None:
        return ""
    share = percent(change.a, change.b)
    return f"{delta:+,}" + (f" ({share:+.1f}%)" if share is not None else "")


def _summary_line(rows: tuple[RowDiff, ...], what: str) -> str:
    counts = {
        status: sum(1 for row in rows if row.status == status) for status in ("same", "changed", "removed", "added")
    }
    matched = counts["same"] + counts["changed"]
    return (
        f"{what}: {matched} matched ({counts['changed']} changed), {counts['removed']} removed, {counts['added']} added"
    )


def _table_rows(result: Diff) -> list[list[str]]:
    """[row, change, cell, A, B, delta] for every row that is not the same, heads after layers."""
    lines = []
    for rows, head in ((result.layers, False), (result.heads, True)):
        for row in rows:
            if row.status == "same":
                continue
            label = row.label + (" (head)" if head else "")
            if row.status in ("added", "removed"):
                cells = _cells(row.a or row.b)
                what = f"{cells['type']} {cells['output']}"
                lines.append([label, row.status, "", what if row.a else "", what if row.b else "", ""])
                continue
            for number, change in enumerate(row.changes):
                first = number == 0
                status = row.status + (" (by position)" if row.matched_by == "position" else "")
                lines.append(
                    [
                        label if first else "",
                        status if first else "",
                        CELL_TITLES[change.cell],
                        show(change.cell, change.a),
                        show(change.cell, change.b),
                        show_delta(change),
                    ]
                )
    return lines


def _totals_rows(result: Diff) -> list[list[str]]:
    titles = dict(TOTALS)
    return [
        [
            titles[change.cell],
            show("params", change.a),
            show("params", change.b),
            show_delta(change) if change.a != change.b else "0",
        ]
        for change in result.totals
    ]


def _heading(result: Diff) -> tuple[str, str]:
    return f"{result.a['name']} ({result.a['spec']})", f"{result.b['name']} ({result.b['spec']})"


def render_text(result: Diff) -> str:
    a, b = _heading(result)
    out = [f"A: {a}", f"B: {b}", ""]
    rows = _table_rows(result)
    if rows:
        out += _aligned([["layer", "change", "cell", "A", "B", "B - A"], *rows], numeric={3, 4, 5})
    else:
        out.append("no layer or head differs")
    out.append("")
    out += _aligned([["total", "A", "B", "B - A"], *_totals_rows(result)], numeric={1, 2, 3})
    out += ["", _summary_line(result.layers, "layers"), _summary_line(result.heads, "heads")]
    return "\n".join(out)


def _aligned(lines: list[list[str]], numeric: set[int]) -> list[str]:
    widths = [max(len(line[index]) for line in lines) for index in range(len(lines[0]))]

    def fmt(line: list[str]) -> str:
        cells = [
            cell.rjust(width) if index in numeric else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return [fmt(lines[0]), rule, *(fmt(line) for line in lines[1:])]


def render_markdown(result: Diff) -> str:
    """For a pull request: the changed rows and the totals as tables."""
    a, b = _heading(result)
    out = [f"**A**: {_md(a)}  ", f"**B**: {_md(b)}", ""]
    rows = _table_rows(result)
    if rows:
        out += ["| layer | change | cell | A | B | B - A |", "|---|---|---|--:|--:|--:|"]
        out += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    else:
        out.append("No layer or head differs.")
    out += ["", "| total | A | B | B - A |", "|---|--:|--:|--:|"]
    out += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in _totals_rows(result)]
    out += ["", f"{_summary_line(result.layers, 'Layers')}; {_summary_line(result.heads, 'heads')}."]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("_", "\\_").replace("*", "\\*")


def as_json(result: Diff) -> dict[str, Any]:
    def row_json(row: RowDiff) -> dict[str, Any]:
        return {
            "a": row.a["name"] if row.a else None,
            "b": row.b["name"] if row.b else None,
            "status": row.status,
            "matched_by": row.matched_by,
            "a_cells": _cells(row.a) if row.a else None,
            "b_cells": _cells(row.b) if row.b else None,
            "changes": {
                change.cell: {"a": change.a, "b": change.b, "delta": change.delta, "percent": _rounded(change.percent)}
                for change in row.changes
            },
        }

    return {
        "a": {"spec": result.a["spec"], "name": result.a["name"]},
        "b": {"spec": result.b["spec"], "name": result.b["name"]},
        "layers": [row_json(row) for row in result.layers],
        "heads": [row_json(row) for row in result.heads],
        "totals": {
            change.cell: {
                "a": change.a,
                "b": change.b,
                "delta": change.b - change.a,
                "percent": _rounded(percent(change.a, change.b)),
            }
            for change in result.totals
        },
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
