"""Reading a spec again after an edit gives exactly what reading it whole gives: the same values,
the same span on every key and value, the same diagnostics; and it reads only what changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from netgen.diagnostics import SpecError
from netgen.spec.yaml_reuse import ReusingReader
from netgen.spec.yaml_source import Source, YList, YMap, load_yaml, read_source
from tests.conftest import GOOGLENET, SPECS

TESTS = Path(__file__).resolve().parents[1] / "specs"
CORPUS = sorted(
    [
        *SPECS.glob("*.yaml"),
        *(SPECS / "reference").glob("*.yaml"),
        *(TESTS / "bad").glob("*.yaml"),
        *(TESTS / "warn").glob("*.yaml"),
    ]
)


def _same(whole, piecewise, where: str = "top") -> None:
    assert type(whole) is type(piecewise), where
    if isinstance(whole, YMap):
        assert (whole.span, list(whole), whole.key_spans, whole.value_spans) == (
            piecewise.span,
            list(piecewise),
            piecewise.key_spans,
            piecewise.value_spans,
        ), where
        for key in whole:
            _same(whole[key], piecewise[key], f"{where}.{key}")
    elif isinstance(whole, YList):
        assert (whole.span, whole.item_spans, len(whole)) == (piecewise.span, piecewise.item_spans, len(piecewise)), (
            where
        )
        for index, (one, other) in enumerate(zip(whole, piecewise, strict=True)):
            _same(one, other, f"{where}[{index}]")
    else:
        assert whole == piecewise, where


def _outcome(read, source: Source):
    try:
        return read(source), None
    except SpecError as exc:
        return None, [diagnostic.render() for diagnostic in exc.diagnostics]


def _agree(reader: ReusingReader, source: Source) -> None:
    whole, refused = _outcome(load_yaml, source)
    piecewise, refused_piecewise = _outcome(reader, source)
    assert refused == refused_piecewise
    if refused is None:
        _same(whole, piecewise)


def _source(path: Path) -> Source | None:
    try:
        return read_source(str(path), path.read_bytes())
    except SpecError:
        return None  # refused before YAML is read (not UTF-8, too large): nothing to compare


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_document_reads_the_same(path):
    source = _source(path)
    if source is not None:
        reader = ReusingReader()
        _agree(reader, source)
        _agree(reader, source)  # again, from what the first read kept


@pytest.mark.parametrize(
    "path", [GOOGLENET, TESTS / "bad" / "duplicate-top-level-key.yaml"], ids=lambda path: path.name
)
def test_every_edit_of_a_line_reads_the_same(path):
    """Each line deleted, doubled, or with a character changed, each read after the last: the
    edits a user makes, with the reader keeping what its last read had."""
    source = _source(path)
    reader = ReusingReader()
    lines = source.text.splitlines(keepends=True)
    for number, line in enumerate(lines):
        middle = len(line) // 2
        edits = [
            lines[:number] + lines[number + 1 :],
            lines[:number] + [line, line] + lines[number + 1 :],
            lines[:number] + [line[:middle] + "x" + line[middle + 1 :]] + lines[number + 1 :],
        ]
        for edited in edits:
            _agree(reader, Source(source.path, "".join(edited)))


def test_an_edit_reads_only_its_entry_again():
    source = _source(GOOGLENET)
    reader = ReusingReader()
    reader(source)
    reader(source)
    assert reader.read == 0 and reader.reused == 34  # 6 top-level entries, 1 default, 2 blocks, 23 layers, 2 heads
    for before, after in (
        ("inception4b:  {inception: [160,", "inception4b:  {inception: [161,"),  # a layer
        ("- conv: {out: n3x3, kernel: 3, pad: same}", "- conv: {out: n3x3, kernel: 5, pad: same}"),  # a block
        ("num_classes: 1000", "num_classes: 100"),  # a top-level value
    ):
        reader(source)
        reader(Source(source.path, source.text.replace(before, after)))
        assert reader.read == 1, before
    # A line added above moves everything below: those entries are read again, at their new lines.
    moved = source.text.replace("\nlayers:", "\n\nlayers:")
    _same(load_yaml(Source(source.path, moved)), reader(Source(source.path, moved)))


def test_what_a_piecewise_read_could_get_wrong_is_read_whole():
    reader = ReusingReader()
    for text in (
        "a: &x {b: 1}\nc: *x\n",  # an alias across entries
        "--- \na: 1\n",  # an explicit document
        "%YAML 1.2\n---\na: 1\n",
        "? a\n: 1\n",  # a key written after `?`
        "a: 1\na: 2\n",  # a duplicate key
        "[1, 2]\n",
        "{a: 1, b: 2}\n",
    ):
        _agree(reader, Source("x.yaml", text))
