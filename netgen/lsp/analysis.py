"""One check of an editor's buffer, and what the editor's features read from it.

A check is `netgen check`'s own (netgen.check.check_spec) on the buffer's text: the same
diagnostics, the same spec and graph. The summary, the outline of the text and the reference table
are computed from it when a feature first asks.
"""

from __future__ import annotations

import os
import re
import time
import traceback
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from lsprotocol import types

from netgen.check import Checked, check_spec
from netgen.diagnostics import Diagnostic, Severity, SpecError, error
from netgen.lsp.outline import Outline, outline
from netgen.lsp.text import Text
from netgen.printable import escape
from netgen.spec.yaml_reuse import ReusingReader
from netgen.verify.reference import Reference, load_reference, reference_path

SOURCE = "netgen"
# What makes a YAML file a spec, for an editor that starts the server for every YAML file: it names
# netgen's schema (as `netgen new` and every shipped spec do) or has a top-level `layers:`.
_SPEC_MARK = re.compile(r"^#\s*yaml-language-server:\s*\$schema=\S*netgen\.schema\.json|^layers[ \t]*:", re.MULTILINE)
_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.NOTE: types.DiagnosticSeverity.Information,
}


class ReferenceTables:
    """Reference tables read once while their file is unchanged (same size, time and inode): a
    spec's `row:` ids are checked against its table at every keystroke."""

    def __init__(self):
        self._tables: dict[str, tuple[tuple, Reference | list[Diagnostic]]] = {}

    def load(self, path: str) -> Reference:
        try:
            stat = os.stat(path)
        except OSError:
            return load_reference(path)  # it says why it cannot read the file
        key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        known = self._tables.get(path)
        if known is None or known[0] != key:
            try:
                known = (key, load_reference(path))
            except SpecError as exc:
                known = (key, exc.diagnostics)
            self._tables[path] = known
        if isinstance(known[1], list):
            raise SpecError(known[1])
        return known[1]


@dataclass
class Analysis:
    """The check of one version of a buffer."""

    uri: str
    path: str
    version: int | None
    text: Text
    checked: Checked
    seconds: float
    tables: ReferenceTables = field(repr=False, default_factory=ReferenceTables)

    @property
    def good(self) -> bool:
        """Whether the compiler got through: every layer's shape and counts are known."""
        return self.checked.graph is not None

    @property
    def spec(self):
        return self.checked.spec

    @property
    def graph(self):
        return self.checked.graph

    @cached_property
    def outline(self) -> Outline:
        return outline(self.text.source)

    @cached_property
    def summary(self) -> dict[str, Any] | None:
        if not self.good:
            return None
        from netgen.summary import summarize

        return summarize(self.spec, self.graph)

    @cached_property
    def rows(self) -> dict[str, dict[str, Any]]:
        """The summary's rows and heads by name."""
        summary = self.summary
        return {row["name"]: row for row in [*summary["rows"], *summary["heads"]]} if summary else {}

    @cached_property
    def reference(self) -> Reference | None:
        """The spec's reference table, when it has one that reads."""
        spec = self.spec
        if spec is None or spec.reference is None:
            return None
        try:
            return self.tables.load(reference_path(spec, None))
        except SpecError:
            return None

    def diagnostics(self) -> list[types.Diagnostic]:
        return [editor_diagnostic(self, diagnostic) for diagnostic in self.checked.diagnostics]


_LIBRARY = re.compile(r"^blocks[ \t]*:", re.MULTILINE)
_NETWORK = re.compile(r"^(name|input|layers)[ \t]*:", re.MULTILINE)


def is_spec(source: str) -> bool:
    """Whether a YAML buffer is a netgen spec; any other YAML file is left alone, and so is a block
    library (`blocks:` without a network), which is checked through the specs that `use:` it."""
    if _SPEC_MARK.search(source) is None:
        return False
    return not (_LIBRARY.search(source) and not _NETWORK.search(source))


