"""pyyaml's syntax errors in a spec writer's words, located where the fix goes.

pyyaml reports what its parser expected ("expected <block end>, but found '<block mapping
start>'"); a user needs to know which bracket is open or which line is indented wrongly.
"""

from __future__ import annotations

import re

import yaml

from netgen.diagnostics import Diagnostic, Span, error, note

CODE = "yaml-syntax"

# pyyaml's names for tokens, as a user would say them.
TOKENS = {
    "'<block mapping start>'": "a key",
    "'<block sequence start>'": "a '-' list item",
    "'<block end>'": "the end of an indented block",
    "'<scalar>'": "a value",
    "'<stream end>'": "the end of the file",
    "'<stream start>'": "the start of the file",
    "'<document start>'": "'---'",
    "'<document end>'": "'...'",
    "'<directive>'": "a '%' directive",
    "'<alias>'": "an alias ('*')",
    "'<anchor>'": "an anchor ('&')",
    "'<tag>'": "a tag ('!')",
    "'<flow sequence start>'": "'['",
    "'<flow sequence end>'": "']'",
    "'<flow mapping start>'": "'{'",
    "'<flow mapping end>'": "'}'",
    "'<flow entry>'": "','",
    "'<block entry>'": "a '-' list item",
    "'<key>'": "a key",
    "'<value>'": "':'",
    "'?'": "a key",
    "'-'": "a '-' list item",
    "the node content": "a value",
}
_FOUND = re.compile(r"^expected (.+), but (?:found|got) ('.*')$")
# Contexts worth a note: the place a half-written alias, anchor or tag starts.
_STARTS = {
    "while scanning an alias": "the alias ('*') starts here",
    "while scanning an anchor": "the anchor ('&') starts here",
    "while scanning a tag": "the tag ('!') starts here",
}


def syntax_error(exc: yaml.MarkedYAMLError, path: str, text: str) -> Diagnostic:
    problem = exc.problem or ""
    context = exc.context or ""
    at = _span(exc.problem_mark, path) or Span(path, 1, 1)
    opened = _span(exc.context_mark, path)
    found = _FOUND.match(problem)
    if found and context in ("while parsing a flow sequence", "while parsing a flow mapping") and opened is not None:
        return _open_bracket("[" if "sequence" in context else "{", in_words(found.group(2)), at, opened)
    if found and found.group(2) == "'<stream end>'":
        return error(CODE, f"YAML syntax: the file ends where {in_words(found.group(1))} should be; is a bracket not closed?", at)
    if found and found.group(1) in ("<block end>", "'<document start>'"):
        return _misplaced(in_words(found.group(2)), at, text)
    if problem == "mapping values are not allowed here":
        return error(
            CODE, "YAML syntax: unexpected ':'; quote a value that contains ': ', and start a nested mapping on a new, indented line", at
        )
    if problem == "could not find expected ':'" and opened is not None:
        return error(CODE, "YAML syntax: this key has no ':' after it; write it as 'key: value'", opened)
    if "'\\t'" in problem:
        return error(CODE, "YAML syntax: a tab character; YAML is indented with spaces only", at)
    if context.startswith("while scanning a quoted scalar") and opened is not None:
        return error(CODE, "YAML syntax: this quoted text is not closed before the end of the file", opened)
    if problem.startswith("found undefined alias"):
        name = problem.removeprefix("found undefined alias ").strip("'")
        return error(CODE, f"YAML syntax: alias '*{name}' refers to no anchor '&{name}' written before it", at)
    if context.startswith("found duplicate anchor") and opened is not None:
        name = context.removeprefix("found duplicate anchor ").split(";")[0].strip("'")
        return error(CODE, f"YAML syntax: anchor '&{name}' is defined twice", at, note("it is first defined here", opened))
    if context == "expected a single document in the stream":
        return error(CODE, "YAML syntax: a spec is one YAML document, but a second one starts here", at)
    notes = [note(_STARTS[context], opened)] if context in _STARTS and opened is not None and opened != at else []
    return error(CODE, f"YAML syntax: {in_words(problem or context or 'invalid YAML')}", at, *notes)


def in_words(problem: str) -> str:
    for token, words in TOKENS.items():
        problem = problem.replace(token, words).replace(token.strip("'"), words)
    return problem


def _span(mark: yaml.Mark | None, path: str) -> Span | None:
    return Span(path, mark.line + 1, mark.column + 1) if mark is not None else None


def _open_bracket(bracket: str, found: str, at: Span, opened: Span) -> Diagnostic:
    """pyyaml stops where a ',' or closing bracket was due; the mistake is usually the bracket."""
    closer = "]" if bracket == "[" else "}"
    other = "}" if bracket == "[" else "]"
    if found == "the end of the file":
        return error(CODE, f"YAML syntax: this {bracket!r} is not closed before the end of the file", opened)
    if found == repr(other):
        return error(CODE, f"YAML syntax: {other!r} closes a {bracket!r}; expected {closer!r}", at, note(f"the {bracket!r} is opened here", opened))
    if at.line == opened.line:
        notes = [note(f"the {bracket!r} is opened here", opened)] if opened != at else []
        return error(CODE, f"YAML syntax: expected ',' or {closer!r} before {found}; is a ',' missing?", at, *notes)
    return error(
        CODE,
        f"YAML syntax: this {bracket!r} is not closed: expected ',' or {closer!r} before {found} at line {at.line}, column {at.col}",
        opened,
    )


def _misplaced(found: str, at: Span, text: str) -> Diagnostic:
    """Something where an indented block should have ended: nearly always indentation."""
    rows = text.splitlines()
    if 1 <= at.line <= len(rows):
        indent = _indent(rows[at.line - 1])
        levels = _open_indents(rows[: at.line - 1])
        if levels and indent not in levels:
            allowed = " or ".join(str(level) for level in sorted(levels))
            return error(
                CODE,
                f"YAML syntax: this line is indented by {indent} {'space' if indent == 1 else 'spaces'}, "
                f"which lines up with no line above it; indent it by {allowed} spaces",
                at,
            )
    return error(CODE, f"YAML syntax: {found} is not expected here; check the indentation of this line and the one above", at)


def _indent(row: str) -> int:
    return len(row) - len(row.lstrip(" "))


def _open_indents(rows: list[str]) -> set[int]:
    """The indentations a line may have after `rows`: one per enclosing level."""
    levels: set[int] = set()
    for row in reversed(rows):
        stripped = row.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = _indent(row)
        if not levels or indent < min(levels):
            levels.add(indent)
        if indent == 0:
            break
    return levels
