"""Hover and inlay hints: each layer's output size, params and multiply-adds, as `netgen summary`
computes them, and what an op, an argument, a block or a parameter is."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from netgen.ir.graph import Graph, Instance, Node
from netgen.lsp import docs
from netgen.lsp.analysis import View
from netgen.lsp.outline import Entry
from netgen.lsp.roles import Role, role_of
from netgen.spec.model import Block
from netgen.spec.schema import OP_ARGS
from netgen.summary import as_chw, size_text

MAX_USES = 12  # uses listed in a hover; the rest are counted


def size(shape: list[int] | tuple[int, ...]) -> str:
    """`28x28x256`: as netgen prints every size (a vector of F values is 1x1xF)."""
    return size_text(as_chw(tuple(shape)))


def counts(params: int, macs: int) -> str:
    return f"{params:,} params, {macs:,} multiply-adds"


def hover(view: View, offset: int) -> types.Hover | None:
    entry = view.outline.at(offset)
    if entry is None:
        return None
    role = role_of(entry)
    if role is None:
        return None
    text = _markdown(view, entry, role)
    if not text:
        return None
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
        range=view.text.range(entry.start, entry.end),
    )


def _markdown(view: View, entry: Entry, role: Role) -> str | None:
    good = view.good
    spec = good.spec if good is not None else None
    kind = role.kind
    if kind == "field":
        info = docs.HEADER.model_fields.get(entry.text)
        return f"`{entry.text}`: {docs.field_doc(info)}" if info is not None else None
    if kind in ("layer", "head") and role.block is None:
        return _top_layer(view, entry.text)
    if kind == "layer":
        return _in_block(view, entry, f"layer `{entry.text}` of block `{role.block}`")
    if kind == "op" or kind == "default":
        if entry.text not in OP_ARGS:
            return None
        text = docs.op_markdown(entry.text)
        if kind == "op" and role.block is None:
            return f"{_top_layer(view, str(role.layer[-1]))}\n\n---\n\n{text}"
        if kind == "op" and isinstance(role.layer[-1], int):  # a list item: the op is the layer
            return _in_block(view, entry, f"`{entry.text}` in block `{role.block}`") + f"\n\n---\n\n{text}"
        return text
    if kind == "use":
        return _use(view, entry, role)
    if kind == "block":
        return _block(view, entry.text)
    if kind in ("arg", "meta"):
        return _argument(role)
    if kind in ("value", "block-arg", "residual"):
        return _value(view, entry, role)
    if kind == "param":
        block = spec.blocks.get(role.block) if spec is not None else None
        return _param(view, block, entry.text) if block is not None and entry.text in block.params else None
    if kind in ("from", "output"):
        if role.block is None:
            return _top_layer(view, entry.text)
        return f"`{entry.text}`: " + (
            "the block's input" if entry.text == "input" else f"layer `{entry.text}` of block `{role.block}`"
        )
    if kind in ("row", "deviation-row"):
        return _row(view, entry.text)
    if kind == "group":
        return f"`{entry.path[1]}`: a group of layers kept as one nn.Sequential attribute, numbered in order"
    if kind == "branch":
        return f"branch `{entry.text}` of block `{role.block}`"
    return None


# -- layers ------------------------------------------------------------------------------------


def _top_layer(view: View, name: str) -> str | None:
    good = view.good
    if good is None or name not in good.rows:
        return f"`{name}`: no shape yet; the spec has not compiled" if good is None else None
    row = good.rows[name]
    spec, graph = good.spec, good.graph
    head = next((head for head in spec.heads if head.name == name), None)
    layer = head.layer if head is not None else next((layer for layer in spec.layers if layer.name == name), None)
    what = row["type"]
    if name in graph.instances:
        instance = graph.instances[name]
        what = docs.signature(spec.blocks[instance.block], instance.args)
    elif layer is not None and layer.times > 1:
        what = f"{row['type']} x {layer.times}"
    elif row["type"] in OP_ARGS:
        what = f"{row['type']}: {docs.op_title(row['type'])}"
    lines = [f"**{name}**: {what}", f"output **{size(row['output'])}** (height x width x channels)"]
    lines.append(counts(row["params"], row["macs"]))
    if row.get("depth"):
        lines.append(f"depth {row['depth']} ({row['depth_with_pooling']} with pooling)")
    if head is not None:
        lines.append(f"head on `{head.source}`, loss weight {head.loss_weight:g}; not in the network's totals")
    if row.get("ref_row"):
        lines.append(f"reference row `{row['ref_row']}`")
    if not view.fresh:
        lines.append("\n_as of the last version of the spec that compiled_")
    return lines[0] + "\n\n" + "  \n".join(lines[1:])


def _at(view: View, entry: Entry) -> tuple[int, int]:
    return view.entry_span(entry.start)


def _nodes_at(view: View, entry: Entry) -> list[Node]:
    """The graph's nodes written at this entry: one per use of the block that holds it."""
    if not view.fresh:
        return []
    line, col = _at(view, entry)
    return [node for node in view.good.graph.nodes() if node.span.line == line and node.span.col == col]


