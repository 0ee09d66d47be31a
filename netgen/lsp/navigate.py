"""Go to definition, find references and the outline view: from a block use to its block, from a
`from:` name to its layer, from a `row:` to the reference's row, and each name's uses."""

from __future__ import annotations

import os

from lsprotocol import types
from pygls.uris import from_fs_path

from netgen.lsp.analysis import View
from netgen.lsp.hover import size
from netgen.lsp.outline import Entry, Path
from netgen.lsp.roles import Role, role_of
from netgen.spec.parse import GROUP_KEY

INPUT = "input"
_REFERRING = ("from", "output")  # values that name a layer


def _location(view: View, entry: Entry) -> types.Location:
    return types.Location(view.uri, view.text.range(entry.start, entry.end))


def _roles(view: View) -> list[tuple[Entry, Role]]:
    return [(entry, role) for entry in view.outline.entries if (role := role_of(entry)) is not None]


def top_layers(view: View) -> dict[str, Entry]:
    """The network's layers and heads by name: the keys `from:` and `outputs:` can name."""
    found: dict[str, Entry] = {}
    for entry in view.outline.entries:
        path = entry.path
        if not entry.key or path[0] not in ("layers", "heads"):
            continue
        if len(path) == 2 or (len(path) == 4 and path[0] == "layers" and path[2] == GROUP_KEY):
            if not (len(path) == 2 and view.outline.keys.get(path + (GROUP_KEY,))):
                found.setdefault(str(path[-1]), entry)
    return found


def _sibling(view: View, layer: Path, name: str) -> Entry | None:
    """A layer named `name` in the sequence or branch holding `layer`: what `from:` names in a block."""
    return view.outline.keys.get(layer[:-1] + (name,))


def _target(view: View, entry: Entry, role: Role) -> Entry | None:
    """The key a name refers to: a layer, a block, or a block parameter's declaration."""
    if role.kind == "use":
        return view.outline.keys.get(("blocks", entry.text))
    if role.kind in _REFERRING and role.block is None:
        return top_layers(view).get(entry.text)
    if role.kind == "from":
        if entry.text == INPUT:
            return view.outline.keys.get(("blocks", role.block))
        return _sibling(view, role.layer, entry.text)
    if role.kind in ("value", "block-arg", "residual") and role.block is not None:
        return _param_declaration(view, role.block, entry.text)
    return None


def _param_declaration(view: View, block: str, name: str) -> Entry | None:
    return next((entry for entry in param_entries(view.outline, block) if entry.text == name), None)


def param_entries(outline, block: str) -> list[Entry]:
    """Where a block's parameters are declared: `params: [a, b]` or typed, `params: [{a: float}]`."""
    return [
        entry
        for entry in outline.inside(("blocks", block, "params"))
        if (not entry.key and len(entry.path) == 4) or (entry.key and len(entry.path) == 5)
    ]


def definition(view: View, offset: int) -> list[types.Location] | None:
    entry = view.outline.at(offset)
    role = role_of(entry) if entry is not None else None
    if role is None:
        return None
    good = view.good
    if role.kind in ("row", "deviation-row"):
        reference = good.reference if good is not None else None
        row = reference.row(entry.text) if reference is not None else None
        return _elsewhere(view, row.span) if row is not None else None
    if role.kind == "library":
        path = os.path.join(os.path.dirname(good.path if good is not None else view.uri), entry.text)
        return [
            types.Location(
                from_fs_path(os.path.abspath(path)) or path, types.Range(types.Position(0, 0), types.Position(0, 0))
            )
        ]
    target = _target(view, entry, role)
    if target is None and role.kind == "use" and good is not None and entry.text in good.spec.blocks:
        return _elsewhere(view, good.spec.blocks[entry.text].span)  # a block from a library `use:` brings in
    return [_location(view, target)] if target is not None and target is not entry else None


def _elsewhere(view: View, span) -> list[types.Location] | None:
    """A place in another file (a reference table, a block library), ranged in that file's own text."""
    from netgen.diagnostics import SpecError
    from netgen.files import read_regular
    from netgen.lsp.analysis import token_end
    from netgen.lsp.text import Text
    from netgen.spec.yaml_source import MAX_BYTES

    try:
        # Through the guarded reader: the file may have become a pipe or a device since it was read.
        other = Text(read_regular(span.file, "file", MAX_BYTES).decode("utf-8").removeprefix("\ufeff"), view.text.encoding)
    except (SpecError, UnicodeDecodeError):
        return None
    start = other.offset_of(span)
    uri = from_fs_path(os.path.abspath(span.file)) or span.file
    return [types.Location(uri, other.range(start, token_end(other.source, start)))]


