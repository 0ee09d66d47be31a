"""Comparing a compiled spec with Table 1: agreement rules, errata, deviations and located mismatches."""

from fractions import Fraction

import pytest

from netgen.compile import compile_file
from netgen.diagnostics import SpecError
from netgen.spec.parse import load_spec
from netgen.verify.reference import Erratum, load_reference, parse_count, reference_path
from netgen.verify.render import render
from netgen.verify.table import LAYER, TOTAL, Mark, about_agrees, classify, count_agrees, verify
from tests.conftest import GOOGLENET, SPECS

REFERENCE = SPECS / "reference" / "googlenet-table1.yaml"
UNITS = {"K": 1024, "M": 10**6}


@pytest.fixture(scope="module")
def reference():
    return load_reference(str(REFERENCE))


@pytest.fixture(scope="module")
def paper(googlenet, reference):
    spec, graph = googlenet
    return verify(spec, graph, reference)


@pytest.fixture
def edited(tmp_path, reference):
    """Verify a copy of specs/googlenet.yaml with text replaced; returns (result, path of the copy)."""

    def run(*replacements: tuple[str, str]):
        text = GOOGLENET.read_text()
        for old, new in replacements:
            assert old in text, old
            text = text.replace(old, new, 1)
        path = tmp_path / "googlenet.yaml"
        path.write_text(text)
        spec, graph = compile_file(str(path))
        return verify(spec, graph, reference), path

    return run