def _instances_at(view: View, entry: Entry) -> list[Instance]:
    if not view.fresh:
        return []
    line, col = _at(view, entry)
    return [
        instance
        for instance in view.good.graph.instances.values()
        if (instance.span.line, instance.span.col) == (line, col)
    ]


def _in_block(view: View, entry: Entry, title: str) -> str:
    nodes = _nodes_at(view, entry)
    lines = [f"{title}", ""]
    if not nodes:
        lines.append(
            "its sizes show where the block is used, once the spec compiles"
            if not view.fresh
            else "not used in the network"
        )
        return "\n".join(lines)
    lines.append(f"{len(nodes)} use{'s' if len(nodes) != 1 else ''}:")
    lines += [
        f"- `{node.name}`: {size(node.shape)}, {counts(node.weights + node.biases, node.macs)}"
        for node in nodes[:MAX_USES]
    ]
    if len(nodes) > MAX_USES:
        lines.append(f"- and {len(nodes) - MAX_USES} more")
    return "\n".join(lines)


def _instance_line(graph: Graph, instance: Instance) -> str:
    nodes = [graph[name] for name in instance.nodes if name in graph]
    params = sum(node.weights + node.biases for node in nodes)
    macs = sum(node.macs for node in nodes)
    return f"`{instance.path}`: {size(graph[instance.exit].shape)}, {counts(params, macs)}"


def _use(view: View, entry: Entry, role: Role) -> str | None:
    good = view.good
    if good is None or entry.text not in good.spec.blocks:
        return None
    block = good.spec.blocks[entry.text]
    if role.block is None:
        name = str(role.layer[-1])
        top = _top_layer(view, name)
        if top is not None:
            return f"{top}\n\n---\n\n{_block_body(block)}"
    instances = _instances_at(view, entry)
    lines = [f"**{docs.signature(block)}**: {docs.body_of(block)}"]
    if instances:
        lines += ["", f"{len(instances)} use{'s' if len(instances) != 1 else ''}:"]
        lines += [
            f"- {docs.signature(block, instance.args)} in {_instance_line(good.graph, instance)}"
            for instance in instances[:MAX_USES]
        ]
    return "\n".join(lines)


def _block_body(block: Block) -> str:
    return f"block **{docs.signature(block)}**: {docs.body_of(block)}"


def _block(view: View, name: str) -> str | None:
    good = view.good
    if good is None or name not in good.spec.blocks:
        return None
    block = good.spec.blocks[name]
    graph = good.graph
    uses = [instance for instance in graph.instances.values() if instance.block == name]
    lines = [_block_body(block), ""]
    if not uses:
        lines.append("not used in the network")
    else:
        lines.append(f"{len(uses)} use{'s' if len(uses) != 1 else ''}:")
        lines += [f"- {docs.signature(block, use.args)}: {_instance_line(graph, use)}" for use in uses[:MAX_USES]]
        if len(uses) > MAX_USES:
            lines.append(f"- and {len(uses) - MAX_USES} more")
    return "\n".join(lines)


def _param(view: View, block: Block, param: str) -> str:
    graph = view.good.graph
    index = block.params.index(param)
    lines = [f"parameter `{param}` of **{docs.signature(block)}**: {_param_kind(block.type_of(param))}", ""]
    uses = [
        instance for instance in graph.instances.values() if instance.block == block.name and index < len(instance.args)
    ]
    if uses:
        shown = ", ".join(f"{docs.value_text(use.args[index])} in `{use.path}`" for use in uses[:MAX_USES])
        more = f", and {len(uses) - MAX_USES} more" if len(uses) > MAX_USES else ""
        lines.append(f"its values: {shown}{more}")
    return "\n".join(lines)


def _param_kind(kind: str) -> str:
    return {"channels": "a channel count", "float": "a number", "activation": "an activation (relu or none)"}[kind]


