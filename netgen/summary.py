"""A Table-1-like account of a compiled graph: one row per top-level layer, heads apart, totals."""

from __future__ import annotations

from collections import Counter
from typing import Any

from netgen.ir.graph import Graph, Node
from netgen.ir.ops import POOLING, WEIGHTED
from netgen.ir.scopes import Scope, scope_tree
from netgen.ops import OPS
from netgen.passes.macs import CONVENTION
from netgen.spec.model import BlockCall, Spec


def as_chw(shape: tuple[int, ...]) -> list[int]:
    """Table 1 prints a vector of F values as 1x1xF; we keep C, H, W order: [F, 1, 1]."""
    return list(shape) if len(shape) == 3 else [shape[0], 1, 1]


def building_blocks(graph: Graph, nodes=None) -> int:
    """Layers the paper would count as building blocks: every primitive op except concat and the input."""
    nodes = graph.trunk() if nodes is None else nodes
    return sum(1 for node in nodes if node.kind in OPS and OPS[node.kind].building_block)


def summarize(spec: Spec, graph: Graph, depth: int = 1) -> dict[str, Any]:
    """The summary; with `depth` > 1 each row also holds `children`, the tree inside it to that depth."""
    rows, heads = [], []
    by_row: dict[str, list[Node]] = {}
    for node in graph.nodes():
        by_row.setdefault(node.row, []).append(node)
    columns = _module_columns(spec)
    for layer in spec.layers:
        rows.append(_row(spec, graph, layer.name, layer.call, by_row[layer.name], columns, layer.times))
    for head in spec.heads:
        row = _row(spec, graph, head.name, head.layer.call, by_row[head.name], columns, head.layer.times)
        heads.append({**row, "from": head.source, "loss_weight": head.loss_weight})
    if depth > 1:
        trees = {scope.path: scope for scope in scope_tree(spec, graph)}
        for row in [*rows, *heads]:
            if trees[row["name"]].children:
                row["children"] = [_tree(child, depth - 1) for child in trees[row["name"]].children]
    return {
        "name": spec.name,
        "spec": spec.path,
        "input": list(spec.input),
        "module_columns": list(columns),
        "conventions": {
            "macs": CONVENTION,
            "params": "weights + biases; batch norm scale counts as a weight, shift as a bias",
            "depth": f"longest path counting {', '.join(sorted(k.value for k in WEIGHTED))}; with pooling also {', '.join(sorted(k.value for k in POOLING))}",
        },
        "rows": rows,
        "heads": heads,
        "totals": totals(graph),
    }


def totals(graph: Graph) -> dict[str, int]:
    """The network's totals, heads left out but for the last two."""
    weights = biases = macs = params_with_heads = macs_with_heads = blocks = 0
    for node in graph.nodes():
        params_with_heads += node.weights + node.biases
        macs_with_heads += node.macs
        if node.head is None:
            weights += node.weights
            biases += node.biases
            macs += node.macs
            blocks += node.kind in OPS and OPS[node.kind].building_block
    return {
        "params": weights + biases,
        "weights": weights,
        "biases": biases,
        "macs": macs,
        "depth": graph.depth,
        "depth_with_pooling": graph.depth_with_pooling,
        "building_blocks": blocks,
        "params_with_heads": params_with_heads,
        "macs_with_heads": macs_with_heads,
    }


def _tree(scope: Scope, depth: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": scope.name,
        "path": scope.path,
        "type": scope.kind,
        "patch": patch(scope.nodes[0]) if not scope.children else None,
        "output": as_chw(scope.exit.shape),
        "params": scope.params,
        "macs": scope.macs,
    }
    if depth > 1 and scope.children:
        row["children"] = [_tree(child, depth - 1) for child in scope.children]
    return row


def _module_columns(spec: Spec) -> tuple[str, ...]:
    used = Counter(layer.call.block for layer in spec.layers if isinstance(layer.call, BlockCall))
    if not used:
        return ()
    return spec.blocks[used.most_common(1)[0][0]].params


def _row(spec: Spec, graph: Graph, name: str, call, nodes: list[Node], columns, times: int = 1) -> dict[str, Any]:
    out = graph[graph.exit_of(name)]
    row: dict[str, Any] = {
        "name": name,
        "type": call.block if isinstance(call, BlockCall) else call.op,
        "times": times,
        "ref_row": nodes[0].ref_row,
        "patch": patch(nodes[0]) if len(nodes) == 1 else None,
        "output": as_chw(out.shape),
        "depth": graph.row_depth[name][0],
        "depth_with_pooling": graph.row_depth[name][1],
        "params": sum(node.weights + node.biases for node in nodes),
        "weights": sum(node.weights for node in nodes),
        "biases": sum(node.biases for node in nodes),
        "macs": sum(node.macs for node in nodes),
        "module": {},
    }
    # A block repeated with `times:` takes the same arguments in every copy: the first one's are shown.
    instance = graph.instances.get(name) or graph.instances.get(f"{name}.0")
    if instance is not None:
        block = spec.blocks[instance.block]
        # A block with some of the columns' parameters (BN-Inception's 3c, without a 1x1) fills those.
        if block.params == columns or (block.params and set(block.params) <= set(columns)):
            row["module"] = dict(zip(block.params, instance.args, strict=True))
        else:
            row["args"] = list(instance.args)
    return row


