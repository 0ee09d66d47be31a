"""Infer-shapes pass: the (C, H, W) or (F,) output of every node, batch left symbolic.

Convolutions round down; pooling rounds down or up as the spec says, with PyTorch's rule that
the last window must start inside the input or its left padding. A node whose shape cannot be
known gets a diagnostic and `None`; nodes after it are skipped rather than reported again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import fields, replace

from netgen.diagnostics import Diagnostic, SpecError, error, note
from netgen.ir.graph import Graph, Node, Shape
from netgen.ir.ops import OpKind
from netgen.ops import OPS
from netgen.ops.base import ShapeContext, Unbound
from netgen.ops.expr import IN, ExprError
from netgen.ops.window import window
from netgen.spec.fields import MAX_CHANNELS

__all__ = ["run", "infer", "fmt", "window"]
from netgen.spec.model import Spec


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    for node in graph.nodes():
        if node.kind is OpKind.INPUT:
            continue
        inputs = [graph[name] for name in graph.inputs(node.name)]
        if any(source.shape is None for source in inputs):
            node.shape = None
            continue
        try:
            if node.unbound:
                node.attrs = bind(graph, node, inputs[0].shape[0])
            node.shape = infer(graph, node, [source.shape for source in inputs], spec)
        except SpecError as exc:
            node.shape = None
            problems.extend(d for d in exc.diagnostics if d not in problems)  # a split's parts report it once
    if problems and _looks_like_hwc(spec.input):
        first = problems[0]
        problems[0] = replace(first, notes=(*first.notes, _hwc_note(spec)))
    return problems


def _looks_like_hwc(shape: tuple[int, int, int]) -> bool:
    """[224, 224, 3]: an image's size written the way image libraries store it, channels last."""
    c, h, w = shape
    return w <= 4 < c


def _hwc_note(spec: Spec) -> Diagnostic:
    c, h, w = spec.input
    return note(
        f"input is [C, H, W]: {list(spec.input)} is {c} channels of {h}x{w}; for {c}x{h} images with {w} channels write [{w}, {c}, {h}]",
        spec.where("input"),
    )


def bind(graph: Graph, node: Node, channels: int):
    """The node's attributes with every channel count written with `in` computed from its input's channels."""

    def value(item):
        if isinstance(item, tuple):
            return tuple(value(part) for part in item)
        if not isinstance(item, Unbound):
            return item
        try:
            count = item.expr.value({IN: channels})
        except ExprError as exc:
            raise SpecError(error("bad-value", f"{item.where}: {item.arg!r} is {item.text}, and {exc} here", item.span)) from None
        if not 1 <= count <= MAX_CHANNELS:
            message = (
                f"{item.where}: {item.arg!r} is {item.text} = {count} for an input of {channels} channels, "
                f"which is no channel count (1 to {MAX_CHANNELS:,})"
            )
            raise SpecError(error("bad-value", message, item.span, *_innermost_use_note(graph, node)))
        return count

    attrs = node.attrs
    return replace(attrs, **{field.name: value(getattr(attrs, field.name)) for field in fields(attrs)})


def infer(graph: Graph, node: Node, shapes: list[Shape], spec: Spec | None = None) -> Shape:
    op = OPS[node.kind]
    if op.combines:
        return _merge(graph, node, shapes, spec)
    (shape,) = shapes
    if op.needs == "map" and len(shape) != 3:
        message = f"{node.name}: {node.kind.value} needs a C x H x W input but gets {fmt(shape)}{op.needs_hint}"
        raise SpecError(error("needs-map", message, node.span))
    if op.needs == "flat" and len(shape) != 1:
        message = f"{node.name}: {node.kind.value} needs a flat input but gets {fmt(shape)}{op.needs_hint}"
        raise SpecError(error("needs-flat", message, node.span))
    if op.keeps_shape:
        return shape
    return op.shape(ShapeContext(node.name, node.attrs, shapes, node.span, node.where, lambda: _innermost_use_note(graph, node)))


def _innermost_use_note(graph: Graph, node: Node) -> list[Diagnostic]:
    """A note on the block use a node is in, innermost first: where a problem of a block's shows."""
    use = next((path for path in reversed(node.scope) if path in graph.instances), None)
    return _use_note(graph, use) if use is not None else []


def fmt(shape: Shape) -> str:
    return " x ".join(str(extent) for extent in shape)