# -- arguments and values ----------------------------------------------------------------------


def _argument(role: Role) -> str | None:
    if role.kind == "meta":
        info = (
            docs.LAYER_META.model_fields.get(role.arg.removesuffix("_"))
            or _by_alias(docs.LAYER_META, role.arg)
            or _by_alias(docs.HEAD_META, role.arg)
            or _by_alias(docs.INLINE_HEAD_META, role.arg)
        )
    elif role.op == "residual":
        info = docs.RESIDUAL.model_fields.get(role.arg)
    elif role.op in OP_ARGS:
        info = docs.field_of(OP_ARGS[role.op], role.arg)
    else:
        info = None
    if info is None:
        return None
    return f"`{role.arg}`: {docs.field_doc(info)}"


def _by_alias(model, key: str):
    return next((info for name, info in model.model_fields.items() if (info.alias or name) == key), None)


def _value(view: View, entry: Entry, role: Role) -> str | None:
    good = view.good
    spec = good.spec if good is not None else None
    block = spec.blocks.get(role.block) if spec is not None and role.block else None
    if block is not None and entry.text in block.params:
        return _param(view, block, entry.text)
    if role.kind == "block-arg":
        return _block_argument(view, entry, role)
    if role.kind == "residual":
        info = docs.RESIDUAL.model_fields.get(role.arg)
        return f"`{role.arg}`: {docs.field_doc(info)}" if info is not None else None
    return _argument(role)


def _block_argument(view: View, entry: Entry, role: Role) -> str | None:
    good = view.good
    if good is None or role.op not in good.spec.blocks:
        return None
    block = good.spec.blocks[role.op]
    if role.index >= len(block.params):
        return f"**{docs.signature(block)}** takes {len(block.params)} argument{'s' if len(block.params) != 1 else ''}"
    param = block.params[role.index]
    text = f"`{param}` = {entry.text} in **{docs.signature(block)}**: {_param_kind(block.type_of(param))}"
    instance = good.graph.instances.get(str(role.layer[-1])) if role.block is None else None
    if instance is not None and role.index < len(instance.args) and str(instance.args[role.index]) != entry.text:
        text += f"; {docs.value_text(instance.args[role.index])} once the width {good.spec.width:g} scales it"
    return text


def _row(view: View, row_id: str) -> str | None:
    good = view.good
    reference = good.reference if good is not None else None
    row = reference.row(row_id) if reference is not None else None
    if row is None:
        return None
    cells = ", ".join(f"{column} {cell}" for column, cell in row.cells.items() if cell is not None)
    title = f" of {reference.title}" if reference.title else ""
    return f"row `{row.id}`{title} ({reference.path}):\n\n{cells}"


# -- inlay hints -------------------------------------------------------------------------------


def inlay_hints(view: View, start: int, end: int) -> list[types.InlayHint]:
    """At the end of each layer's and head's line: its output size, and where it expands (a block
    use, `times: N`) its params and multiply-adds."""
    good = view.good
    if good is None:
        return []
    graph = good.graph
    hints = []
    for entry in view.outline.entries:
        if not entry.key or entry.start < start or entry.start > end:
            continue
        role = role_of(entry)
        if role is None or role.kind not in ("layer", "head") or role.block is not None:
            continue
        row = good.rows.get(entry.text)
        if row is None:
            continue
        label = size(row["output"])
        if entry.text in graph.instances or entry.text in graph.exits:
            label += f" · {row['params']:,} params · {row['macs']:,} MACs"
        hints.append(
            types.InlayHint(
                position=view.text.position(_line_end(view, entry)),
                label=label,
                kind=types.InlayHintKind.Type,
                padding_left=True,
                tooltip=_tooltip(view, row),
            )
        )
    return hints


def _line_end(view: View, entry: Entry) -> int:
    """Where a layer's hint goes: after its value when that ends on the key's line, else at the end of the key's line."""
    source = view.text.source
    line_end = view.text.line_end(entry.start)
    _, value_end = view.outline.extent(entry.path)
    if entry.start <= value_end <= line_end:
        return value_end
    end = line_end
    while end > entry.end and source[end - 1] in " \t":
        end -= 1
    return end


def _tooltip(view: View, row: dict[str, Any]) -> str:
    text = f"{row['name']}: output {size(row['output'])}, {counts(row['params'], row['macs'])}"
    return text if view.fresh else text + " (as of the last version that compiled)"
