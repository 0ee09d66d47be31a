"""Each output kind escapes text in its own syntax: on a terminal every unprintable character is an
escape; in Markdown any text renders as written, on one line, and makes no markup of its own."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from netgen.printable import escape, markdown_code, markdown_text

# CommonMark with what GitHub adds that text could trigger: tables and strikethrough.
MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
# Text as a user could write it: markup characters, every kind of line break and space, controls.
PIECES = st.sampled_from(
    ["#", "##", "*", "_", "`", "```", "~", "~~", "|", "<", ">", "&", "&amp;", "&#x202e;", "[", "]", "(", ")", "!",
     "\\", "-", "+", "=", "1.", "2)", ":", "$", " ", "    ", "\t", "\n", "\r\n", "\u2028", "\x85", "\x1b[31m",
     "\u202e", "\x00", "<script>", "http://x", "a", "b_c", "é"]
)  # fmt: skip
TEXTS = st.one_of(st.text(), st.lists(st.one_of(PIECES, st.text(max_size=3)), max_size=12).map("".join))


def shown(text: str) -> str:
    """What the reader must see: the text on one line, its unprintable characters as escapes."""
    return escape(re.sub(r"[\s\u2028\u2029\x85]+", " ", text).strip(), keep="")


def inline_tokens(source: str) -> list:
    tokens = MARKDOWN.parse(source)
    return [child for token in tokens if token.type == "inline" for child in token.children]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(TEXTS)
def test_markdown_text_is_a_paragraph_of_plain_text(text):
    source = markdown_text(text)
    assert "\n" not in source
    blocks = [token.type for token in MARKDOWN.parse(source)]
    children = inline_tokens(source)
    if not shown(text):
        assert blocks == []
        return
    assert blocks == ["paragraph_open", "inline", "paragraph_close"]
    assert {child.type for child in children} == {"text"}
    assert "".join(child.content for child in children) == shown(text)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(TEXTS)
def test_markdown_text_in_a_table_cell_stays_in_its_cell(text):
    source = f"| a | b |\n| --- | --- |\n| {markdown_text(text, in_table=True)} | end |\n"
    tokens = MARKDOWN.parse(source)
    cells = [tokens[index + 1] for index, token in enumerate(tokens) if token.type == "td_open"]
    assert len(cells) == 2
    assert [child.type for child in cells[0].children] in ([], ["text"])
    assert "".join(child.content for child in cells[0].children) == shown(text)
    assert cells[1].content == "end"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(TEXTS)
def test_markdown_code_is_one_code_span_of_the_text(text):
    if not shown(text):
        return
    children = inline_tokens(f"see {markdown_code(text)} here")
    assert [child.type for child in children] == ["text", "code_inline", "text"]
    assert children[1].content == shown(text)


def test_terminal_escape_writes_what_a_terminal_obeys_as_escapes():
    assert escape("a\x1b[31mb\u202ec\td\n") == "a\\x1b[31mb\\u202ec\\td\n"
    assert escape("a\tb\n", keep="\t\n") == "a\tb\n"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(TEXTS)
def test_markdown_code_in_a_table_cell_stays_in_its_cell(text):
    if not shown(text):
        return
    tokens = MARKDOWN.parse(f"| a | b |\n| --- | --- |\n| {markdown_code(text, in_table=True)} | end |\n")
    cells = [tokens[index + 1] for index, token in enumerate(tokens) if token.type == "td_open"]
    assert [child.type for child in cells[0].children] == ["code_inline"]
    assert cells[0].children[0].content == shown(text)
    assert cells[1].content == "end"
