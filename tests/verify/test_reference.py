"""Reading a reference table: printed cells in the paper's notation, errata, claims, clean errors."""

import re
from fractions import Fraction

import pytest

from netgen.diagnostics import SpecError
from netgen.verify.reference import (
    Patch,
    PoolProj,
    dropout_rate,
    load_reference,
    parse_count,
    parse_patch,
    parse_pool_count,
    parse_size,
    parse_type,
)
from tests.conftest import SPECS

REFERENCE = SPECS / "reference" / "googlenet-table1.yaml"
UNITS = {"K": 1024, "M": 10**6}
# Table 1's rows, top to bottom, by the ids the specs' `row:` keys use.
ROW_IDS = [
    "conv1", "pool1", "conv2", "pool2", "3a", "3b", "pool3", "4a", "4b", "4c", "4d", "4e",
    "pool4", "5a", "5b", "avgpool", "dropout", "linear", "softmax",
]  # fmt: skip


def test_sizes_are_printed_height_width_channels():
    assert parse_size("112×112×64").chw == (64, 112, 112)
    assert parse_size("7x7x1024").chw == (1024, 7, 7)
    assert str(parse_size("14×14×512")) == "14x14x512"


def test_patch_is_kernel_and_stride():
    assert parse_patch("7×7/2") == Patch((7, 7), 2)
    assert str(parse_patch("3×3/1")) == "3x3/1"
    # Inception-v3's Table 1 prints its last pool as a window alone.
    assert parse_patch("8 × 8") == Patch((8, 8), None)


def test_a_size_may_be_a_vector_and_dropout_a_keep_probability():
    assert parse_size("1536").chw == (1536, 1, 1)
    assert dropout_rate("keep 0.8") == Fraction(1, 5)
    assert dropout_rate("40%") == Fraction(2, 5)
    assert dropout_rate("keep all") is None


def test_counts_keep_their_printed_precision():
    small = parse_count("2.7K", UNITS)
    assert small.value == Fraction(27, 10) * 1024
    assert small.step == Fraction(1024, 10)
    large = parse_count("1000K", UNITS)
    assert (large.value, large.step) == (1000 * 1024, 1024)
    ops = parse_count("34M", UNITS)
    assert (ops.value, ops.step) == (34 * 10**6, 10**6)


def test_type_has_kind_and_label():
    module = parse_type("inception (3a)")
    assert (module.kind, module.label) == ("inception", "3a")
    plain = parse_type("max pool")
    assert (plain.kind, plain.label) == ("max pool", None)
    assert dropout_rate(parse_type("dropout (40%)").label) == Fraction(2, 5)
    assert dropout_rate("3a") is None


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_size, "112x112"),
        (parse_patch, "7x7/"),
        (lambda text: parse_count(text, UNITS), "2.7G"),
        (parse_type, "(3a)"),
    ],
)
def test_malformed_cells_are_refused(parse, text):
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse(text)


def test_project_reference_rows_errata_and_claims():
    reference = load_reference(str(REFERENCE))
    assert [row.id for row in reference.rows] == ROW_IDS
    assert (reference.k, reference.m) == (1024, 10**6)
    conv2 = reference.row("conv2")
    assert (conv2.cells["n3x3_reduce"], conv2.cells["n3x3"], conv2.cells["depth"]) == (64, 192, 2)
    assert reference.row("conv1").cells["output_size"].chw == (64, 112, 112)
    assert reference.row("pool1").cells["params"] is None
    errata = {(row.id, cell): erratum for row in reference.rows for cell, erratum in row.errata.items()}
    assert set(errata) == {
        ("conv1", "params"), ("conv1", "ops"), ("3b", "params"), ("4a", "params"), ("4a", "ops"), ("4b", "params"),
        ("4c", "params"), ("4d", "params"), ("4e", "params"), ("5a", "params"), ("5a", "ops"), ("5b", "params"),
    }  # fmt: skip
    assert errata["conv1", "params"].computed == 7 * 7 * 3 * 64
    assert all(isinstance(erratum.computed, int) and erratum.reason for erratum in errata.values())
    claims = reference.claims
    assert (claims["depth"].value, claims["depth_with_pooling"].value) == (22, 27)
    assert claims["ops"].about and claims["ops"].value.value == 1_500_000_000
    assert not claims["building_blocks"].checked


def _broken(tmp_path, old: str, new: str):
    text = REFERENCE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "table.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_reference(str(path))
    line = next(
        i
        for i, row in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if new and new.splitlines()[0] in row
    )
    return caught.value.diagnostics, line


