"""A paper's table as project data: rows of printed cells, errata, units and the paper's claims.

The file is read with netgen's located YAML reader, so a malformed reference is reported at its
file:line:col like a spec. Cells are parsed from the notation the paper prints:
`112×112×64` (H×W×C), `7×7/2` (kernel/stride), `2.7K` and `34M` (in the file's `units`), null
for a blank cell.

A reference lists its columns. Besides the built-in ones (COLUMNS), it may declare the module
columns its table prints, each with its title as printed, the block parameters it shows (matched
by `column_key`: `n3x3red` is `#3x3 reduce`), and its cells' notation: a count (`64`, where 0 is
no such layer), or a pooling and a count (`avg + 32`, `max + pass through`: the kind of pooling
in the module, then the projection's filters or none), as Figure 5 of the BN-Inception paper
prints "Pool +proj".
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from netgen.diagnostics import Span, SpecError, error
from netgen.files import read_regular
from netgen.spec.model import Spec
from netgen.spec.yaml_source import MAX_BYTES, YList, YMap, load_yaml, read_source

# Table 1's columns, in the paper's order; a reference may print a subset of them.
MODULE_COLUMNS = ("n1x1", "n3x3_reduce", "n3x3", "n5x5_reduce", "n5x5", "pool_proj")
COUNT_COLUMNS = ("params", "ops")
# `input_size` is what a row's first layer receives (Inception-v3's Table 1 prints that instead).
COLUMNS = ("type", "patch_size_stride", "input_size", "output_size", "depth", *MODULE_COLUMNS, *COUNT_COLUMNS)
CLAIMS = ("depth", "depth_with_pooling", "building_blocks", "params", "ops")
REFERENCE_TOP = "a mapping with 'units' and 'rows'"
# The notations of a declared module column's cells.
COUNT, POOL_COUNT = "count", "pool + count"
CELL_FORMS = (COUNT, POOL_COUNT)
COLUMN_KEYS = ("id", "title", "params", "cell")
PASS_THROUGH = "pass through"
POOL_KINDS = {"avg": "avg", "average": "avg", "max": "max", "maximum": "max"}

_TIMES = "[×x]"
_SIZE = re.compile(rf"^(\d+)\s*{_TIMES}\s*(\d+)\s*{_TIMES}\s*(\d+)$")
_PATCH = re.compile(rf"^(\d+)\s*{_TIMES}\s*(\d+)\s*(?:/\s*(\d+))?$")
_STRIDE = re.compile(r"^stride\s+(\d+)$")
_COUNT = re.compile(r"^(\d+(?:\.\d+)?)\s*([A-Za-z]?)$")
_TYPE = re.compile(r"^([^()]*?)\s*(?:\(([^()]*)\))?$")
_POOL_COUNT = re.compile(r"^([A-Za-z]+)\s*\+\s*(\d+|pass\s+through)$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Size:
    """An output size, kept in netgen's (C, H, W) order; the paper prints H×W×C."""

    chw: tuple[int, int, int]

    def __str__(self) -> str:
        c, h, w = self.chw
        return f"{h}x{w}x{c}"


@dataclass(frozen=True)
class Patch:
    kernel: tuple[int, int] | None  # None: a module's stride alone (`stride 2`, Figure 5 of the BN-Inception paper)
    stride: int | None  # None: printed without one (`8 × 8`), any stride agrees

    def __str__(self) -> str:
        if self.kernel is None:
            return f"stride {self.stride}"
        kernel = f"{self.kernel[0]}x{self.kernel[1]}"
        return kernel if self.stride is None else f"{kernel}/{self.stride}"


@dataclass(frozen=True)
class Count:
    """A printed count: its exact value in base units (weights, multiply-adds) and its precision.

    `2.7K` with K = 1024 is 2764.8 weights, printed to the nearest 0.1K = 102.4 weights.
    """

    text: str
    value: Fraction
    step: Fraction  # one unit of the last printed digit

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class RowType:
    """`inception (3a)`: the kind of layer and the parenthesised label (a name, or dropout's rate)."""

    text: str
    kind: str
    label: str | None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class PoolProj:
    """`avg + 32`: the pooling a module applies beside its convolutions, and the filters of the 1x1
    projection after it (None: `pass through`, the pooled input is concatenated as it is)."""

    pool: str | None  # avg or max; None: the module pools nothing (or both ways)
    count: int | None

    def __str__(self) -> str:
        return f"{self.pool or 'no pool'} + {PASS_THROUGH if self.count is None else self.count}"


