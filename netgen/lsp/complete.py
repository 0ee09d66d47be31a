"""Completion: keys, op and block names, arguments, parameters in scope, `from:` targets, `act:`
values and reference rows, from the declarations that validate them.

The line being typed rarely parses, so the context is read from the text itself: the enclosing
keys from the indentation of the lines above (through the outline), then the line's own flow
brackets up to the cursor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lsprotocol import types

from netgen.lsp import docs
from netgen.lsp.analysis import View
from netgen.lsp.hover import size
from netgen.lsp.navigate import param_entries, top_layers
from netgen.lsp.outline import Entry, Path
from netgen.lsp.roles import META_KEYS, role_of
from netgen.spec.fields import takes
from netgen.spec.model import PARAM_TYPES
from netgen.spec.parse import ACTIVATIONS, GROUP_KEY
from netgen.spec.schema import (
    DEFAULTABLE,
    HEAD_KEYS,
    INLINE_HEAD_KEY,
    INLINE_HEAD_KEYS,
    LAYER_META_KEYS,
    OP_ARGS,
    OutputsArgs,
)

_WORD = re.compile(r"[A-Za-z0-9_.\-]")
_INPUT = "input"


@dataclass(frozen=True)
class Context:
    path: Path  # the mapping whose key is typed, or the key or index whose value is
    key: bool
    start: int  # the word being typed
    end: int
    prefix: str
    written: frozenset[str] = frozenset()  # keys the line gives the same mapping before the cursor


def context(view: View, offset: int) -> Context | None:
    source = view.text.source
    start = offset
    while start > 0 and _WORD.match(source[start - 1]):
        start -= 1
    end = offset
    while end < len(source) and _WORD.match(source[end]):
        end += 1
    line_start = view.text.line_start(offset)
    before = source[line_start:start]
    indent = len(before) - len(before.lstrip(" "))
    rest = before[indent:]
    items = 0
    while rest.startswith("- ") or rest == "-":
        items += 1
        rest = rest[2:]
        indent += 2
        while rest.startswith(" "):
            rest, indent = rest[1:], indent + 1
    if "#" in rest and re.search(r"(^|\s)#", rest):
        return None  # in a comment
    path = _parent(view, line_start, indent)
    for _ in range(items):
        path = path + (_next_index(view, path, line_start),)
    state = _flow(path, rest)
    if state is None:
        return None
    path, key, written = state
    return Context(path, key, start, end, source[start:offset], frozenset(written))


def _parent(view: View, line_start: int, indent: int) -> Path:
    """The path of the block mapping a line at `indent` is in: the nearest key above it that is
    written further left and starts its line."""
    source = view.text.source
    for entry in reversed(view.outline.entries):
        if entry.end > line_start or not entry.key:
            continue
        own_line = view.text.line_start(entry.start)
        column = entry.start - own_line
        lead = source[own_line : entry.start]
        if column < indent and lead.strip(" -") == "":
            return entry.path
    return ()


def _next_index(view: View, path: Path, before: int) -> int:
    indices = [
        entry.path[len(path)]
        for entry in view.outline.inside(path)
        if entry.start < before and isinstance(entry.path[len(path)], int)
    ]
    return max(indices) + 1 if indices else 0


def _flow(path: Path, text: str) -> tuple[Path, bool, set[str]] | None:
    """Walk the line's flow collections up to the cursor: where the typed word goes, and the keys
    the line gives its mapping before it."""
    frames = [_Frame("map", path)]
    word = ""
    index = 0
    while index < len(text):
        ch = text[index]
        top = frames[-1]
        if ch in "'\"":
            close = text.find(ch, index + 1)
            if close == -1:
                return None  # inside a quoted string
            word = text[index + 1 : close]
            index = close + 1
            continue
        if ch == ":" and (index + 1 == len(text) or text[index + 1] in " \t,]}" or len(frames) > 1):
            if top.kind == "map":
                top.key, top.expecting = word.strip(), "value"
                top.keys.add(top.key)
            word = ""
        elif ch in "{[":
            frames.append(_Frame("map" if ch == "{" else "seq", top.child()))
            word = ""
        elif ch in "}]":
            if len(frames) > 1:
                frames.pop()
                frames[-1].expecting = "key"
            word = ""
        elif ch == ",":
            if top.kind == "map":
                top.key, top.expecting = None, "key"
            else:
                top.index += 1
            word = ""
        else:
            word += ch
        index += 1
    top = frames[-1]
    if top.kind == "seq":
        return top.path + (top.index,), False, set()
    if top.expecting == "value":
        return top.path + (top.key,), False, set()
    return top.path, True, top.keys


@dataclass
class _Frame:
    kind: str  # "map" or "seq"
    path: Path
    key: str | None = None
    index: int = 0
    expecting: str = "key"
    keys: set[str] = field(default_factory=set)

    def child(self) -> Path:
        if self.kind == "seq":
            return self.path + (self.index,)
        return self.path + (self.key if self.key is not None else "?",)


# -- candidates --------------------------------------------------------------------------------


def completions(view: View, offset: int) -> types.CompletionList | None:
    where = context(view, offset)
    if where is None:
        return None
    items = _candidates(view, where)
    if items is None:
        return None
    edit_range = view.text.range(where.start, where.end)
    source = view.text.source
    colon_follows = source[where.end : where.end + 1] == ":"
    out = []
    for label, kind, detail, documentation, is_key in items:
        text = label if not is_key or colon_follows else f"{label}: "
        out.append(
            types.CompletionItem(
                label=label,
                kind=kind,
                detail=detail,
                documentation=types.MarkupContent(types.MarkupKind.Markdown, documentation) if documentation else None,
                text_edit=types.TextEdit(edit_range, text),
            )
        )
    return types.CompletionList(is_incomplete=False, items=out)


def _present(view: View, where: Context) -> set[str]:
    """The keys the mapping being typed in has already: in the outline, and earlier on the line."""
    return {entry.text for entry in view.outline.children(where.path)} | set(where.written)


def _candidates(view: View, where: Context):
    probe = Entry(
        where.path + (where.prefix or "?",) if where.key else where.path,
        where.key,
        where.prefix,
        where.start,
        where.end,
    )
    path = where.path
    if where.key and path == ():
        present = _present(view, where)
        return [
            (name, types.CompletionItemKind.Property, None, docs.field_doc(info), True)
            for name, info in _fields(docs.HEADER).items()
            if name not in present
        ]
    if where.key and len(path) == 2 and path[0] == "blocks":
        present = _present(view, where)
        return [
            (name, types.CompletionItemKind.Property, None, docs.field_doc(info), True)
            for name, info in _fields(docs.BLOCK_DECL).items()
            if name not in present
        ]
    if where.key and path == ("defaults",):
        return [
            (op, types.CompletionItemKind.Function, docs.op_title(op), docs.op_markdown(op), True)
            for op in DEFAULTABLE
            if op in OP_ARGS
        ]
    if where.key and len(path) == 4 and path[:1] == ("blocks",) and path[2] == "residual":
        return None
    if path == ("outputs",) and where.key:
        return [
            (name, types.CompletionItemKind.Property, None, docs.field_doc(info), True)
            for name, info in _fields(OutputsArgs).items()
        ]
    if len(path) == 5 and path[0] == "blocks" and path[2] == "params" and not where.key:
        return [(kind, types.CompletionItemKind.EnumMember, "parameter type", None, False) for kind in PARAM_TYPES]
    role = role_of(probe)
    if role is None:
        return _header_value(view, where) if not where.key and len(path) >= 1 else None
    kind = role.kind
    if kind in ("op", "use", "meta") and where.key:
        return _layer_keys(view, role, where)
    if kind == "arg" and where.key:
        return _arguments(view, role, where)
    if kind == "residual" and not where.key:
        return _residual_values(view, role)
    if kind == "value":
        return _values(view, role)
    if kind == "from":
        return _layer_names(view, role, where)
    if kind in ("row", "deviation-row"):
        reference = view.good.reference if view.good is not None else None
        if reference is None:
            return None
        return [
            (row.id, types.CompletionItemKind.Constant, str(row.cells.get("type") or ""), None, False)
            for row in reference.rows
        ]
    if kind == "output":
        return [(name, types.CompletionItemKind.Reference, None, None, False) for name in top_layers(view)]
    if kind == "block-arg" and role.block is not None:
        return _params_of(view, role.block)
    return None


def _fields(model) -> dict:
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _header_value(view: View, where: Context):
    """A top-level key's value (`transform_input: `), or `init`'s arguments' values."""
    path = where.path
    model = docs.HEADER
    for part in path[:-1]:
        info = _fields(model).get(part) if isinstance(part, str) else None
        inner = docs.nested_model(model, part) if info is not None else None
        if inner is None:
            return None
        model = inner
    info = _fields(model).get(path[-1]) if isinstance(path[-1], str) else None
    if info is None:
        return None
    return [
        (word, types.CompletionItemKind.EnumMember, None, docs.field_doc(info), False) for word in docs.words_for(info)
    ]


