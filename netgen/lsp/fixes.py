"""Quick fixes for the diagnostics whose advice names the fix: "did you mean 'kernel'?", "a 5x5
kernel at stride 1 needs pad 2", "try 'conv_1'", "write the number without quotes".

A diagnostic's advice is what follows its first '; ' (`Diagnostic.hint`); each fix here reads one
form of advice and edits the word the diagnostic is about, found in the outline: a fix is offered
only where that word is written in the text as the message quotes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lsprotocol import types

from netgen.lsp.analysis import SOURCE, View
from netgen.lsp.outline import Entry, Path
from netgen.lsp.roles import role_of
from netgen.spec.schema import OP_ARGS

_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
_MEANT = re.compile(r"did you mean (?:one of )?((?:'[^']*'(?:, )?)+)\?")
_RENAME = re.compile(r"; try '([^']+)'$")
_PAD = re.compile(r"needs pad (\d+|\[\d+, \d+\])")
_WHOLE = re.compile(r"write it as a whole number: (-?\d+)")
_EITHER = re.compile(r"write (\S+) \(or (\S+)\) without the leading zero")
_OR_QUOTE = re.compile(r"write (\S+), or quote it if it is text")


def code_actions(view: View, diagnostics: list[types.Diagnostic]) -> list[types.CodeAction]:
    actions = []
    for diagnostic in diagnostics:
        if diagnostic.source != SOURCE:
            continue
        start = view.text.offset(diagnostic.range.start)
        for title, edit in _fixes(view, diagnostic.message.split("\n", 1)[0], start):
            actions.append(
                types.CodeAction(
                    title=title,
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    edit=types.WorkspaceEdit(changes={view.uri: [edit]}),
                )
            )
    if len(actions) == 1:
        actions[0].is_preferred = True
    return actions


def _fixes(view: View, message: str, start: int) -> list[tuple[str, types.TextEdit]]:
    head, _, advice = message.partition("; ")
    for fix in _FIXES:
        found = fix(view, head, advice, start)
        if found:
            return found
    return []


def _replace(view: View, entry: Entry, text: str) -> types.TextEdit:
    return types.TextEdit(view.text.range(entry.start, entry.end), text)


def _written(view: View, start: int, word: str) -> Entry | None:
    """Where the diagnostic's word is written: at the diagnostic's start, or else nearest after it
    (a diagnostic about a layer starts at the layer's name; its misspelt `row:` comes after)."""
    here = view.outline.at(start)
    if here is not None and here.text == word:
        return here
    after = [entry for entry in view.outline.entries if entry.text == word and entry.start >= start]
    return after[0] if after else None


def _did_you_mean(view: View, head: str, advice: str, start: int):
    meant = _MEANT.search(advice)
    if meant is None:
        return []
    choices = _QUOTED.findall(meant.group(1))
    quoted = _QUOTED.findall(head)
    entry = _written(view, start, quoted[-1]) if quoted else None
    if entry is None:
        return []
    return [(f"Change '{entry.text}' to '{choice}'", _replace(view, entry, choice)) for choice in choices]


def _rename(view: View, head: str, advice: str, start: int):
    name = _RENAME.search("; " + advice)
    quoted = _QUOTED.findall(head)
    entry = _written(view, start, quoted[0]) if name is not None and quoted else None
    if entry is None:
        return []
    return [(f"Rename '{entry.text}' to '{name.group(1)}'", _replace(view, entry, name.group(1)))]


def _unquote(view: View, head: str, advice: str, start: int):
    if advice != "write the number without quotes":
        return []
    entry = view.outline.at(start)
    if entry is None or not entry.quoted:
        return []
    return [(f"Write {entry.text} without quotes", _replace(view, entry, entry.text))]


def _whole(view: View, head: str, advice: str, start: int):
    number = _WHOLE.search(advice)
    entry = view.outline.at(start)
    if number is None or entry is None:
        return []
    return [(f"Write {number.group(1)}", _replace(view, entry, number.group(1)))]


def _ambiguous(view: View, head: str, advice: str, start: int):
    """A value two YAML versions read differently: write the reading netgen's message names."""
    entry = view.outline.at(start)
    if entry is None:
        return []
    either = _EITHER.search(advice)
    if either is not None:
        return [(f"Write {choice}", _replace(view, entry, choice)) for choice in either.groups()]
    quoted = _OR_QUOTE.search(advice)
    if quoted is not None:
        text = f"'{entry.text}'"
        return [
            (f"Write {quoted.group(1)}", _replace(view, entry, quoted.group(1))),
            (f"Quote it: {text}", _replace(view, entry, text)),
        ]
    return []


def _op_of(view: View, start: int) -> Path | None:
    """The path of the op arguments of the layer the diagnostic starts at (its name, or its op in a list)."""
    entry = view.outline.at(start)
    role = role_of(entry) if entry is not None else None
    if role is None:
        return None
    if role.kind == "op":
        return entry.path
    if role.kind in ("layer", "head"):
        return next((child.path for child in view.outline.children(entry.path) if child.text in OP_ARGS), None)
    return None


def _pad(view: View, head: str, advice: str, start: int):
    pad = _PAD.search(advice)
    op = _op_of(view, start) if pad is not None else None
    if op is None:
        return []
    value = pad.group(1)
    return [(f"Set pad: {value}", edit)] if (edit := set_argument(view, op, "pad", value)) is not None else []


def _global_pool(view: View, head: str, advice: str, start: int):
    if not advice.startswith("write global_avgpool"):
        return []
    op = _op_of(view, start)
    if op is None or op[-1] != "avgpool":
        return []
    key = view.outline.keys[op]
    _, end = view.outline.extent(op)
    return [("Write global_avgpool", types.TextEdit(view.text.range(key.start, end), "global_avgpool: "))]


def set_argument(view: View, op: Path, name: str, value: str) -> types.TextEdit | None:
    """An edit that gives the op at `op` the argument `name: value`, replacing what it has."""
    outline, source = view.outline, view.text.source
    written = outline.value(op + (name,))
    if written is not None:
        return _replace(view, written, value)
    if op + (name,) in outline.keys:
        return None  # written as a mapping or list: not a value to replace
    key = outline.keys[op]
    start, end = outline.extents.get(op, (key.end, key.end))
    if start >= key.end and source[start : start + 1] == "{":
        close = end - 1
        inner = source[start + 1 : close].strip()
        before = close
        while before > start + 1 and source[before - 1] in " \t":
            before -= 1
        text = f", {name}: {value}" if inner else f"{name}: {value}"
        return types.TextEdit(view.text.range(before, before), text)
    arguments = outline.children(op)
    if arguments:  # a block mapping: one more line, indented as the others
        last = arguments[-1]
        _, last_end = outline.extent(last.path)
        column = last.start - view.text.line_start(last.start)
        return types.TextEdit(view.text.range(last_end, last_end), "\n" + " " * column + f"{name}: {value}")
    return None


_FIXES: tuple[Callable, ...] = (_did_you_mean, _rename, _unquote, _whole, _ambiguous, _pad, _global_pool)