def analyse(
    uri: str, path: str, version: int | None, text: Text, tables: ReferenceTables, reader: ReusingReader | None = None
) -> Analysis:
    """Check a buffer's text as `netgen check` checks a file; `reader` reads its YAML keeping what
    did not change since its last read. A bug in netgen becomes one diagnostic at the top of the
    file; nothing escapes."""
    start = time.perf_counter()
    data = text.source.encode("utf-8", "surrogatepass")
    try:
        checked = check_spec(path, data=data, load_reference=tables.load, read=reader)
    except Exception as exc:  # noqa: BLE001 - the server outlives netgen's own bugs
        where = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        checked = Checked(
            path,
            [error("internal", f"netgen: internal error: {where}; this is a bug in netgen, not in the spec", None)],
        )
    return Analysis(uri, path, version, text, checked, time.perf_counter() - start, tables)


# -- diagnostics -------------------------------------------------------------------------------


def token_end(source: str, start: int) -> int:
    """The end of the YAML token at `start`: a quoted string, a bracketed collection on one line,
    or a plain word (up to what ends a plain scalar in a flow: `,`, `]`, `}`, `: ` or a comment)."""
    if start >= len(source):
        return start
    line_end = len(source)
    for stop in ("\n", "\r"):
        found = source.find(stop, start)
        if found != -1:
            line_end = min(line_end, found)
    ch = source[start]
    if ch in "'\"":
        close = source.find(ch, start + 1, line_end)
        return close + 1 if close != -1 else line_end
    if ch in "[{":
        depth, closing = 0, "]" if ch == "[" else "}"
        for index in range(start, line_end):
            if source[index] == ch:
                depth += 1
            elif source[index] == closing:
                depth -= 1
                if depth == 0:
                    return index + 1
        return line_end
    index = start
    while index < line_end:
        current = source[index]
        following = source[index + 1] if index + 1 < line_end else " "
        if (
            current in ",]}"
            or (current == ":" and following in " \t")
            or (current == "#" and index > start and source[index - 1] in " \t")
        ):
            break
        index += 1
    while index > start and source[index - 1] in " \t":
        index -= 1
    return max(index, start + 1) if start < line_end else start


def _range(analysis: Analysis, diagnostic: Diagnostic) -> types.Range:
    text = analysis.text
    span = diagnostic.span
    if span is None or span.file != analysis.path:
        where = _reference_key(analysis) if span is not None else None
        start = where if where is not None else 0
    else:
        start = text.offset_of(span)
    return text.range(start, token_end(text.source, start))


def _reference_key(analysis: Analysis) -> int | None:
    """Where the spec names its reference table: problems inside the table are shown there."""
    entry = analysis.outline.value(("reference",))
    return entry.start if entry is not None else None


def location(analysis: Analysis, span) -> types.Location:
    from pygls.uris import from_fs_path

    if span.file == analysis.path:
        start = analysis.text.offset_of(span)
        return types.Location(analysis.uri, analysis.text.range(start, token_end(analysis.text.source, start)))
    position = types.Position(line=max(span.line - 1, 0), character=max(span.col - 1, 0))
    return types.Location(from_fs_path(os.path.abspath(span.file)) or span.file, types.Range(position, position))


def editor_diagnostic(analysis: Analysis, diagnostic: Diagnostic) -> types.Diagnostic:
    message = diagnostic.message
    span = diagnostic.span
    related = [
        types.DiagnosticRelatedInformation(location(analysis, note.span), escape(note.message))
        for note in diagnostic.notes
        if note.span is not None
    ]
    if span is not None and span.file != analysis.path:
        # A problem in another file (the reference table) is shown at the line that names it.
        related.insert(0, types.DiagnosticRelatedInformation(location(analysis, span), escape(message)))
        message = f"{span}: {message}"
    message += "".join(f"\n{note.message}" for note in diagnostic.notes if note.span is None)
    return types.Diagnostic(
        range=_range(analysis, diagnostic),
        message=escape(message),
        severity=_SEVERITY[diagnostic.severity],
        code=diagnostic.code or None,
        source=SOURCE,
        related_information=related or None,
    )


@dataclass
class View:
    """What a request sees: the buffer as it is now (its text and outline) and the latest analysis
    that compiled, which may be of an earlier text while the user types. Layers are looked up in it
    by name, so they are found wherever the edits since have moved them; what is inside blocks is
    looked up by place, only while `fresh`."""

    uri: str
    text: Text
    outline: Outline
    good: Analysis | None

    @property
    def fresh(self) -> bool:
        return self.good is not None and self.good.text.source == self.text.source

    def entry_span(self, offset: int) -> tuple[int, int]:
        """The compiler's (line, column) of an offset of the text now."""
        return self.text.yaml_line_col(offset)