@dataclass(frozen=True)
class ModuleColumn:
    """A column that prints a block use's arguments: its id (in rows, errata and deviations), its
    title as printed, the block parameters it shows, and its cells' notation (COUNT or POOL_COUNT)."""

    id: str
    title: str
    params: tuple[str, ...]
    cell: str = COUNT


Cell = Any  # RowType | Patch | Size | int | Count | PoolProj | None


@dataclass(frozen=True)
class Erratum:
    """A printed cell that cannot be right, with the value the row's own numbers give and why."""

    cell: str
    printed: str
    computed: Cell  # base units (an int) for params and ops, the cell's own notation otherwise
    reason: str


@dataclass(frozen=True)
class Row:
    id: str
    cells: dict[str, Cell]  # every column of the reference; None = blank
    errata: dict[str, Erratum]
    span: Span

    @property
    def title(self) -> str:
        return self.cells["type"].text


@dataclass(frozen=True)
class Claim:
    """A statement about the whole network, e.g. "22 layers deep"; `about` ones agree within 10%."""

    id: str
    value: int | Count
    text: str
    about: bool
    checked: bool


@dataclass(frozen=True)
class Reference:
    path: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    claims: dict[str, Claim]
    k: int
    m: int
    # The module columns, built-in (Table 1's, by name) or declared, in the table's order.
    modules: dict[str, ModuleColumn] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)  # declared columns' titles, as printed

    def row(self, row_id: str) -> Row | None:
        return next((row for row in self.rows if row.id == row_id), None)


# -- cells -------------------------------------------------------------------------------------


def parse_size(text: str) -> Size:
    if text.strip().isdigit():  # a vector, as the Inception-v4 figures print one: `1536`
        return Size((int(text), 1, 1))
    match = _SIZE.match(text.strip())
    if not match:
        raise ValueError(f"an output size is written H×W×C, e.g. 112×112×64; got {text!r}")
    h, w, c = (int(group) for group in match.groups())
    return Size((c, h, w))


def parse_patch(text: str) -> Patch:
    stride = _STRIDE.match(text.strip())
    if stride:
        return Patch(None, int(stride.group(1)))
    match = _PATCH.match(text.strip())
    if not match:
        raise ValueError(f"a patch size/stride is written K×K/S, K×K or stride S, e.g. 7×7/2; got {text!r}")
    kh, kw, stride = match.groups()
    return Patch((int(kh), int(kw)), None if stride is None else int(stride))


def parse_count(text: str, units: dict[str, int]) -> Count:
    match = _COUNT.match(text.strip())
    if not match or (match.group(2) and match.group(2) not in units):
        raise ValueError(
            f"a count is a number with an optional unit ({', '.join(units)}), e.g. 2.7K or 34M; got {text!r}"
        )
    number, unit = match.groups()
    scale = units[unit] if unit else 1
    digits = Decimal(number)
    return Count(text.strip(), Fraction(digits) * scale, Fraction(1, 10 ** _decimals(digits)) * scale)


def parse_type(text: str) -> RowType:
    match = _TYPE.match(text.strip())
    if not match or not match.group(1):
        raise ValueError(
            f"a layer type is a word with an optional label in parentheses, e.g. 'inception (3a)'; got {text!r}"
        )
    return RowType(text.strip(), match.group(1).lower(), match.group(2))


def parse_pool_count(text: str) -> PoolProj:
    match = _POOL_COUNT.match(text.strip())
    if not match or match.group(1).lower() not in POOL_KINDS:
        raise ValueError(
            f"a pooling and its projection are written `avg + 32`, `max + 128` or `max + pass through`; got {text!r}"
        )
    pool, count = match.groups()
    return PoolProj(POOL_KINDS[pool.lower()], None if count.startswith("pass") else int(count))


def dropout_rate(label: str | None) -> Fraction | None:
    """`40%` -> 2/5, `keep 0.8` (the probability of keeping a unit) -> 1/5; None for any other label."""
    match = re.match(r"^(\d+(?:\.\d+)?)\s*%$", label or "")
    if match:
        return Fraction(Decimal(match.group(1))) / 100
    keep = re.match(r"^keep\s+(\d+(?:\.\d+)?)$", label or "")
    return 1 - Fraction(Decimal(keep.group(1))) if keep else None


