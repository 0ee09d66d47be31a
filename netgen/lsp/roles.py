"""What a key or value of a spec is, from where it is written: a layer's name, an op, a block use,
an argument, a `from:` target, a block parameter, a `row:` id.

The spec language's shape is read off the declarations that validate it (LayerMeta's keys beside
an op, OP_ARGS for ops, the merge ops that take branches), so an op added there is known here.
"""

from __future__ import annotations

from dataclasses import dataclass

from netgen.lsp.outline import Entry, Path
from netgen.spec.parse import GROUP_KEY, MERGE_OPS
from netgen.spec.schema import HEAD_KEYS, INLINE_HEAD_KEYS, LAYER_META_KEYS, OP_ARGS

BODY_KEYS = ("concat", "add", "layers")  # a block's body
META_KEYS = tuple(dict.fromkeys((*LAYER_META_KEYS, *HEAD_KEYS, *INLINE_HEAD_KEYS)))


@dataclass(frozen=True)
class Role:
    """`kind` is one of: field (a top-level key), layer, head, group, block, branch, op, use (a block
    use), arg (an op's argument key), value (an op argument's value), block-arg (a value of a block
    use), param (a block parameter's declaration), from, row, meta (times, loss_weight), residual,
    default (an op under `defaults:`), output (an `outputs.fields` value), deviation-row, library (a
    `use:` entry)."""

    kind: str
    path: Path  # the entry's path
    layer: Path | None = None  # the layer the entry belongs to
    block: str | None = None  # the block whose definition holds the entry
    op: str | None = None  # the op or block a layer calls
    arg: str | None = None  # the argument (key of an op's arguments, or a block parameter)
    index: int | None = None  # a block argument's position


def role_of(entry: Entry) -> Role | None:
    """The role of an outline entry, or None for what has none (a comment-like free text, a key
    the spec language does not have)."""
    path, key = entry.path, entry.key
    if not path or not isinstance(path[0], str):
        return None
    top = path[0]
    if len(path) == 1:
        return Role("field", path) if key else None
    if top == "layers" and isinstance(path[1], str):
        if len(path) >= 4 and path[2] == GROUP_KEY and isinstance(path[3], str):
            if len(path) == 4:
                return Role("layer", path, layer=path) if key else None
            return _in_layer(entry, path[:4], path[4:], None)
        if len(path) == 2:
            return Role("layer", path, layer=path) if key else None
        if len(path) == 3 and path[2] == GROUP_KEY:
            return Role("group", path) if key else None
        return _in_layer(entry, path[:2], path[2:], None)
    if top == "heads" and isinstance(path[1], str):
        if len(path) == 2:
            return Role("head", path, layer=path) if key else None
        return _in_layer(entry, path[:2], path[2:], None)
    if top == "blocks" and isinstance(path[1], str):
        return _in_block(entry, path[1], path[2:])
    if top == "defaults" and isinstance(path[1], str):
        op = path[1]
        if len(path) == 2:
            return Role("default", path, op=op) if key else None
        return Role("arg" if key else "value", path, op=op, arg=_arg(path[2:]))
    if top == "use" and not key:
        return Role("library", path)
    if top == "outputs" and len(path) == 3 and path[1] == "fields" and not key:
        return Role("output", path)
    if top == "deviations" and len(path) >= 3 and path[2] == "row" and not key:
        return Role("deviation-row", path)
    return None


def _in_block(entry: Entry, block: str, rest: Path) -> Role | None:
    path, key = entry.path, entry.key
    if not rest:
        return Role("block", path, block=block) if key else None
    part = rest[0]
    if part == "params" and len(rest) >= 2:
        if len(rest) == 2 and not key:
            return Role("param", path, block=block, arg=entry.text)
        if len(rest) == 3 and key:
            return Role("param", path, block=block, arg=entry.text)
        return None
    if part == "residual" and len(rest) == 2:
        return (
            Role("residual", path, block=block, arg=str(rest[1]))
            if not key
            else Role("arg", path, block=block, op="residual", arg=str(rest[1]))
        )
    if part in ("concat", "add") and len(rest) >= 2:
        return _in_branches(entry, path[: len(path) - len(rest) + 1], rest[1:], block)
    if part == "layers" and len(rest) >= 2:
        return _in_sequence(entry, path[: len(path) - len(rest) + 1], rest[1:], block)
    return None


def _in_branches(entry: Entry, prefix: Path, rest: Path, block: str) -> Role | None:
    """`rest` starts at a branch's name, under `prefix` (a body's or a merge's `concat`/`add`)."""
    if len(rest) == 1:
        return Role("branch", entry.path, block=block) if entry.key else None
    return _in_sequence(entry, prefix + (rest[0],), rest[1:], block)


def _in_sequence(entry: Entry, prefix: Path, rest: Path, block: str) -> Role | None:
    """`rest` starts at a layer's name (a mapping of layers) or index (a list of them)."""
    layer = prefix + (rest[0],)
    if isinstance(rest[0], str) and len(rest) == 1:
        return Role("layer", entry.path, layer=layer, block=block) if entry.key else None
    return _in_layer(entry, layer, rest[1:], block)


def _in_layer(entry: Entry, layer: Path, rest: Path, block: str | None) -> Role | None:
    """`rest` is the path inside one layer's mapping: its op (or block) key and the keys beside it."""
    path, key = entry.path, entry.key
    if not rest or not isinstance(rest[0], str):
        return None
    part = rest[0]
    if part in ("from", "row") and not key:
        return Role(part, path, layer=layer, block=block)
    if part in META_KEYS:
        return Role("meta", path, layer=layer, block=block, arg=part) if len(rest) == 1 else None
    if len(rest) == 1:
        if not key:
            return None
        return Role("op" if part in OP_ARGS else "use", path, layer=layer, block=block, op=part)
    inner = rest[1]
    if part in MERGE_OPS and isinstance(inner, str):
        return _in_branches(entry, layer + (part,), rest[1:], block)
    if part in OP_ARGS and isinstance(inner, str):
        return Role("arg" if key else "value", path, layer=layer, block=block, op=part, arg=_arg(rest[1:]))
    if isinstance(inner, int) and len(rest) == 2 and not key:
        return Role("block-arg", path, layer=layer, block=block, op=part, index=inner)
    return None


def _arg(path: Path) -> str:
    """An argument's name, dotted when it is inside another's mapping (`bn.eps`)."""
    return ".".join(part for part in path if isinstance(part, str))
