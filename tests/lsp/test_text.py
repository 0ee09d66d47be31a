"""Positions between the compiler (YAML lines, characters, from 1) and the editor (LSP lines,
UTF-16 code units, from 0), and the outline of a text that may not parse."""

from __future__ import annotations

from lsprotocol import types

from netgen.diagnostics import Span
from netgen.lsp.outline import outline
from netgen.lsp.text import UTF8, UTF32, Text


def _position(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


def test_columns_are_utf16_code_units_unless_the_client_chose_another_encoding():
    source = "name: 🙂x\ninput: [3, 8, 8]\n"
    text = Text(source)
    x = source.index("x")
    assert text.position(x) == _position(0, 8)  # the emoji is two UTF-16 units
    assert text.offset(_position(0, 8)) == x
    assert Text(source, UTF32).position(x) == _position(0, 7)
    assert Text(source, UTF8).position(x) == _position(0, 10)
    assert text.offset_of(Span("f", 1, 8)) == x  # the compiler counts characters


def test_lines_are_counted_as_each_side_counts_them():
    # YAML breaks lines at U+2028 too; LSP only at CR, LF and CRLF.
    source = "a: 1\r\nb: x\u2028y\nc: 2\n"
    text = Text(source)
    c = source.index("c:")
    assert text.offset_of(Span("f", 4, 1)) == c
    assert text.position(c) == _position(2, 0)
    assert text.yaml_line_col(c) == (4, 1)


def test_a_byte_order_mark_is_no_column_for_the_compiler():
    text = Text("\ufeffname: x\n")
    assert text.offset_of(Span("f", 1, 1)) == 1


def test_incremental_changes_apply_at_editor_positions():
    text = Text("a: 🙂\nb: 2\n")
    change = types.TextDocumentContentChangePartial(range=types.Range(_position(1, 3), _position(1, 4)), text="3")
    assert text.apply(change).source == "a: 🙂\nb: 3\n"
    whole = types.TextDocumentContentChangeWholeDocument(text="c: 1\n")
    assert text.apply(whole).source == "c: 1\n"
    past_the_end = types.TextDocumentContentChangePartial(
        range=types.Range(_position(9, 0), _position(9, 0)), text="d: 4\n"
    )
    assert text.apply(past_the_end).source.endswith("d: 4\n")


def test_the_outline_gives_paths_and_extents():
    source = "layers:\n  conv1: {conv: {out: 8, kernel: 3}, from: [input, input]}\n  seq:\n    - relu:\n"
    shape = outline(source)
    assert shape.keys[("layers", "conv1", "conv", "kernel")].text == "kernel"
    assert [entry.text for entry in shape.entries if entry.path == ("layers", "conv1", "from", 1)] == ["input"]
    start, end = shape.extent(("layers", "conv1"))
    assert source[start:end] == "conv1: {conv: {out: 8, kernel: 3}, from: [input, input]}"
    assert shape.keys[("layers", "seq", 0, "relu")].text == "relu"


def test_a_line_that_does_not_parse_costs_the_outline_that_line_only():
    source = "layers:\n  a: {conv: {out: 8,, {{\n  b: {relu: }\nheads:\n  h: {relu: , from: b}\n"
    shape = outline(source)
    assert shape.blanked == (source.index("  a:"),)
    assert ("layers", "b") in shape.keys and ("heads", "h") in shape.keys
    assert shape.value(("heads", "h", "from")).text == "b"
    # an unclosed bracket is blamed on its line, not on the line where the parser noticed it
    unclosed = "layers:\n  a: {conv: {out: 8\n  b: {relu: }\n"
    assert ("layers", "b") in outline(unclosed).keys