def references(view: View, offset: int, include_declaration: bool) -> list[types.Location] | None:
    entry = view.outline.at(offset)
    role = role_of(entry) if entry is not None else None
    if role is None:
        return None
    declaration, uses = _declaration_and_uses(view, entry, role)
    if declaration is None:
        return None
    found = ([declaration] if include_declaration else []) + uses
    return [_location(view, found_entry) for found_entry in found]


def _declaration_and_uses(view: View, entry: Entry, role: Role) -> tuple[Entry | None, list[Entry]]:
    roles = _roles(view)
    kind = role.kind
    if kind in ("block", "use"):
        name = entry.text
        declaration = view.outline.keys.get(("blocks", name))
        return declaration, [other for other, other_role in roles if other_role.kind == "use" and other.text == name]
    if kind == "param" or (kind in ("value", "block-arg", "residual") and role.block is not None):
        declaration = _param_declaration(view, role.block, entry.text) if role.block else None
        if declaration is None:
            return None, []
        uses = [
            other
            for other, other_role in roles
            if other_role.block == role.block
            and other_role.kind in ("value", "block-arg", "residual")
            and other.text == entry.text
        ]
        return declaration, uses
    if role.block is None and (kind in ("layer", "head") or kind in _REFERRING):
        declaration = top_layers(view).get(entry.text) if kind in _REFERRING else entry
        if declaration is None:
            return None, []
        name = declaration.text
        uses = [
            other
            for other, other_role in roles
            if other_role.kind in _REFERRING and other_role.block is None and other.text == name
        ]
        return declaration, uses
    if role.block is not None and kind in ("layer", "from"):
        declaration = entry if kind == "layer" else _sibling(view, role.layer, entry.text)
        if declaration is None:
            return None, []
        container = declaration.path[:-1]
        uses = [
            other
            for other, other_role in roles
            if other_role.kind == "from" and other.text == declaration.text and other_role.layer[:-1] == container
        ]
        return declaration, uses
    return None, []


# -- the outline view --------------------------------------------------------------------------


def document_symbols(view: View) -> list[types.DocumentSymbol]:
    outline = view.outline
    rows = view.good.rows if view.good is not None else {}
    symbols = []
    for key in outline.children(()):
        name = key.text
        if name == "blocks":
            children = [_block_symbol(view, block) for block in outline.children(("blocks",))]
            symbols.append(_symbol(view, key, types.SymbolKind.Namespace, children=children))
        elif name in ("layers", "heads"):
            children = []
            for layer in outline.children((name,)):
                if outline.keys.get(layer.path + (GROUP_KEY,)) is not None:
                    members = [
                        _layer_symbol(view, member, rows) for member in outline.children(layer.path + (GROUP_KEY,))
                    ]
                    children.append(
                        _symbol(view, layer, types.SymbolKind.Namespace, detail="sequential", children=members)
                    )
                else:
                    children.append(
                        _layer_symbol(
                            view, layer, rows, types.SymbolKind.Event if name == "heads" else types.SymbolKind.Field
                        )
                    )
            symbols.append(_symbol(view, key, types.SymbolKind.Namespace, children=children))
        else:
            value = outline.value(key.path)
            symbols.append(
                _symbol(view, key, types.SymbolKind.Property, detail=value.text if value is not None else None)
            )
    return symbols


def _symbol(
    view: View, key: Entry, kind: types.SymbolKind, detail: str | None = None, children=None
) -> types.DocumentSymbol:
    start, end = view.outline.extent(key.path)
    return types.DocumentSymbol(
        name=key.text or "?",
        kind=kind,
        range=view.text.range(min(start, key.start), max(end, key.end)),
        selection_range=view.text.range(key.start, key.end),
        detail=detail,
        children=children or None,
    )


def _layer_symbol(view: View, key: Entry, rows, kind=types.SymbolKind.Field) -> types.DocumentSymbol:
    op = next(
        (
            child.text
            for child in view.outline.children(key.path)
            if role_of(child) is not None and role_of(child).kind in ("op", "use")
        ),
        None,
    )
    row = rows.get(key.text)
    detail = " · ".join(part for part in (op, size(row["output"]) if row else None) if part)
    return _symbol(view, key, kind, detail=detail or None)


def _block_symbol(view: View, key: Entry) -> types.DocumentSymbol:
    outline = view.outline
    children = []
    for part in outline.children(key.path):
        if part.text in ("concat", "add"):
            for branch in outline.children(part.path):
                layers = [_symbol(view, layer, types.SymbolKind.Field) for layer in outline.children(branch.path)]
                children.append(_symbol(view, branch, types.SymbolKind.Namespace, detail=part.text, children=layers))
        elif part.text == "layers":
            children += [_symbol(view, layer, types.SymbolKind.Field) for layer in outline.children(part.path)]
    params = [entry.text for entry in param_entries(outline, key.text)]
    return _symbol(view, key, types.SymbolKind.Class, detail=f"({', '.join(params)})", children=children)