def _merge(graph: Graph, node: Node, shapes: list[Shape], spec: Spec | None) -> Shape:
    sources = graph.inputs(node.name)
    labels = _input_labels(graph, node, sources, spec)
    ranks = {len(shape) for shape in shapes}
    if ranks != {3}:
        raise SpecError(error("needs-map", f"{node.name}: {node.kind.value} needs C x H x W inputs, got {', '.join(map(fmt, shapes))}", node.span))
    combines = OPS[node.kind].combines
    sizes = [shape[1:] for shape in shapes]
    # A product broadcasts a 1x1 map (a squeeze-and-excitation gate) over the others.
    spread = [size for size in sizes if size != (1, 1)] if combines == "broadcast" else sizes
    common = Counter(spread or sizes).most_common(1)[0][0]
    if any(size != common and not (combines == "broadcast" and size == (1, 1)) for size in sizes):
        agreeing = sizes.index(common)
        odd = next(i for i, size in enumerate(sizes) if size != common)
        raise SpecError(_misaligned(graph, node, sources[odd], sizes[odd], labels[odd], labels[agreeing], common))
    if combines in ("equal", "broadcast"):
        channels = {shape[0] for shape in shapes}
        if len(channels) != 1 and getattr(node.attrs, "scale", None) is not None:
            (given, _, _), (made, _, _) = shapes
            use = node.name.removesuffix(".residual")
            message = (
                f"{use}: a residual adds the block's input ({given} channels) to its body ({made} channels); "
                f"the body must end with {given} channels"
            )
            raise SpecError(error("channel-mismatch", message, node.span, *_use_note(graph, use)))
        if len(channels) != 1:
            listed = ", ".join(f"{label} has {shape[0]}" for label, shape in zip(labels, shapes, strict=True))
            message = f"{node.name}: {node.kind.value} needs equal channels, but {listed}"
            raise SpecError(error("channel-mismatch", message, node.span, *_innermost_use_note(graph, node)))
        return (shapes[0][0], *common)
    return (sum(shape[0] for shape in shapes), *common)


def _input_labels(graph: Graph, merge: Node, sources: list[str], spec: Spec | None) -> list[str]:
    """How the user knows each input of a merge: a block's branches by name (an empty `add`
    branch feeds the block's input straight through), a top-level layer's `from` by layer."""
    if getattr(merge.attrs, "labels", ()):
        return list(merge.attrs.labels)
    instance = graph.instances.get(merge.name)
    if instance is not None and spec is not None and instance.block in spec.blocks:
        branches = spec.blocks[instance.block].branches
        if len(branches) == len(sources):
            return [f"branch {branch.name}" for branch in branches]
    prefix = merge.name + "."
    return [source[len(prefix) :].split(".")[0] if source.startswith(prefix) else source for source in sources]


def _use_note(graph: Graph, use: str) -> list[Diagnostic]:
    """A merge inside a block is reported at the block's definition; this says which use."""
    if use not in graph.instances:
        return []
    return [note(f"in {use}, used here", graph.instances[use].span)]


def _misaligned(graph: Graph, merge: Node, odd: str, odd_size, odd_label: str, agreeing_label: str, size) -> Diagnostic:
    """Blame the layer in the odd branch that changed the spatial size, and say what would fix it."""
    culprit, fix = _culprit(graph, merge, odd)
    message = (
        f"{merge.row if merge.name == merge.row else merge.name}: "
        f"{_as_branch(odd_label)} gives {odd_size[0]}x{odd_size[1]} "
        f"but {_as_branch(agreeing_label)} gives {size[0]}x{size[1]}"
    )
    if fix:
        message += f"; {fix}"
    span = culprit.span if culprit is not None else merge.span
    return error("concat-misaligned", message, span, *_use_note(graph, merge.name))


def _as_branch(label: str) -> str:
    return label if label.startswith("branch ") else f"branch {label}"


def _culprit(graph: Graph, merge: Node, branch_exit: str):
    """The first stride-1 layer on the branch whose output size differs from its input size."""
    chain = []
    name = branch_exit
    while name.startswith(merge.name + "."):
        chain.append(graph[name])
        inputs = graph.inputs(name)
        if not inputs:
            break
        name = inputs[0]
    for node in reversed(chain):
        patch = OPS[node.kind].patch(node.attrs) if node.kind in OPS else None
        if patch is None:
            continue
        before = graph[graph.inputs(node.name)[0]].shape
        if node.shape is None or before is None or node.shape[1:] == before[1:]:
            continue
        (kh, kw), stride = patch
        if stride == (1, 1):
            if kh % 2 and kw % 2:
                need = (kh - 1) // 2 if kh == kw else f"[{(kh - 1) // 2}, {(kw - 1) // 2}]"
                return node, f"a {kh}x{kw} kernel at stride 1 needs pad {need}"
            return node, f"a {kh}x{kw} kernel cannot keep the size at stride 1; use an odd kernel"
        return node, f"its {stride[0]}x{stride[1]} stride changes the size"
    return None, ""
