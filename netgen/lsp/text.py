"""A document's text and its positions, as the compiler counts them and as the editor does.

The compiler's spans count lines by YAML's line breaks (which include U+0085, U+2028 and U+2029)
and columns in characters, from 1. An editor counts lines by CR, LF and CRLF only, and columns,
from 0, in the code units of the encoding the two agreed on (UTF-16 unless the client offers
another). Every position crosses between the two through an offset into the text.
"""

from __future__ import annotations

import bisect
import re

from lsprotocol import types

from netgen.diagnostics import Span
from netgen.spec.yaml_source import LINE_BREAK as YAML_LINE_BREAK

EDITOR_LINE_BREAK = re.compile(r"\r\n|\r|\n")
UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def _units(text: str, encoding: str) -> int:
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _chars(text: str, units: int, encoding: str) -> int:
    """How many characters of `text` take up `units` code units (a position inside a character rounds down)."""
    if encoding == UTF32 or text.isascii():
        return min(units, len(text))
    count = 0
    for index, ch in enumerate(text):
        count += _units(ch, encoding)
        if count > units:
            return index
    return len(text)


class Text:
    def __init__(self, source: str, encoding: str = UTF16):
        self.source = source
        self.encoding = encoding
        # The compiler reads the text without a byte-order mark: its columns start after one.
        self.base = 1 if source.startswith("\ufeff") else 0
        self._editor_lines = [0, *(match.end() for match in EDITOR_LINE_BREAK.finditer(source))]
        self._yaml_lines = [self.base, *(match.end() for match in YAML_LINE_BREAK.finditer(source, self.base))]

    # -- the compiler's side: 1-based lines and character columns ------------------------------

    def offset_of(self, span: Span) -> int:
        """The offset of a span's line and column (clamped into the text)."""
        line = min(max(span.line, 1), len(self._yaml_lines)) - 1
        start = self._yaml_lines[line]
        end = self._yaml_lines[line + 1] if line + 1 < len(self._yaml_lines) else len(self.source)
        return min(start + max(span.col, 1) - 1, end)

    def yaml_line_col(self, offset: int) -> tuple[int, int]:
        """The compiler's (line, column), 1-based, of an offset."""
        line = bisect.bisect_right(self._yaml_lines, offset) - 1
        line = max(line, 0)
        return line + 1, offset - self._yaml_lines[line] + 1

    # -- the editor's side ---------------------------------------------------------------------

    def position(self, offset: int) -> types.Position:
        offset = min(max(offset, 0), len(self.source))
        line = bisect.bisect_right(self._editor_lines, offset) - 1
        start = self._editor_lines[line]
        return types.Position(line=line, character=_units(self.source[start:offset], self.encoding))

    def range(self, start: int, end: int) -> types.Range:
        return types.Range(start=self.position(start), end=self.position(max(start, end)))

    def offset(self, position: types.Position) -> int:
        """The offset of an editor position; one past the end of a line is its end."""
        if position.line >= len(self._editor_lines):
            return len(self.source)
        start = self._editor_lines[position.line]
        end = self.line_end(start)
        return start + _chars(self.source[start:end], position.character, self.encoding)

    def line_start(self, offset: int) -> int:
        return self._editor_lines[bisect.bisect_right(self._editor_lines, offset) - 1]

    def line_end(self, offset: int) -> int:
        """The offset of the line break ending the editor line `offset` is on (or of the text's end)."""
        found = EDITOR_LINE_BREAK.search(self.source, offset)
        return found.start() if found else len(self.source)

    def apply(self, change: types.TextDocumentContentChangeEvent) -> Text:
        """The text after an editor's change: the whole text, or a range replaced."""
        if isinstance(change, types.TextDocumentContentChangePartial):
            start, end = self.offset(change.range.start), self.offset(change.range.end)
            return Text(self.source[:start] + change.text + self.source[max(start, end) :], self.encoding)
        return Text(change.text, self.encoding)
