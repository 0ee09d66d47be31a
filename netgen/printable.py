"""Text made safe to show: every character that is not printable is written as its escape.

That covers what a terminal obeys instead of showing (control characters such as ESC and CR),
what reorders the text it shows (bidirectional overrides and isolates, U+202E) and what breaks
a line where no line break is seen (U+2028, U+0085). A spec's free text and the names on the
command line can hold any of them; they reach the user only through this.
"""

from __future__ import annotations


def escape(text: str, keep: str = "\n") -> str:
    """`text` with each unprintable character but those in `keep` written as a Python escape (\\x1b, \\u202e)."""
    return "".join(ch if ch.isprintable() or ch in keep else escape_char(ch) for ch in text)


def escape_char(ch: str) -> str:
    return ch.encode("unicode_escape").decode("ascii")


def plural(count: int, one: str, many: str) -> str:
    """'1 erratum', '2 errata'."""
    return f"{count} {one if count == 1 else many}"