def test_missing_file_is_a_located_error(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_reference(str(tmp_path / "absent.yaml"))
    assert caught.value.diagnostics[0].code == "no-file"


def test_malformed_yaml_is_located(tmp_path):
    diagnostics, line = _broken(tmp_path, "  output_size: 112×112×64\n", "  output_size: [112×112×64\n")
    assert [(d.code, d.span.line) for d in diagnostics] == [("yaml-syntax", line)]


def test_erratum_must_quote_the_printed_cell(tmp_path):
    diagnostics, line = _broken(tmp_path, "    printed: 2.7K\n", "    printed: 2.8K\n")
    assert [(d.code, d.span.line) for d in diagnostics] == [("bad-reference", line)]
    assert "2.8K" in diagnostics[0].message


def test_bad_cell_is_located(tmp_path):
    diagnostics, line = _broken(tmp_path, "  patch_size_stride: 7×7/2\n", "  patch_size_stride: 7×7/two\n")
    assert [(d.code, d.span.line) for d in diagnostics] == [("bad-reference", line)]
    assert "patch_size_stride" in diagnostics[0].message


def test_blank_cells_are_written_not_left_out(tmp_path):
    diagnostics, _ = _broken(
        tmp_path, "- id: pool1\n  type: max pool\n  patch_size_stride: 3×3/2\n", "- id: pool1\n  type: max pool\n"
    )
    assert any("row 'pool1' has no 'patch_size_stride' cell" in d.message for d in diagnostics)


# -- a reference that declares its module columns (Figure 5 of the BN-Inception paper) ---------

FIGURE5 = SPECS / "reference" / "bn-inception-figure5.yaml"


def test_a_module_and_its_pooling_are_read_as_printed():
    assert parse_pool_count("avg + 32") == PoolProj("avg", 32)
    assert parse_pool_count("max + pass through") == PoolProj("max", None)
    assert str(parse_pool_count("max+128")) == "max + 128"
    assert parse_patch("stride 2") == Patch(None, 2) and str(Patch(None, 2)) == "stride 2"
    with pytest.raises(ValueError, match="'sum \\+ 32'"):
        parse_pool_count("sum + 32")


def test_figure5_declares_its_columns_and_prints_its_cells():
    reference = load_reference(str(FIGURE5))
    assert reference.columns == (
        "type", "patch_size_stride", "output_size", "depth",
        "n1x1", "n3x3_reduce", "n3x3", "double_3x3_reduce", "double_3x3", "pool_proj",
    )  # fmt: skip
    assert reference.titles["double_3x3_reduce"] == "double #3×3 reduce"
    assert reference.modules["pool_proj"].cell == "pool + count"
    assert reference.modules["double_3x3"].params == ("double_3x3", "d3x3")
    cells = reference.row("3c").cells
    assert (cells["n1x1"], cells["pool_proj"], str(cells["patch_size_stride"])) == (0, PoolProj("max", None), "stride 2")
    assert reference.row("5b").cells["pool_proj"] == PoolProj("max", 128)
    errata = {(row.id, cell) for row in reference.rows for cell in row.errata}
    assert errata == {("conv2", "depth"), ("3c", "output_size"), ("4c", "output_size"), ("4d", "output_size"), ("4e", "output_size")}


def _declared(tmp_path, old: str, new: str):
    """The diagnostics of Figure 5 with `old` made `new`, and the line of new's last line."""
    text = FIGURE5.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "figure.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_reference(str(path))
    line = text[: text.index(old)].count("\n") + 1 + new.rstrip("\n").count("\n")
    return [(d.code, d.span.line, d.message) for d in caught.value.diagnostics], line


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("cell: pool + count}", "cell: pooled}", "'cell' must be 'count' or 'pool + count', got 'pooled'"),
        ("{id: n1x1, title: '#1×1', params: [n1x1]}", "{id: n1x1, title: '#1×1', param: n1x1}", "unknown key 'param'"),
        ("{id: n3x3, title: '#3×3', params: [n3x3]}", "{id: depth, title: '#3×3'}", "'depth' is a built-in column"),
        ("{id: n3x3, title: '#3×3', params: [n3x3]}", "{id: n3x3, params: [n3x3]}", "'title' must be the column's heading"),
        ("{id: n3x3, title: '#3×3', params: [n3x3]}", "{id: n3x3, title: '#3×3', params: [3x3]}", "'params' must name"),
        ("  pool_proj: avg + 64\n", "  pool_proj: avg 64\n", "`avg + 32`, `max + 128` or `max + pass through`"),
        ("- depth\n", "- depth\n- depth\n", "listed twice"),
        ("- depth\n", "- deep\n", "unknown column 'deep'"),
    ],
)
def test_a_badly_declared_column_is_a_located_error(tmp_path, old, new, message):
    diagnostics, line = _declared(tmp_path, old, new)
    assert [(code, where) for code, where, _ in diagnostics][:1] == [("bad-reference", line)], diagnostics
    assert message in diagnostics[0][2]