def _decimals(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


# -- the file ----------------------------------------------------------------------------------


def reference_path(spec: Spec, override: str | None) -> str:
    """The table a spec is checked against: `override` as given, else the spec's `reference`,
    which is relative to the spec file."""
    if override is not None:
        return override
    if spec.reference is None:
        raise SpecError(
            error(
                "no-reference",
                f"spec {spec.name!r} names no reference table; add `reference: <path>` or pass --reference",
                spec.span,
            )
        )
    return named_reference(spec.path, spec.reference, spec.where("reference"))


def named_reference(spec_path: str, reference: str, span: Span) -> str:
    """The path of the table a spec's `reference:` (written at `span`) names, relative to the spec
    file. A spec may come from anywhere; what it reads by itself stays beside it: a reference
    that leads outside the spec's folder (symlinks followed) is refused."""
    folder = os.path.dirname(spec_path)
    path = os.path.join(folder, reference)
    inside = os.path.realpath(folder or os.curdir)
    if os.path.commonpath([inside, os.path.realpath(path)]) != inside:
        raise SpecError(
            error(
                "reference-outside",
                f"reference {reference!r} leads outside the spec's folder; a spec names a table in its folder "
                "or below it, and any other is given with --reference",
                span,
            )
        )
    return path


def spec_reference(spec: Spec, override: str | None, load: Callable[[str], Reference] | None = None) -> Reference:
    """The reference a spec is checked against; one its `reference:` names but that cannot be read
    is reported at that line, where the fix is. `load` reads the table (default: load_reference)."""
    path = reference_path(spec, override)
    if override is None and not os.path.isfile(path):
        raise SpecError(
            error(
                "no-reference-file",
                f"reference {spec.reference!r} is not a file (looked for {path}, relative to the spec's folder); "
                "fix the path, or pass --reference FILE",
                spec.where("reference"),
            )
        )
    return (load or load_reference)(path)


def load_reference(path: str) -> Reference:
    data = read_regular(path, "reference table", MAX_BYTES)
    if not data.strip():
        raise SpecError(error("empty-reference", f"reference table is empty; expected {REFERENCE_TOP}", Span(path, 1, 1)))
    return _Reader(path).reference(load_yaml(read_source(path, data), "reference table", REFERENCE_TOP))


class _Reader:
    def fail(self, message: str, span: Span) -> None:
        self.problems.append(error("bad-reference", message, span))

    def __init__(self, path: str):
        self.path = path
        self.problems = []
        self.modules: dict[str, ModuleColumn] = {}

    def reference(self, top: YMap) -> Reference:
        units = self.units(top)
        columns = self.columns(top)
        rows = self.rows(top, columns, units) if units else ()
        claims = self.claims(top, units) if units else {}
        if self.problems:
            raise SpecError(self.problems)
        source = top.get("source")
        title = source.get("table", "") if isinstance(source, YMap) else ""
        titles = {column.id: column.title for column in self.modules.values() if column.title}
        return Reference(self.path, str(title), columns, rows, claims, units["K"], units["M"], self.modules, titles)

    def units(self, top: YMap) -> dict[str, int]:
        node = top.get("units")
        if not isinstance(node, YMap):
            self.fail("reference needs 'units' with K and M, the counts its K and M suffixes stand for", top.span)
            return {}
        for key in ("K", "M"):
            value = node.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                self.fail(
                    f"units: {key!r} must be a positive integer, got {value!r}", node.value_spans.get(key, node.span)
                )
                return {}
        return {"K": node["K"], "M": node["M"]}

    def columns(self, top: YMap) -> tuple[str, ...]:
        node = top.get("columns")
        if not isinstance(node, YList) or not all(isinstance(item, (str, YMap)) for item in node):
            self.fail(
                f"reference needs 'columns': a list of column names from {', '.join(COLUMNS)}, or of module columns "
                "declared as {id, title, params, cell}",
                top.span,
            )
            return ()
        out = []
        for item, span in zip(node, node.item_spans, strict=True):
            name = item if isinstance(item, str) else self.declared(item, span)
            if name is None:
                continue
            if isinstance(item, str) and name not in COLUMNS:
                self.fail(
                    f"unknown column {name!r}; known columns: {', '.join(COLUMNS)}; a module column of the table's own "
                    f"is declared as {{id: {name}, title: ..., params: [...]}}",
                    span,
                )
                continue
            if name in out:
                self.fail(f"column {name!r} is listed twice", span)
                continue
            if name in MODULE_COLUMNS and name not in self.modules:
                self.modules[name] = ModuleColumn(name, "", (name,))
            out.append(name)
        if "type" not in out:
            self.fail("columns must include 'type'", node.span)
        return tuple(out)

    def declared(self, node: YMap, span: Span) -> str | None:
        """A module column the table prints: `{id: double_3x3_reduce, title: 'double #3×3 reduce',
        params: [double_3x3_reduce], cell: count}`."""
        unknown = [key for key in node if key not in COLUMN_KEYS]
        if unknown:
            self.fail(f"column: unknown key {unknown[0]!r}; a declared column has {', '.join(COLUMN_KEYS)}", node.key_spans[unknown[0]])
            return None
        column_id, title = node.get("id"), node.get("title")
        if not isinstance(column_id, str) or not _IDENT.match(column_id):
            self.fail(f"column: 'id' must be a name (letters, digits and '_'), got {column_id!r}", node.value_spans.get("id", span))
            return None
        if column_id in COLUMNS and column_id not in MODULE_COLUMNS or column_id in CLAIMS or column_id in ("total", "layer"):
            self.fail(
                f"column {column_id!r} is a built-in column or claim; list it by its name, or give a module column another id",
                node.value_spans["id"],
            )
            return None
        if not isinstance(title, str) or not title.strip():
            self.fail(f"column {column_id!r}: 'title' must be the column's heading as printed", node.value_spans.get("title", span))
            return None
        params = node.get("params", [column_id])
        if isinstance(params, str):
            params = [params]
        if not isinstance(params, list) or not params or not all(isinstance(p, str) and _IDENT.match(p) for p in params):
            self.fail(
                f"column {column_id!r}: 'params' must name the block parameters it shows (a name or a list of names)",
                node.value_spans.get("params", span),
            )
            return None
        cell = node.get("cell", COUNT)
        if cell not in CELL_FORMS:
            self.fail(
                f"column {column_id!r}: 'cell' must be {' or '.join(repr(form) for form in CELL_FORMS)}, got {cell!r}",
                node.value_spans.get("cell", span),
            )
            return None
        self.modules[column_id] = ModuleColumn(column_id, title.strip(), tuple(params), cell)
        return column_id

    def rows(self, top: YMap, columns: tuple[str, ...], units: dict[str, int]) -> tuple[Row, ...]:
        node = top.get("rows")
        if not isinstance(node, YList) or not node:
            self.fail("reference needs 'rows': a list of table rows", top.value_spans.get("rows", top.span))
            return ()
        rows, seen = [], set()
        for item, span in zip(node, node.item_spans, strict=True):
            row = self.row(item, span, columns, units)
            if row is None:
                continue
            if row.id in seen:
                self.fail(f"two rows have the id {row.id!r}", span)
            seen.add(row.id)
            rows.append(row)
        return tuple(rows)

    def row(self, node: Any, span: Span, columns, units) -> Row | None:
        if not isinstance(node, YMap):
            self.fail("a row is a mapping of id, columns, computed and errata", span)
            return None
        row_id = node.get("id")
        if not isinstance(row_id, str) or not row_id or row_id in ("*", "total"):
            self.fail(
                f"a row needs an 'id' (text other than '*' and 'total'), got {row_id!r}",
                node.value_spans.get("id", span),
            )
            return None
        for key in node:
            if key not in (*columns, "id", "computed", "errata"):
                self.fail(
                    f"row {row_id!r}: unknown key {key!r}; the columns are {', '.join(columns)}", node.key_spans[key]
                )
        cells = {}
        for column in columns:
            if column not in node:
                self.fail(f"row {row_id!r} has no {column!r} cell; write null for a blank cell", span)
                continue
            cells[column] = self.cell(column, node[column], node.value_spans[column], units, row_id)
        errata = self.errata(node.get("errata"), node.value_spans.get("errata", span), row_id, cells, units)
        if len(cells) != len(columns) or cells.get("type") is None:
            if "type" in cells and cells["type"] is None:
                self.fail(f"row {row_id!r}: 'type' cannot be blank", node.value_spans["type"])
            return None
        return Row(row_id, cells, errata, span)

    def cell(self, column: str, value: Any, span: Span, units, row_id: str) -> Cell:
        if value is None:
            return None
        try:
            if column in self.modules and self.modules[column].cell == POOL_COUNT:
                if not isinstance(value, str):
                    raise ValueError(f"must be a pooling and a count as printed (`avg + 32`) or null, got {value!r}")
                return parse_pool_count(value)
            if column in ("depth", *self.modules):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"must be a whole number or null, got {value!r}")
                return value
            if not isinstance(value, str):
                raise ValueError(f"must be text as printed, got {value!r}")
            if column == "type":
                return parse_type(value)
            if column == "patch_size_stride":
                return parse_patch(value)
            if column in ("input_size", "output_size"):
                return parse_size(value)
            return parse_count(value, units)
        except ValueError as exc:
            self.fail(f"row {row_id!r}, {column}: {exc}", span)
            return None

    def errata(self, node: Any, span: Span, row_id: str, cells: dict[str, Cell], units) -> dict[str, Erratum]:
        if node is None:
            return {}
        if not isinstance(node, YList):
            self.fail(f"row {row_id!r}: 'errata' must be a list of {{cell, printed, computed, reason}}", span)
            return {}
        out = {}
        for item, item_span in zip(node, node.item_spans, strict=True):
            keys = ("cell", "printed", "computed", "reason")
            if not isinstance(item, YMap) or sorted(item) != sorted(keys):
                self.fail(f"row {row_id!r}: an erratum has exactly the keys {', '.join(keys)}", item_span)
                continue
            cell, printed, reason = item["cell"], item["printed"], item["reason"]
            if cell not in cells:
                self.fail(f"row {row_id!r}: erratum for unknown cell {cell!r}", item.value_spans["cell"])
                continue
            if cell == "type":
                self.fail(f"row {row_id!r}: the 'type' cell cannot have an erratum", item.value_spans["cell"])
                continue
            if cell in out:
                self.fail(f"row {row_id!r}: two errata for {cell!r}", item_span)
                continue
            if (
                cells[cell] is None
                or self.cell(cell, printed, item.value_spans["printed"], units, row_id) != cells[cell]
            ):
                self.fail(
                    f"row {row_id!r}: erratum says {cell} is printed {printed!r}, the row has {cells[cell]}",
                    item.value_spans["printed"],
                )
                continue
            if not isinstance(reason, str) or not reason.strip():
                self.fail(f"row {row_id!r}: erratum for {cell!r} needs a reason", item.value_spans["reason"])
                continue
            computed = self.erratum_value(cell, item["computed"], item.value_spans["computed"], units, row_id)
            if computed is not None:
                out[cell] = Erratum(cell, str(printed), computed, reason.strip())
        return out

    def erratum_value(self, cell: str, value: Any, span: Span, units, row_id: str) -> Cell:
        if cell in COUNT_COLUMNS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self.fail(
                    f"row {row_id!r}: an erratum's computed {cell} is a whole number of {_BASE_UNITS[cell]}, got {value!r}",
                    span,
                )
                return None
            return value
        computed = self.cell(cell, value, span, units, row_id)
        if computed is None:
            self.fail(f"row {row_id!r}: an erratum needs its computed {cell}", span)
        return computed

    def claims(self, top: YMap, units) -> dict[str, Claim]:
        node = top.get("claims")
        if node is None:
            return {}
        if not isinstance(node, YMap):
            self.fail("'claims' must map claim ids to {value, text, about, checked}", top.value_spans["claims"])
            return {}
        out = {}
        for claim_id, item in node.items():
            span = node.key_spans[claim_id]
            if claim_id not in CLAIMS:
                self.fail(f"unknown claim {claim_id!r}; known claims: {', '.join(CLAIMS)}", span)
                continue
            if not isinstance(item, YMap) or "value" not in item or not isinstance(item.get("text"), str):
                self.fail(f"claim {claim_id!r} needs 'value' and 'text'", span)
                continue
            unknown = [key for key in item if key not in ("value", "text", "about", "checked")]
            if unknown:
                self.fail(f"claim {claim_id!r}: unknown key {unknown[0]!r}", item.key_spans[unknown[0]])
                continue
            flags = {key: item.get(key, default) for key, default in (("about", False), ("checked", True))}
            if not all(isinstance(flag, bool) for flag in flags.values()):
                self.fail(f"claim {claim_id!r}: 'about' and 'checked' are true or false", span)
                continue
            value = self.claim_value(claim_id, item["value"], item.value_spans["value"], units)
            if value is not None:
                out[claim_id] = Claim(claim_id, value, item["text"], flags["about"], flags["checked"])
        return out

    def claim_value(self, claim_id: str, value: Any, span: Span, units) -> int | Count | None:
        if claim_id in COUNT_COLUMNS:
            try:
                return parse_count(str(value), units)
            except ValueError as exc:
                self.fail(f"claim {claim_id!r}: {exc}", span)
                return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.fail(f"claim {claim_id!r}: value must be a whole number, got {value!r}", span)
            return None
        return value


_BASE_UNITS = {"params": "weights", "ops": "multiply-adds"}
