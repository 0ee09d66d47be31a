"""Check a compiled spec against its reference table, cell by cell.

A reference row is described by the spec's top-level layers whose `row:` names it (conv2 and
conv3 both map to the "convolution 3x3/1" row). Of those layers:
  type, patch/stride and output size are the last layer's;
  depth is the longest path through the row counting layers with weights (conv, linear);
  module columns are a block use's arguments, matched to the columns by parameter name; rows of plain
    convolutions fill them as the paper does (a 1x1 conv before a KxK one is #KxK reduce); a
    `pool + count` column also holds the kind of pooling the block use applies (avg, max);
  params are the weights of the row's layers without biases, ops their multiply-adds.

When a cell agrees:
  type, patch/stride, output size, depth and channel counts: exactly, a printed 0 filters being
    no such layer (a dropout row's
    parenthesised rate is compared with p; a window applied once needs no matching stride);
  params and ops: when the computed value is within half a unit of the printed last digit,
    ends included, in exact arithmetic: "159K" covers 158.5K to 159.5K (so 163,328 weights,
    159.5K, agrees) and "2.7K" covers 2.65K to 2.75K.
A cell that does not agree is:
  an erratum when the reference documents one for it AND the computed value is exactly the
    documented one (a spec that differs from the paper elsewhere cannot hide behind it);
  else a deviation when the spec's `deviations:` declares one covering the cell;
  else a MISMATCH, located at the spec line that produced it.
Whole-network claims: depth and depth with pooling exactly; `about` claims (params, ops)
within 10% of the claimed value; claims marked `checked: false` (the paper's "about 100
building blocks", whose counting rule it does not give) are reported, never judged.

The result is ok when every difference is an erratum or a deviation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from fractions import Fraction
from typing import Any

from netgen.diagnostics import Diagnostic, Severity, Span, SpecError, error
from netgen.ir.graph import Graph, Node
from netgen.ir.ops import POOLING, WEIGHTED, OpKind
from netgen.spec.model import BlockCall, Deviation, Layer, Spec
from netgen.spec.parse import suggestion
from netgen.summary import as_chw, building_blocks
from netgen.verify.reference import (
    CLAIMS,
    COUNT_COLUMNS,
    POOL_COUNT,
    Claim,
    Count,
    Erratum,
    Patch,
    PoolProj,
    Reference,
    Row,
    RowType,
    Size,
    dropout_rate,
    spec_reference,
)

ABOUT = Fraction(1, 10)  # how far an "about" claim may be from the computed value
TOTAL = "total"  # the row id deviations use for whole-network claims
EVERY = "*"
LAYER = "layer"  # the cell of a row that no spec layer describes

_TYPE_OF_OP = {
    "conv": "convolution",
    "maxpool": "max pool",
    "avgpool": "avg pool",
    "adaptive_avgpool": "avg pool",
    "global_avgpool": "avg pool",
    "linear": "linear",
    "dropout": "dropout",
    "softmax": "softmax",
}
_BASE_UNITS = {"params": "weights", "ops": "multiply-adds"}


class Mark(StrEnum):
    AGREE = "agree"
    ERRATUM = "erratum"
    DEVIATION = "deviation"
    MISMATCH = "MISMATCH"
    REPORTED = "reported"  # an approximate claim the paper gives no rule for


@dataclass(frozen=True)
class Check:
    """One cell: as printed, as computed (in the table's notation), and the verdict with its why."""

    row: str
    label: str  # the row as a reader finds it, e.g. "inception (4c)" or "conv1 (convolution)"
    cell: str
    printed: str
    computed: str
    mark: Mark
    note: str = ""  # erratum reason, deviation reason, or what disagrees
    span: Span | None = None  # MISMATCH: the spec line that produced it; deviation: where it is declared
    exact: str = ""  # a computed count in full, e.g. "9,408 weights"


@dataclass(frozen=True)
class RowResult:
    id: str
    label: str
    layers: tuple[str, ...]
    printed: tuple[str, ...]  # every cell as printed, in the reference's column order
    checks: tuple[Check, ...]

    def check(self, cell: str) -> Check | None:
        return next((check for check in self.checks if check.cell == cell), None)


@dataclass(frozen=True)
class VerifyResult:
    name: str
    spec_path: str
    reference_path: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[RowResult, ...]
    totals: tuple[Check, ...]
    unused_deviations: tuple[Deviation, ...]
    unmapped_layers: tuple[str, ...]  # top-level layers with weights that no row describes
    k: int = 1000  # the units the reference prints counts in: params in K weights, ops in M multiply-adds
    m: int = 10**6
    titles: dict[str, str] = field(default_factory=dict)  # the reference's declared columns, as printed

    def checks(self) -> list[Check]:
        return [check for row in self.rows for check in row.checks] + list(self.totals)

    @property
    def differences(self) -> list[Check]:
        return [check for check in self.checks() if check.mark not in (Mark.AGREE, Mark.REPORTED)]

    @property
    def ok(self) -> bool:
        return all(check.mark is not Mark.MISMATCH for check in self.checks())


def classify(agrees: bool, computed: Any, erratum: Erratum | None, deviation: Deviation | None) -> tuple[Mark, str]:
    """The verdict on one cell; `computed` is compared with an erratum's documented value exactly."""
    if agrees:
        return Mark.AGREE, ""
    if erratum is not None and erratum.computed == computed:
        return Mark.ERRATUM, erratum.reason
    if deviation is not None:
        return Mark.DEVIATION, deviation.reason
    if erratum is not None:
        return (
            Mark.MISMATCH,
            f"the reference documents an erratum here, but for a computed {erratum.computed}, not {computed}",
        )
    return Mark.MISMATCH, ""


def count_agrees(printed: Count | None, computed: int) -> bool:
    """Within half a unit of the printed last digit, ends included; a blank cell means zero."""
    if printed is None:
        return computed == 0
    return abs(Fraction(computed) - printed.value) <= printed.step / 2


def about_agrees(claimed: Fraction | int, computed: int) -> bool:
    return abs(Fraction(computed) - claimed) <= ABOUT * claimed


def verify(spec: Spec, graph: Graph, reference: Reference) -> VerifyResult:
    return _Verifier(spec, graph, reference).run()


@dataclass(frozen=True)
class _Seen:
    """A computed cell: the value compared, its text in the table's notation, where it came from."""

    value: Any
    text: str
    span: Span
    exact: str = ""


class _Verifier:
    def __init__(self, spec: Spec, graph: Graph, reference: Reference):
        self.spec, self.graph, self.ref = spec, graph, reference
        self.trunk: list[Node] = list(graph.trunk())
        self.inputs = {node.name: graph.inputs(node.name) for node in self.trunk}
        self.used: set[int] = set()
        _check_names(spec, reference)

    def run(self) -> VerifyResult:
        rows = tuple(self.row(row) for row in self.ref.rows)
        totals = self.totals()
        mapped = {layer.name for layer in self.spec.layers if layer.row is not None}
        weighted = {node.row for node in self.trunk if node.weights}
        unmapped = tuple(
            layer.name for layer in self.spec.layers if layer.name not in mapped and layer.name in weighted
        )
        unused = tuple(dev for i, dev in enumerate(self.spec.deviations) if i not in self.used)
        return VerifyResult(
            self.spec.name,
            self.spec.path,
            self.ref.path,
            self.ref.title,
            self.ref.columns,
            rows,
            totals,
            unused,
            unmapped,
            self.ref.k,
            self.ref.m,
            self.ref.titles,
        )

    # -- deviations ------------------------------------------------------------------------

    def deviation(self, row: str, cell: str) -> Deviation | None:
        for i, dev in enumerate(self.spec.deviations):
            row_covered = row in dev.rows or (EVERY in dev.rows and row != TOTAL)
            if row_covered and (cell in dev.cells or EVERY in dev.cells):
                self.used.add(i)
                return dev
        return None

    def judge(
        self, row_id: str, label: str, cell: str, printed: str, seen: _Seen, agrees: bool, erratum: Erratum | None
    ) -> Check:
        documented = erratum is not None and erratum.computed == seen.value
        deviation = None if agrees or documented else self.deviation(row_id, cell)
        mark, note = classify(agrees, seen.value, erratum, deviation)
        if mark is Mark.MISMATCH and erratum is not None:
            documented = _show(cell, erratum.computed, self.ref)
            if cell in COUNT_COLUMNS:
                documented += f" ({_exact(cell, erratum.computed)})"
            note = f"the reference documents an erratum here for a computed {documented}, not {seen.text}"
        span = deviation.span if mark is Mark.DEVIATION else seen.span
        return Check(
            row_id, label, cell, printed, seen.text, mark, note, span if mark is not Mark.AGREE else None, seen.exact
        )

    # -- rows ------------------------------------------------------------------------------

    def row(self, row: Row) -> RowResult:
        label = row.title if row.id in row.title else f"{row.id} ({row.title})"
        printed = tuple(_text(row.cells[column]) for column in self.ref.columns)
        layers = [layer for layer in self.spec.layers if layer.row == row.id]
        if not layers:
            seen = _Seen(None, "(no layer)", self.spec.span)
            check = self.judge(row.id, label, LAYER, row.title, seen, False, None)
            if check.mark is Mark.MISMATCH:
                check = _with_note(check, f"no layer of the spec has `row: {row.id}`")
            return RowResult(row.id, label, (), printed, (check,))
        seen = self.observe(layers)
        checks = []
        for column in self.ref.columns:
            cell = row.cells[column]
            agrees = _agrees(column, cell, seen[column].value, self.ref)
            checks.append(self.judge(row.id, label, column, _text(cell), seen[column], agrees, row.errata.get(column)))
        return RowResult(row.id, label, tuple(layer.name for layer in layers), printed, tuple(checks))

    def observe(self, layers: list[Layer]) -> dict[str, _Seen]:
        graph, last = self.graph, layers[-1]
        names = {layer.name for layer in layers}
        nodes = [node for node in self.trunk if node.row in names]
        out_node = graph[graph.exit_of(last.name)]
        size = Size(tuple(as_chw(out_node.shape)))
        first = layers[0]
        entry = graph[self.first_input(first.name) if first.name in graph.exits else graph.inputs(first.name)[0]]
        received = Size(tuple(as_chw(entry.shape)))
        depth = self.depth_within({node.name for node in nodes})
        weights = sum(node.weights for node in nodes)
        macs = sum(node.macs for node in nodes)
        return {
            "type": _type_of(last, graph),
            "patch_size_stride": self.patch_of(last),
            "input_size": _Seen(received, str(received), first.span),
            "output_size": _Seen(size, str(size), last.span),
            "depth": _Seen(depth, str(depth), last.span),
            "params": _Seen(weights, self.count_text("params", weights), last.span, _exact("params", weights)),
            "ops": _Seen(macs, self.count_text("ops", macs), last.span, _exact("ops", macs)),
            **self.module_columns(layers),
        }

    def first_input(self, name: str) -> str:
        """What a layer that expanded to several nodes reads: the input of its first node."""
        prefix = name + "."
        first = next(node for node in self.trunk if node.name.startswith(prefix) or node.name == name)
        return self.inputs[first.name][0]

    def depth_within(self, members: set[str]) -> int:
        """The longest path through the network counting only the row's layers with weights;
        layers of other rows on the way (an LRN between two convs) pass the count on."""
        best: dict[str, int] = {}
        for node in self.trunk:
            before = max((best[source] for source in self.inputs[node.name] if source in best), default=0)
            best[node.name] = before + (1 if node.kind in WEIGHTED and node.name in members else 0)
        return max(best.values(), default=0)

    def patch_of(self, layer: Layer) -> _Seen:
        instance = self.graph.instances.get(layer.name)
        if instance is not None:
            stride = self.stride_of(instance)
            if stride == (1, 1):
                return _Seen(None, "", layer.span)
            text = f"stride {stride[0]}" if stride[0] == stride[1] else f"stride {stride[0]}x{stride[1]}"
            return _Seen((None, stride, self.graph[instance.exit].shape[1:]), text, layer.span)
        if layer.name in self.graph.exits or layer.name not in self.graph:
            return _Seen(None, "", layer.span)
        node = self.graph[layer.name]
        if node.kind not in (OpKind.CONV, *POOLING):
            return _Seen(None, "", layer.span)
        (_, in_h, in_w), (_, out_h, out_w) = self.graph[self.inputs[node.name][0]].shape, node.shape
        if node.kind is OpKind.ADAPTIVE_AVGPOOL:
            if in_h % out_h or in_w % out_w:
                return _Seen(("adaptive",), "adaptive", layer.span)
            kernel = stride = (in_h // out_h, in_w // out_w)
        else:
            kernel, stride = node.attrs.kernel, node.attrs.stride
        text = f"{kernel[0]}x{kernel[1]}/" + (str(stride[0]) if stride[0] == stride[1] else f"{stride[0]}x{stride[1]}")
        return _Seen((kernel, stride, (out_h, out_w)), text, layer.span)

    def stride_of(self, instance) -> tuple[int, int]:
        """How far apart a block use's outputs are on its input: the product of the strides on the way
        through it (its branches agree, or their concat would not align)."""
        graph, inside = self.graph, set(instance.nodes)
        strides: dict[str, tuple[int, int]] = {}
        for name in sorted(inside, key=graph.position):
            node = graph[name]
            before = [strides.get(source, (1, 1)) for source in graph.inputs(name)]
            own = node.attrs.stride if node.kind in (OpKind.CONV, OpKind.MAXPOOL, OpKind.AVGPOOL) else (1, 1)
            strides[name] = (max(s[0] for s in before) * own[0], max(s[1] for s in before) * own[1])
        return strides.get(instance.exit, (1, 1))

    def module_columns(self, layers: list[Layer]) -> dict[str, _Seen]:
        """A block use's arguments in the reference's module columns, or the outs of plain convolutions."""
        last = layers[-1]
        columns = list(self.ref.modules.values())
        found: dict[str, tuple[Any, Span]] = {}
        unmatched = ""  # a block whose arguments are not the paper's columns
        if len(layers) == 1 and isinstance(last.call, BlockCall):
            # Columns are matched to the block's parameters by name, so a parameter added to a
            # block (a seventh column, a residual scale) leaves the paper's six where they are.
            instance = self.graph.instances.get(last.name)
            args = instance.args if instance is not None else ()
            params = self.spec.blocks[last.call.block].params
            for column in columns:
                keys = {column_key(name) for name in column.params}
                index = next((i for i, param in enumerate(params) if column_key(param) in keys), None)
                value, span = (args[index], last.call.arg_spans[index]) if index is not None and index < len(args) else (None, None)
                if column.cell == POOL_COUNT and instance is not None:
                    found[column.id] = (PoolProj(self.pooling(instance.nodes), value), span or last.span)
                elif value is not None:
                    found[column.id] = (value, span)
            if args and not any(value is not None for value, _ in found.values() if not isinstance(value, PoolProj)):
                unmatched = f"({len(args)} args)"
        else:
            convs = [
                layer for layer in layers if layer.name in self.graph and self.graph[layer.name].kind is OpKind.CONV
            ]
            for i, layer in enumerate(convs):
                kernel = self.graph[layer.name].attrs.kernel
                column = self.count_column(f"n{kernel[0]}x{kernel[1]}")
                if kernel[0] != kernel[1] or column is None:
                    continue
                if kernel == (1, 1) and len(convs) > 1:
                    continue  # a reduction, counted with the convolution it feeds
                found[column] = (self.graph[layer.name].attrs.out, layer.call.where("out"))
                previous = convs[i - 1] if i else None
                reduce = self.count_column(f"n{kernel[0]}x{kernel[1]}_reduce")
                if previous is not None and reduce is not None and self.graph[previous.name].attrs.kernel == (1, 1):
                    found[reduce] = (self.graph[previous.name].attrs.out, previous.call.where("out"))
        seen = {}
        for column in columns:
            value, span = found.get(column.id, (None, last.span))
            seen[column.id] = _Seen(value, unmatched or ("" if value is None else str(value)), span)
        return seen

    def count_column(self, name: str) -> str | None:
        """The module column that prints the filters of a plain convolution of that name (`n3x3`, `n3x3_reduce`)."""
        key = column_key(name)
        return next(
            (
                column.id
                for column in self.ref.modules.values()
                if column.cell != POOL_COUNT and key in {column_key(column.id), *map(column_key, column.params)}
            ),
            None,
        )

    def pooling(self, nodes) -> str | None:
        """The kind of pooling a block use applies beside its convolutions: avg, max, or None (none, or both)."""
        kinds = {self.graph[name].kind for name in nodes} & {OpKind.MAXPOOL, OpKind.AVGPOOL}
        return {frozenset({OpKind.MAXPOOL}): "max", frozenset({OpKind.AVGPOOL}): "avg"}.get(frozenset(kinds))

    def count_text(self, cell: str, value: int) -> str:
        return _show(cell, value, self.ref) if value else ""

    # -- totals ----------------------------------------------------------------------------

    def totals(self) -> tuple[Check, ...]:
        computed = {
            "depth": self.graph.depth,
            "depth_with_pooling": self.graph.depth_with_pooling,
            "params": sum(node.weights for node in self.trunk),
            "ops": sum(node.macs for node in self.trunk),
            "building_blocks": building_blocks(self.graph),
        }
        checks = []
        for claim_id in CLAIMS:
            claim = self.ref.claims.get(claim_id)
            if claim is not None:
                checks.append(self.total(claim, computed[claim_id]))
        return tuple(checks)

    def total(self, claim: Claim, computed: int) -> Check:
        claimed = claim.value.value if isinstance(claim.value, Count) else claim.value
        agrees = about_agrees(claimed, computed) if claim.about else computed == claimed
        text = _show(claim.id, computed, self.ref) if claim.id in COUNT_COLUMNS else str(computed)
        if claim.about and claimed:
            text += f" ({float((computed - claimed) / Fraction(claimed)):+.1%})"
        printed = ("about " if claim.about else "") + str(claim.value)
        if not claim.checked:
            return Check(
                TOTAL,
                TOTAL,
                claim.id,
                printed,
                text,
                Mark.REPORTED,
                "the paper gives no rule for what counts as one; not judged",
            )
        exact = _exact(claim.id, computed) if claim.id in COUNT_COLUMNS else ""
        check = self.judge(TOTAL, TOTAL, claim.id, printed, _Seen(computed, text, self.spec.span, exact), agrees, None)
        if check.mark is Mark.MISMATCH:
            check = _with_note(check, f"the paper: {claim.text}")
        return check


# -- cells ---------------------------------------------------------------------------------


def column_key(name: str) -> str:
    """A module column and a block parameter name the same count when their keys are equal: case,
    underscores, a leading `n`, `ch` or `#` before the kernel size, and `reduce` shortened to `red`
    do not count (n3x3_reduce, n3x3red, ch3x3red and #3x3 reduce are one column)."""
    key = name.lower().replace("_", "").replace(" ", "")
    key = re.sub(r"^(?:n|ch|#)(?=\d)", "", key)
    return key.replace("reduce", "red")


def _agrees(column: str, printed: Any, computed: Any, reference: Reference) -> bool:
    if column in reference.modules and reference.modules[column].cell != POOL_COUNT:
        return (printed or None) == computed  # a printed 0 is no such layer, as a blank cell is
    if column in COUNT_COLUMNS:
        return count_agrees(printed, computed)
    if column == "type":
        return _type_agrees(printed, computed)
    if column == "patch_size_stride":
        return _patch_agrees(printed, computed)
    return printed == computed


def _type_of(layer: Layer, graph: Graph) -> _Seen:
    if isinstance(layer.call, BlockCall):
        return _Seen(("block", layer.call.block.lower(), None), f"{layer.call.block} ({layer.name})", layer.span)
    kind = _TYPE_OF_OP.get(layer.call.op, layer.call.op)
    rate = graph[layer.name].attrs.p if layer.call.op == "dropout" else None
    text = kind if rate is None else f"{kind} ({rate * 100:g}%)"
    return _Seen(("op", kind, rate), text, layer.span)


# Words the papers print for what netgen calls otherwise.
_SYNONYMS = {"conv": "convolution", "average": "avg", "pooling": "pool"}


def _type_agrees(printed: RowType, computed: tuple) -> bool:
    """The printed kind's first word names the layer: a block by the start of its name (dashes and
    underscores aside: `Inception-A` is `inception_a`), an op by one of its words (`conv padded`
    is a convolution, `pool` a max or avg pool). A count before it (`4 x Inception-A`) is left out."""
    what, kind, rate = computed
    words = re.sub(r"^\d+\s*[×x]\s*", "", printed.kind).split() or [""]
    first = _SYNONYMS.get(words[0], words[0])
    if what == "block":
        return _squash(kind).startswith(_squash(first))
    if not any(word.startswith(first) for word in kind.split()):
        return False
    wanted = dropout_rate(printed.label) if kind == "dropout" else None
    return wanted is None or (rate is not None and abs(Fraction(rate) - wanted) < Fraction(1, 10**9))


def _squash(name: str) -> str:
    return re.sub(r"[-_\s]", "", name.lower())


def _patch_agrees(printed: Patch | None, computed: tuple | None) -> bool:
    if printed is None or computed is None:
        return printed is None and computed is None
    if len(computed) != 3:
        return False
    kernel, stride, out = computed
    if printed.kernel is None:  # a module's stride: it alone is printed
        return all(s == printed.stride or o == 1 for s, o in zip(stride, out, strict=True))
    if printed.stride is None:
        return kernel == printed.kernel
    # A window applied once along a dimension (output 1) gives the same result for any stride.
    return kernel == printed.kernel and all(s == printed.stride or o == 1 for s, o in zip(stride, out, strict=True))


def _text(printed: Any) -> str:
    return "" if printed is None else str(printed)


def _show(cell: str, value: Any, reference: Reference) -> str:
    """A computed count in the table's notation with two decimals at most: 9408 -> 9.19K."""
    if cell not in COUNT_COLUMNS or not isinstance(value, int):
        return str(value)
    unit, suffix = (reference.k, "K") if cell == "params" else (reference.m, "M")
    number = f"{float(Fraction(value, unit)):.2f}".rstrip("0").rstrip(".")
    return f"{number}{suffix}"


def _exact(cell: str, value: int) -> str:
    return f"{value:,} {_BASE_UNITS[cell]}"


def _with_note(check: Check, note: str) -> Check:
    return Check(
        check.row, check.label, check.cell, check.printed, check.computed, check.mark, note, check.span, check.exact
    )


def check_names(spec: Spec, reference: Reference) -> list[Diagnostic]:
    """`netgen check` runs this too, so that a misspelt `row:` does not wait for `verify`."""
    try:
        _check_names(spec, reference)
    except SpecError as exc:
        return exc.diagnostics
    return []


def _row_hint(word: str, ids: list[str]) -> str:
    """'did you mean' for a row id; ids are short ('3a'), too short for a close match, so a
    shared first character is offered too."""
    close = suggestion(word, ids)
    if close or not word:
        return close
    alike = [row_id for row_id in ids if row_id[:1].lower() == word[:1].lower()]
    if not alike or len(alike) > 8:
        return ""
    return f"; did you mean {alike[0]!r}?" if len(alike) == 1 else f"; did you mean one of {', '.join(map(repr, alike))}?"


def _check_names(spec: Spec, reference: Reference) -> None:
    """Row ids in `row:` keys and in deviations must name the reference's rows and columns."""
    ids = [row.id for row in reference.rows]
    problems = []
    for layer in spec.layers:
        if layer.row is not None and layer.row not in ids:
            problems.append(
                error(
                    "unknown-row",
                    f"{layer.name}: row {layer.row!r} is not a row of {reference.path}{_row_hint(layer.row, ids)}",
                    layer.span,
                )
            )
    rows, cells = [*ids, TOTAL, EVERY], [*reference.columns, *CLAIMS, LAYER, EVERY]
    for dev in spec.deviations:
        for name, span in zip(dev.rows, dev.row_spans, strict=True):
            if name not in rows:
                problems.append(
                    error(
                        "unknown-row",
                        f"deviation: row {name!r} is not a row of {reference.path}{_row_hint(name, rows)}",
                        span,
                    )
                )
        for name, span in zip(dev.cells, dev.cell_spans, strict=True):
            if name not in cells:
                problems.append(
                    error(
                        "unknown-cell",
                        f"deviation: {name!r} is not a cell of {reference.path}"
                        f"{suggestion(name, cells) or '; the cells are ' + ', '.join(cells)}",
                        span,
                    )
                )
    if problems:
        raise SpecError(problems)


def reference_problems(spec: Spec, load: Callable[[str], Reference] | None = None) -> list[Diagnostic]:
    """What `netgen check` says about a spec's reference: its `row:` ids and deviations must name
    the reference's rows and cells (errors), and a reference that cannot be found is a warning,
    since the spec still builds but cannot be verified. `load` reads the table (spec_reference's)."""
    if spec.reference is None:
        return []
    try:
        reference = spec_reference(spec, None, load)
    except SpecError as exc:
        return [replace(d, severity=Severity.WARNING) if d.code == "no-reference-file" else d for d in exc.diagnostics]
    return check_names(spec, reference)