def line_of(path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def cell(result, row: str, name: str):
    found = next(r for r in result.rows if r.id == row).check(name)
    assert found is not None, (row, name)
    return found


# -- the rules, one value at a time ------------------------------------------------------------


def test_counts_agree_within_half_a_printed_unit():
    k = UNITS["K"]
    # 3a's weights are exactly 159.5K: the edge of "159K" counts as agreeing.
    assert count_agrees(parse_count("159K", UNITS), int(Fraction(1595, 10) * k))
    assert not count_agrees(parse_count("159K", UNITS), int(Fraction(1595, 10) * k) + 1)
    assert count_agrees(parse_count("2.7K", UNITS), int(Fraction(265, 100) * k) + 1)
    assert not count_agrees(parse_count("2.7K", UNITS), int(Fraction(265, 100) * k) - 1)
    assert count_agrees(None, 0) and not count_agrees(None, 1)


def test_about_claims_agree_within_ten_percent():
    assert about_agrees(1000, 1100) and about_agrees(1000, 900)
    assert not about_agrees(1000, 1101) and not about_agrees(1000, 899)


def test_erratum_needs_the_documented_computed_value():
    erratum = Erratum("params", "2.7K", 9408, "no reading of the row gives 2.7K")
    assert classify(False, 9408, erratum, None) == (Mark.ERRATUM, erratum.reason)
    mark, note = classify(False, 9409, erratum, None)
    assert mark is Mark.MISMATCH and "9408" in note
    assert classify(True, 9409, erratum, None) == (Mark.AGREE, "")


# -- GoogLeNet as the paper prints it ----------------------------------------------------------


def test_googlenet_agrees_up_to_documented_errata(paper, reference):
    assert paper.ok
    documented = {(row.id, name) for row in reference.rows for name in row.errata}
    marks = {(check.row, check.cell): check.mark for check in paper.checks()}
    assert {key for key, mark in marks.items() if mark is Mark.ERRATUM} == documented
    assert {mark for key, mark in marks.items() if key not in documented} == {Mark.AGREE, Mark.REPORTED}
    assert [key for key, mark in marks.items() if mark is Mark.REPORTED] == [(TOTAL, "building_blocks")]
    assert all(row.layers for row in paper.rows)
    assert paper.unused_deviations == () and paper.unmapped_layers == ()


def test_rows_of_several_layers_and_module_columns(paper):
    conv2 = next(row for row in paper.rows if row.id == "conv2")
    assert conv2.layers == ("conv2", "conv3")
    assert [(cell(paper, "conv2", name).computed) for name in ("depth", "n3x3_reduce", "n3x3", "patch_size_stride")] == [
        "2", "64", "192", "3x3/1",
    ]  # fmt: skip
    assert cell(paper, "4e", "n5x5").computed == "128"
    assert cell(paper, "dropout", "type").computed == "dropout (40%)"


def test_errata_carry_computed_values(paper):
    conv1_params, conv1_ops = cell(paper, "conv1", "params"), cell(paper, "conv1", "ops")
    assert (conv1_params.computed, conv1_params.exact) == ("9.19K", "9,408 weights")
    assert conv1_ops.computed == "118.01M"
    assert (cell(paper, "5a", "params").computed, cell(paper, "5a", "ops").computed) == ("1018K", "51.08M")
    assert all(check.note for check in paper.differences)


def test_totals_are_the_papers_claims(paper):
    totals = {check.cell: check for check in paper.totals}
    assert (totals["depth"].computed, totals["depth_with_pooling"].computed) == ("22", "27")
    assert totals["depth"].mark is Mark.AGREE and totals["ops"].mark is Mark.AGREE
    assert totals["ops"].printed == "about 1500M"


def test_render_shows_every_row_within_160_columns(paper, reference):
    text = render(paper)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 160
    for row in reference.rows:
        assert any(line.split()[:1] == [row.id] for line in lines), row.id
    assert lines[-1].startswith("ok:")


# -- disagreements -----------------------------------------------------------------------------


def test_changed_module_width_mismatches_at_its_line(edited):
    result, path = edited(("inception4c:  {inception: [128,  128, 256,", "inception4c:  {inception: [128,  128, 255,"))
    assert not result.ok
    line = line_of(path, "inception4c:")
    output = cell(result, "4c", "output_size")
    assert (output.mark, output.computed, output.printed) == (Mark.MISMATCH, "14x14x511", "14x14x512")
    assert (output.span.line, output.span.col) == (line, 3)
    width = cell(result, "4c", "n3x3")
    assert (width.mark, width.span.line, width.computed) == (Mark.MISMATCH, line, "255")
    assert path.read_text().splitlines()[line - 1][width.span.col - 1 :].startswith("255")
    # 4c's params cell is an erratum of the paper, but not for these filter counts.
    params = cell(result, "4c", "params")
    assert params.mark is Mark.MISMATCH and "documents an erratum" in params.note
    assert f"{path}:{line}:3: inception (4c) output_size: computed 14x14x511 vs printed 14x14x512" in render(result)


def test_wrong_row_mapping_mismatches(edited):
    result, path = edited(("row: 4d}", "row: 4c}"))
    assert not result.ok
    missing = cell(result, "4d", LAYER)
    # No layer to blame: the spec's top is.
    assert (missing.mark, missing.span.line) == (Mark.MISMATCH, line_of(path, "name: GoogLeNet"))
    doubled = next(row for row in result.rows if row.id == "4c")
    assert doubled.layers == ("inception4c", "inception4d")
    assert cell(result, "4c", "output_size").mark is Mark.MISMATCH
    assert cell(result, "4c", "output_size").span.line == line_of(path, "inception4d:")


def test_changed_stem_mismatches(edited):
    result, path = edited(("conv1:        {conv: {out: 64,", "conv1:        {conv: {out: 32,"))
    assert not result.ok
    line = line_of(path, "conv1:")
    for name in ("output_size", "params", "ops"):
        check = cell(result, "conv1", name)
        assert (check.mark, check.span.line) == (Mark.MISMATCH, line), name
    assert cell(result, "pool1", "output_size").mark is Mark.MISMATCH


def test_unknown_row_id_is_a_located_error(tmp_path):
    path = tmp_path / "googlenet.yaml"
    path.write_text(GOOGLENET.read_text().replace("row: 4c}", "row: 4cc}", 1))
    spec, graph = compile_file(str(path))
    with pytest.raises(SpecError) as caught:
        verify(spec, graph, load_reference(str(REFERENCE)))
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.code == "unknown-row" and diagnostic.span.line == line_of(path, "row: 4cc}")
    assert "did you mean '4c'?" in diagnostic.message


def test_spec_without_reference_is_a_located_error(tmp_path):
    path = tmp_path / "googlenet.yaml"
    path.write_text(GOOGLENET.read_text().replace("reference: reference/googlenet-table1.yaml\n", ""))
    spec = load_spec(str(path))
    with pytest.raises(SpecError) as caught:
        reference_path(spec, None)
    assert caught.value.diagnostics[0].code == "no-reference"
    assert caught.value.diagnostics[0].span.file == str(path)
    assert reference_path(spec, str(REFERENCE)) == str(REFERENCE)


def test_default_reference_is_relative_to_the_spec(googlenet):
    spec, _ = googlenet
    assert load_reference(reference_path(spec, None)).rows == load_reference(str(REFERENCE)).rows


def test_module_columns_are_matched_by_parameter_name_not_position(tmp_path, reference):
    # A parameter put first in `inception` moves every other one a place to the right.
    text = GOOGLENET.read_text()
    text = text.replace("params: [n1x1, n3x3red,", "params: [extra, n1x1, n3x3red,")
    text = text.replace("{inception: [", "{inception: [8, ")
    text = text.replace("- conv: {out: n1x1, kernel: 1}", "- conv: {out: n1x1, kernel: 1}\n        - conv: {out: extra, kernel: 1}\n        - conv: {out: n1x1, kernel: 1}", 1)
    path = tmp_path / "googlenet.yaml"
    path.write_text(text)
    spec, graph = compile_file(str(path))
    result = verify(spec, graph, reference)
    for row in ("3a", "4e", "5b"):
        for column in ("n1x1", "n3x3_reduce", "n3x3", "n5x5_reduce", "n5x5", "pool_proj"):
            assert cell(result, row, column).mark is Mark.AGREE, (row, column)
    assert cell(result, "3a", "n1x1").computed == "64"


@pytest.mark.parametrize(
    ("param", "column"),
    [("n3x3red", "n3x3_reduce"), ("ch3x3red", "n3x3_reduce"), ("#3x3 reduce", "n3x3_reduce"), ("ch5x5", "n5x5"), ("pool_proj", "pool_proj")],
)
def test_a_parameter_names_a_column_whatever_its_prefix_and_abbreviation(param, column):
    from netgen.verify.table import column_key

    assert column_key(param) == column_key(column)
    assert column_key(param) != column_key("n1x1")


@pytest.mark.parametrize(
    ("printed", "computed", "agrees"),
    [
        ("conv padded", ("op", "convolution", None), True),
        ("pool", ("op", "max pool", None), True),
        ("Average Pooling", ("op", "avg pool", None), True),
        ("Average Pooling", ("op", "max pool", None), False),
        ("4 x Inception-A", ("block", "inception_a", None), True),
        ("3×Inception", ("block", "inception_c", None), True),
        ("Reduction-A", ("block", "inception_a", None), False),
        ("Dropout (keep 0.8)", ("op", "dropout", 0.2), True),
        ("Dropout (keep 0.8)", ("op", "dropout", 0.0), False),
    ],
)
def test_row_types_read_as_the_papers_print_them(printed, computed, agrees):
    from netgen.verify.reference import parse_type
    from netgen.verify.table import _type_agrees

    assert _type_agrees(parse_type(printed), computed) is agrees


def test_input_size_is_what_a_rows_first_layer_receives():
    spec, graph = compile_file(str(SPECS / "inception-v3.yaml"))
    result = verify(spec, graph, load_reference(str(SPECS / "reference" / "inception-v3-table1.yaml")))
    assert cell(result, "conv1", "input_size").mark is Mark.AGREE
    # Three Inception modules: the first reads the stem's 192 channels (Table 1 prints 288).
    first = cell(result, "inception_a", "input_size")
    assert (first.computed, first.printed, first.mark) == ("35x35x192", "35x35x288", Mark.DEVIATION)
    assert cell(result, "inception_b", "input_size").mark is Mark.AGREE  # Mixed_6b, after the reduction
    assert cell(result, "pool", "patch_size_stride").mark is Mark.AGREE  # `8 × 8`: the window, any stride


# -- a reference that declares its own module columns: BN-Inception's Figure 5 ------------------

BN_INCEPTION = SPECS / "bn-inception.yaml"
BN_INCEPTION_BLOCKS = SPECS / "blocks" / "bn-inception.yaml"
FIGURE5 = SPECS / "reference" / "bn-inception-figure5.yaml"


def _bn_inception(tmp_path, *replacements: tuple[str, str]):
    """BN-Inception's spec and its block library copied to tmp_path, each replacement made in whichever holds it."""
    texts = {"spec": BN_INCEPTION.read_text(), "library": BN_INCEPTION_BLOCKS.read_text()}
    for old, new in replacements:
        holding = [part for part, text in texts.items() if old in text]
        assert holding, old
        for part in holding:
            texts[part] = texts[part].replace(old, new)
    path = tmp_path / BN_INCEPTION.name
    path.write_text(texts["spec"])
    (tmp_path / "blocks").mkdir(exist_ok=True)
    (tmp_path / "blocks" / BN_INCEPTION_BLOCKS.name).write_text(texts["library"])
    spec, graph = compile_file(str(path))
    return verify(spec, graph, load_reference(str(FIGURE5))), path


def test_figure5_as_printed_checks_every_module_column(tmp_path):
    result, _ = _bn_inception(tmp_path)
    assert result.ok
    marks = [(check.row, check.cell, check.mark) for check in result.differences]
    assert marks == [
        ("conv1", "type", Mark.DEVIATION),
        ("conv2", "depth", Mark.ERRATUM),
        ("3c", "output_size", Mark.ERRATUM),
        ("4c", "output_size", Mark.ERRATUM),
        ("4d", "output_size", Mark.ERRATUM),
        ("4e", "output_size", Mark.ERRATUM),
    ]
    # `0` filters is no such branch; `max + pass through` a max pool and no projection; `stride 2`
    # the module's own stride.
    assert cell(result, "3c", "n1x1").mark is Mark.AGREE
    assert (cell(result, "4e", "pool_proj").computed, cell(result, "4e", "pool_proj").mark) == ("max + pass through", Mark.AGREE)
    assert (cell(result, "3c", "patch_size_stride").computed, cell(result, "3c", "patch_size_stride").mark) == ("stride 2", Mark.AGREE)
    assert cell(result, "4a", "patch_size_stride").computed == ""
    assert cell(result, "conv2", "n3x3_reduce").computed == "64"  # plain convolutions fill declared columns too
    text = render(result)
    assert "double #3x3 reduce" in text and "Pool +proj" in text
    assert "ok: every difference is documented (5 errata of the paper, 1 declared deviation)" in text


def test_a_module_pooling_otherwise_mismatches_at_its_line(tmp_path):
    result, path = _bn_inception(tmp_path, ("224,  max,  128]", "224,  avg,  128]"))
    check = cell(result, "5b", "pool_proj")
    assert (check.printed, check.computed, check.mark) == ("max + 128", "avg + 128", Mark.MISMATCH)
    assert check.span.line == line_of(path, "inception_5b:")


def test_declared_columns_match_a_blocks_parameters_by_any_of_their_names(tmp_path):
    # Figure 5 names `d3x3` and `d3x3_reduce` among the parameters of its double 3x3 columns.
    result, _ = _bn_inception(
        tmp_path,
        ("double_3x3_reduce, double_3x3, pool: pool,", "d3x3_reduce, d3x3, pool: pool,"),
        ("double_3x3_reduce, double_3x3]", "d3x3_reduce, d3x3]"),
        ("{out: double_3x3_reduce,", "{out: d3x3_reduce,"),
        ("{out: double_3x3,", "{out: d3x3,"),
    )
    assert result.ok
    assert cell(result, "4d", "double_3x3_reduce").computed == "160"
    wrong, path = _bn_inception(tmp_path, ("[ 96,  128, 192,   160,  192,  avg,  128]", "[ 96,  128, 192,   160,  176,  avg,  112]"))
    assert (cell(wrong, "4d", "double_3x3").mark, cell(wrong, "4d", "pool_proj").computed) == (Mark.MISMATCH, "avg + 112")
    assert cell(wrong, "4d", "double_3x3").span.line == line_of(path, "inception_4d:")