def _layer_keys(view: View, role, where: Context):
    """In a layer's mapping: its op (or block) when it has none yet, and the keys beside it."""
    path = where.path
    present = _present(view, where)
    items = []
    if not any(name not in META_KEYS for name in present):
        items += [
            (op, types.CompletionItemKind.Function, docs.op_title(op), docs.op_markdown(op), True) for op in OP_ARGS
        ]
        items += [
            (name, types.CompletionItemKind.Class, signature, body, True)
            for name, signature, body in _blocks(view, role.block)
        ]
    if path[0] == "heads" and role.block is None:
        meta, meta_model = HEAD_KEYS, docs.HEAD_META
    elif path[0] == "layers" and role.block is None and INLINE_HEAD_KEY in present:
        meta, meta_model = INLINE_HEAD_KEYS, docs.INLINE_HEAD_META  # a head among the layers
    elif path[0] == "layers" and role.block is None and len(path) == 2:
        meta, meta_model = (*LAYER_META_KEYS, INLINE_HEAD_KEY), None  # a top-level layer may be a head
    else:
        meta, meta_model = LAYER_META_KEYS, docs.LAYER_META
    fields = (
        _fields(meta_model)
        if meta_model is not None
        else {**_fields(docs.INLINE_HEAD_META), **_fields(docs.LAYER_META)}
    )
    items += [
        (key, types.CompletionItemKind.Property, None, docs.field_doc(fields[key]), True)
        for key in meta
        if key not in present and key in fields
    ]
    return items


