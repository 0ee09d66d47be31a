"""Shared by the language server's tests: a spec's analysis and view, as the server makes them."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from netgen.lsp.analysis import Analysis, ReferenceTables, View, analyse
from netgen.lsp.text import Text
from netgen.spec.yaml_reuse import ReusingReader


def analysis_of(
    path: Path, source: str | None = None, tables: ReferenceTables | None = None, reader: ReusingReader | None = None
) -> Analysis:
    path = path.resolve()
    text = Text(path.read_text(encoding="utf-8") if source is None else source)
    return analyse(path.as_uri(), str(path), 1, text, tables or ReferenceTables(), reader)


def view_of(path: Path, source: str | None = None, good: Analysis | None = None) -> View:
    """The view a request sees: of `source` (default: the file), with `good` as the last analysis
    that compiled (default: this text's own, when it compiles)."""
    analysis = analysis_of(path, source)
    return View(
        analysis.uri,
        analysis.text,
        analysis.outline,
        good if good is not None else (analysis if analysis.good else None),
    )


def offset(view: View, fragment: str, at: str | None = None, nth: int = 0) -> int:
    """The offset of `at` (its last occurrence in `fragment`; default: the start of `fragment`) in the
    nth occurrence of `fragment`."""
    start = -1
    for _ in range(nth + 1):
        start = view.text.source.index(fragment, start + 1)
    return start + (fragment.rindex(at) if at else 0)


def apply_edits(source: str, edits: list[types.TextEdit]) -> str:
    """`source` with LSP text edits applied, last first."""
    text = Text(source)
    spans = sorted(
        ((text.offset(edit.range.start), text.offset(edit.range.end), edit.new_text) for edit in edits), reverse=True
    )
    for start, end, new in spans:
        source = source[:start] + new + source[end:]
    return source
