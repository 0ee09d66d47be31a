"""What the editor says about ops, their arguments and the spec's keys: the declarations that
validate a spec (netgen/spec/schema.py), worded as the JSON Schema words them."""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticUndefined

from netgen.spec.document import describe
from netgen.spec.model import Block
from netgen.spec.parse import MERGE_OPS, fields_of, literal_choices, nested_model, show
from netgen.spec.schema import (
    OP_ARGS,
    BlockDecl,
    HeadMeta,
    InlineHeadMeta,
    LayerMeta,
    NoArgs,
    ResidualArgs,
    SpecHeader,
    Strict,
    op_title,
)

# The declaration of each mapping a key can be in, by what holds it.
HEADER, LAYER_META, HEAD_META, BLOCK_DECL, RESIDUAL = SpecHeader, LayerMeta, HeadMeta, BlockDecl, ResidualArgs
INLINE_HEAD_META = InlineHeadMeta  # a head written among the layers (`head: true`)


def field_of(model: type[Strict], dotted: str):
    """The declaration of `dotted` (`kernel`, `bn.eps`) in `model`, or None."""
    *outer, last = dotted.split(".")
    for key in outer:
        inner = nested_model(model, key)
        if inner is None:
            return None
        model = inner
    return fields_of(model).get(last)


def field_doc(info) -> str:
    """'Kernel size: an integer from 1 to 1024 or a pair [h, w] of them'."""
    return describe(info.title or "", info.description) if info.title else (info.description or "")


def default_of(info) -> Any:
    default = info.default
    return None if default is PydanticUndefined else default


def required(info) -> bool:
    return info.default is PydanticUndefined and info.default_factory is None


def field_line(name: str, info) -> str:
    """A Markdown bullet for one argument: its name, meaning, values and default."""
    text = f"- `{name}`: {field_doc(info)}"
    if required(info):
        return text + " (required)"
    default = default_of(info)
    if default is not None and not isinstance(default, Strict):
        text += f" (default: {show(default).strip(chr(39))})"
    return text


def op_markdown(op: str) -> str:
    """An op's documentation: what it does and each argument it takes."""
    lines = [f"**{op}**: {op_title(op)}", ""]
    model = OP_ARGS[op]
    if op in MERGE_OPS:
        lines.append("`from: [a, b]` names the layers it combines; in a block it may hold branches instead.")
    elif model is NoArgs:
        lines.append(f"Write it with nothing after the colon: `{{{op}: }}`.")
    else:
        lines += [field_line(name, info) for name, info in fields_of(model).items()]
    return "\n".join(lines)


def words_for(info) -> list[str]:
    """The words a field takes, for completion: its Literal choices, and true/false for a flag."""
    words = literal_choices(info.annotation)
    if _takes_bool(info.annotation):
        words += ["true", "false"]
    return words


def _takes_bool(annotation) -> bool:
    import typing

    pending = [annotation]
    while pending:
        current = pending.pop()
        if current is bool:
            return True
        pending.extend(typing.get_args(current))
    return False


def signature(block: Block, values: tuple | None = None) -> str:
    """`inception(n1x1, n3x3red, ...)`, or with a use's values `inception(n1x1=64, ...)`; typed
    parameters say their type."""
    parts = []
    for index, param in enumerate(block.params):
        kind = block.type_of(param)
        name = param if kind == "channels" else f"{param}: {kind}"
        if values is not None and index < len(values):
            name += f"={value_text(values[index])}"
        parts.append(name)
    return f"{block.name}({', '.join(parts)})"


def value_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def body_of(block: Block) -> str:
    """What a block's body does, in words."""
    branches = ", ".join(branch.name for branch in block.branches)
    if block.combine == "seq":
        text = "layers in sequence"
    else:
        text = f"{'concatenation' if block.combine == 'concat' else 'sum'} of branches {branches}"
    if block.residual is not None:
        text = f"act(input + scale * body), body: {text}"
    return text