def _blocks(view: View, inside: str | None) -> list[tuple[str, str, str]]:
    """The spec's blocks: from the last analysis that compiled, else as written now."""
    good = view.good
    if good is not None:
        return [
            (name, docs.signature(block), docs.body_of(block))
            for name, block in good.spec.blocks.items()
            if name != inside
        ]
    return [(entry.text, entry.text, "") for entry in view.outline.children(("blocks",)) if entry.text != inside]


def _arguments(view: View, role, where: Context):
    op = role.op
    if op not in OP_ARGS:
        return None
    model = OP_ARGS[op]
    *outer, _ = role.arg.split(".")
    for key in outer:
        model = docs.nested_model(model, key)
        if model is None:
            return None
    present = _present(view, where)
    return [
        (name, types.CompletionItemKind.Field, None, docs.field_line(name, info), True)
        for name, info in _fields(model).items()
        if name not in present
    ]


def _values(view: View, role):
    if role.op not in OP_ARGS or role.arg is None:
        return None
    info = docs.field_of(OP_ARGS[role.op], role.arg)
    if info is None:
        return None
    words = docs.words_for(info) or (list(ACTIVATIONS) if role.arg.endswith("act") else [])
    items = [(word, types.CompletionItemKind.EnumMember, None, docs.field_doc(info), False) for word in words]
    if role.block is not None:  # the block's parameters of the types the argument takes, if it takes any
        wanted = takes(OP_ARGS[role.op]).get(role.arg, ())
        items += _params_of(view, role.block, wanted) if wanted else []
    elif role.arg == "out":
        items.append(("num_classes", types.CompletionItemKind.Constant, "the spec's num_classes", None, False))
    return items


def _residual_values(view: View, role):
    if role.arg == "act":
        return [(word, types.CompletionItemKind.EnumMember, None, None, False) for word in ACTIVATIONS] + _params_of(
            view, role.block, "activation"
        )
    if role.arg == "scale":
        return _params_of(view, role.block, "float")
    return None


def _params_of(view: View, block: str, kind: str | tuple[str, ...] | None = None):
    """A block's parameters (of the types `kind` says, when it says), as they are written now."""
    kinds = (kind,) if isinstance(kind, str) else kind
    items = []
    for entry in param_entries(view.outline, block):
        declared = "channels"
        if entry.key:
            typed = view.outline.value(entry.path)
            declared = typed.text if typed is not None else declared
        if kinds is None or declared in kinds:
            items.append(
                (entry.text, types.CompletionItemKind.Variable, f"parameter of {block} ({declared})", None, False)
            )
    return items


def _layer_names(view: View, role, where: Context):
    """What `from:` can name: the layers written before this one (or any trunk layer, for a head), and `input`."""
    here = where.start
    good = view.good
    rows = good.rows if good is not None else {}
    own = view.outline.keys.get(role.layer)
    here = own.start if own is not None else view.text.line_start(here)
    if role.block is None:
        head = role.layer is not None and role.layer[0] == "heads"
        layers = top_layers(view)
        names = [name for name, entry in layers.items() if entry.path[0] == "layers" and (head or entry.start < here)]
    else:
        container = role.layer[:-1]
        names = [
            entry.text
            for entry in view.outline.children(container)
            if entry.start < here and isinstance(entry.path[-1], str)
        ]
    items = [
        (
            _INPUT,
            types.CompletionItemKind.Reference,
            "the block's input" if role.block else "the network's input",
            None,
            False,
        )
    ]
    for name in names:
        if name == _INPUT or name == GROUP_KEY:
            continue
        detail = size(rows[name]["output"]) if role.block is None and name in rows else None
        items.append((name, types.CompletionItemKind.Reference, detail, None, False))
    return items
