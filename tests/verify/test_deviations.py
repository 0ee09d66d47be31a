"""A spec's `deviations:`: parsed with spans, checked against the reference, and turning differences
they cover into documented deviations."""

import pytest

from netgen.compile import compile_file
from netgen.diagnostics import SpecError
from netgen.verify.reference import load_reference
from netgen.verify.render import render
from netgen.verify.table import Mark, verify
from tests.conftest import GOOGLENET, SPECS

REFERENCE = SPECS / "reference" / "googlenet-table1.yaml"
NARROWER_4C = ("inception4c:  {inception: [128,  128, 256,", "inception4c:  {inception: [128,  128, 255,")


def write(tmp_path, deviations: str, *replacements):
    text = GOOGLENET.read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "googlenet.yaml"
    path.write_text(text + "\ndeviations:\n" + deviations)
    return path


def line_of(path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_deviations_are_parsed_with_spans(tmp_path):
    path = write(
        tmp_path,
        '  - {row: [4c, 4d], cell: "*", reason: a narrower 3x3 branch}\n  - row: 5b\n    cell: n1x1\n    reason: kept\n',
    )
    spec, _ = compile_file(str(path))
    first, second = spec.deviations
    assert (first.rows, first.cells, first.reason) == (("4c", "4d"), ("*",), "a narrower 3x3 branch")
    assert [span.line for span in first.row_spans] == [line_of(path, "a narrower")] * 2
    assert (second.rows, second.cells) == (("5b",), ("n1x1",))
    assert second.cell_spans[0].line == line_of(path, "cell: n1x1")


def test_deviation_needs_a_reason(tmp_path):
    path = write(tmp_path, "  - {row: 4c, cell: n3x3}\n")
    with pytest.raises(SpecError) as caught:
        compile_file(str(path))
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.code, diagnostic.span.line) == ("missing-key", line_of(path, "row: 4c, cell: n3x3"))


def test_declared_deviation_documents_the_difference(tmp_path):
    path = write(
        tmp_path,
        '  - {row: [4c, 4d], cell: "*", reason: a narrower 3x3 branch in 4c}\n  - {row: 5b, cell: n1x1, reason: never differs}\n',
        NARROWER_4C,
    )
    spec, graph = compile_file(str(path))
    result = verify(spec, graph, load_reference(str(REFERENCE)))
    assert result.ok
    declared = line_of(path, "a narrower 3x3 branch in 4c")
    covered = [check for check in result.differences if check.row in ("4c", "4d")]
    assert {check.cell for check in covered} >= {"output_size", "n3x3", "params"}
    assert all(check.mark is Mark.DEVIATION and check.span.line == declared for check in covered)
    [unused] = result.unused_deviations
    assert unused.rows == ("5b",)
    text = render(result)
    assert f"{unused.span}: note: this deviation covers no differing cell: never differs" in text
    assert "declared deviation" in text and text.splitlines()[-1].startswith("ok:")


def test_deviation_names_are_checked_against_the_reference(tmp_path):
    path = write(tmp_path, "  - {row: 4c, cell: n3x3_redcue, reason: typo}\n")
    spec, graph = compile_file(str(path))
    with pytest.raises(SpecError) as caught:
        verify(spec, graph, load_reference(str(REFERENCE)))
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.code == "unknown-cell" and diagnostic.span.line == line_of(path, "n3x3_redcue")
    assert "did you mean 'n3x3_reduce'?" in diagnostic.message


def test_totals_take_deviations_too(tmp_path):
    path = write(
        tmp_path,
        "  - {row: total, cell: depth, reason: one more layer}\n",
        ("fc:           {linear:", "fc0:          {linear: {out: 1024}, row: linear}\n  fc:           {linear:"),
    )
    spec, graph = compile_file(str(path))
    result = verify(spec, graph, load_reference(str(REFERENCE)))
    totals = {check.cell: check for check in result.totals}
    assert totals["depth"].mark is Mark.DEVIATION
    assert totals["depth_with_pooling"].mark is Mark.MISMATCH
    assert not result.ok
