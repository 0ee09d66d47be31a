"""Text made safe to show, each kind of output escaped in its own syntax.

A spec's free text (its description, a deviation's reason), a reference table's and the names
on the command line can hold anything: what a terminal obeys instead of showing (control
characters such as ESC and CR), what reorders the text it shows (bidirectional overrides and
isolates, U+202E), what breaks a line where no line break is seen (U+2028, U+0085), and in a
Markdown file what would become markup. Each output escapes it as its readers expect:

- the terminal (`escape`): every unprintable character as its Python escape (`\\x1b`, `\\u202e`);
- Markdown (`markdown_text`, `markdown_code`): one line, its unprintable characters written as
  those escapes, and every character that could start markup or HTML backslash-escaped, so the
  rendered page shows the text as written and nothing else;
- Python and the ONNX graph text: `repr()`-style literals of the escaped text (the backends);
- JSON: `json.dumps`, which writes every character that is not ASCII as `\\uXXXX`;
- DOT and Mermaid: their own quoting, unprintable characters as character references
  (`netgen.backends.diagram`).
"""

from __future__ import annotations

import re


def escape(text: str, keep: str = "\n") -> str:
    """`text` with each unprintable character but those in `keep` written as a Python escape (\\x1b, \\u202e)."""
    return "".join(ch if ch.isprintable() or ch in keep else escape_char(ch) for ch in text)


def escape_char(ch: str) -> str:
    return ch.encode("unicode_escape").decode("ascii")


# Whitespace that would end a Markdown line or paragraph, or indent one into a code block.
_BREAKS = re.compile(r"[\s\u2028\u2029\x85]+")
# Characters that mean markup wherever they stand (CommonMark, GitHub's tables, strikethrough and
# math); `_` only where it can open or close emphasis, not inside a word such as branch_1x1.
_MARKUP = set("\\`*[]<>&|~$")
# What makes a line a heading, a quote, a list item, a rule or a setext underline.
_LINE_START = re.compile(r"[#>+=-]|\d+[.)](?= |$)")


def markdown_text(text: str, in_table: bool = False) -> str:
    """`text` as Markdown text that renders as written, on one line: in a paragraph, a list item,
    or `in_table` a table cell, whose text starts no line (so `#1x1` keeps its `#` as written)."""
    flat = escape(_BREAKS.sub(" ", text).strip(), keep="")
    out = []
    for index, ch in enumerate(flat):
        inside_word = 0 < index < len(flat) - 1 and flat[index - 1].isalnum() and flat[index + 1].isalnum()
        out.append(f"\\{ch}" if ch in _MARKUP or (ch == "_" and not inside_word) else ch)
    escaped = "".join(out)
    start = None if in_table else _LINE_START.match(escaped)
    if start:  # escaping the character that makes the construct: `\#`, `1\.`
        end = start.end() - 1
        escaped = f"{escaped[:end]}\\{escaped[end:]}"
    return escaped


def markdown_code(text: str, in_table: bool = False) -> str:
    """`text` as a Markdown code span on one line: fenced by more backticks than it holds in a row.
    In a table cell a pipe would end the cell even inside the span: it is escaped there."""
    flat = escape(_BREAKS.sub(" ", text).strip(), keep="")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    padded = f" {flat} " if flat.startswith("`") or flat.endswith("`") else flat
    span = f"{fence}{padded}{fence}"
    return span.replace("|", "\\|") if in_table else span


def plural(count: int, one: str, many: str) -> str:
    """'1 erratum', '2 errata'."""
    return f"{count} {one if count == 1 else many}"