def patch(node: Node) -> str | None:
    """A convolution's or pool's kernel and stride as Table 1 prints them: 7x7/2, 1x7/1."""
    found = OPS[node.kind].patch(node.attrs) if node.kind in OPS else None
    if found is None:
        return None
    (kh, kw), (sh, sw) = found
    stride = str(sh) if sh == sw else f"{sh}x{sw}"
    return f"{kh}x{kw}/{stride}"


def render_table(summary: dict[str, Any]) -> str:
    columns = summary["module_columns"]
    header = ["name", "type", "patch/stride", "output size", "depth", *columns, "params", "MACs"]
    lines = [header]

    def cells(row):
        module = [str(row["module"].get(col, "")) for col in columns]
        return [
            row["name"],
            type_text(row),
            row["patch"] or "",
            size_text(row["output"]),
            str(row["depth"]) if row["depth"] else "",
            *module,
            count_text(row["params"]),
            count_text(row["macs"]),
        ]

    lines += [cells(row) for row in summary["rows"]]
    totals = summary["totals"]
    total_line = ["total", "", "", "", str(totals["depth"]), *[""] * len(columns), count_text(totals["params"]), count_text(totals["macs"])]
    widths = [max(len(line[i]) for line in [*lines, total_line]) for i in range(len(header))]
    numeric = {4, *range(5, len(header))}

    def fmt(line):
        return "  ".join(cell.rjust(width) if i in numeric else cell.ljust(width) for i, (cell, width) in enumerate(zip(line, widths, strict=True))).rstrip()

    rule = "  ".join("-" * width for width in widths)
    out = [_title(summary), "", fmt(header), rule]
    out += [fmt(line) for line in lines[1:]]
    out += [rule, fmt(total_line), ""]
    out.append(f"params: {totals['params']:,} ({totals['weights']:,} weights + {totals['biases']:,} biases)")
    out.append(f"multiply-adds: {totals['macs']:,} ({summary['conventions']['macs']})")
    out.append(f"depth: {totals['depth']} layers with weights, {totals['depth_with_pooling']} with pooling")
    if summary["heads"]:
        out.append("")
        out.append("heads (training only, not in the totals above):")
        for head in summary["heads"]:
            out.append(
                f"  {head['name']}: {type_text(head)} from {head['from']}, loss weight {head['loss_weight']:g}, "
                f"output {size_text(head['output'])}, {head['params']:,} params, {head['macs']:,} multiply-adds"
            )
        out.append(f"params with heads: {totals['params_with_heads']:,}")
    return "\n".join(out)


def render_tree(summary: dict[str, Any]) -> str:
    """torchinfo's nested view: each row, then the blocks, branches and ops inside it, indented."""
    lines = [("layer (type)", "output size", "params", "MACs")]

    def walk(row: dict[str, Any], prefix: str, glyph: str) -> None:
        kind = f"{type_text(row)} {row['patch']}" if row.get("patch") else type_text(row)
        lines.append((f"{prefix}{glyph}{row['name']} ({kind})", size_text(row["output"]), f"{row['params']:,}", f"{row['macs']:,}"))
        children = row.get("children", [])
        inner = prefix + ("" if not glyph else "   " if glyph == "└─ " else "│  ")
        for i, child in enumerate(children):
            walk(child, inner, "└─ " if i == len(children) - 1 else "├─ ")

    for row in summary["rows"]:
        walk(row, "", "")
    totals = summary["totals"]
    total = ("total", "", f"{totals['params']:,}", f"{totals['macs']:,}")
    widths = [max(len(line[i]) for line in [*lines, total]) for i in range(4)]

    def fmt(line) -> str:
        return "  ".join([line[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True))]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    out = [_title(summary), "", fmt(lines[0]), rule]
    out += [fmt(line) for line in lines[1:]]
    out += [rule, fmt(total)]
    if summary["heads"]:
        out += ["", "heads (training only, not in the total above):"]
        start = len(lines)
        for head in summary["heads"]:
            walk(head, "", "")
        out += [fmt(line) for line in lines[start:]]
    return "\n".join(out)


def _title(summary: dict[str, Any]) -> str:
    return f"{summary['name']} ({summary['spec']}), input {size_text(summary['input'])}"


def size_text(chw) -> str:
    """A size as netgen prints every size, as the papers' tables do: HxWxC (C, H, W = 3, 224, 224 is 224x224x3)."""
    c, h, w = chw
    return f"{h}x{w}x{c}"


def type_text(row: dict[str, Any]) -> str:
    """A row's op or block; a layer repeated with `times: N` says so."""
    return f"{row['type']} x {row['times']}" if row.get("times", 1) > 1 else row["type"]


def count_text(value: int) -> str:
    """A count as netgen prints every count it computes: exact, with thousands separators (blank for 0)."""
    return f"{value:,}" if value else ""
