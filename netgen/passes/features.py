"""Features pass: where the network's feature extractor ends and its classifier head begins, and
the stages whose feature maps a backbone user takes (timm's `feature_info`).

The head is the run of top-level layers at the end of the trunk that pool, flatten, drop out and
classify: each a single op whose output is flat or 1x1, ending in the linear layer that gives the
logits (a final softmax, the output activation, aside), or ending in a use of a block that is
such a run itself (timm's MlpClassifierHead: pool, fc1, GELU, LayerNorm, fc2), whose modules
forward_head() then runs one by one. Everything before it is the feature extractor, and its last
output is what timm's `forward_features` returns. A network whose logits come from anything but
such a linear layer has no classifier to reset, so it gets no split.

Stages are the layers the spec marks `stage: true`, or else the last layer at each stride of the
feature extractor: where timm's models put their `feature_info` (torchvision's Inception-v3 gives
Conv2d_2b_3x3, Conv2d_4a_3x3, Mixed_5d, Mixed_6e and Mixed_7c). A layer's stride (timm's
`reduction`) is the product of the strides on its way from the input.
"""

from __future__ import annotations

from dataclasses import dataclass

from netgen.diagnostics import Diagnostic, error
from netgen.ir.build import has_module
from netgen.ir.graph import Graph
from netgen.ir.ops import OpKind, kind_for_op
from netgen.ops.activation import ACTIVATION_NAMES, NONE
from netgen.spec.model import BlockCall, Layer, MergeCall, OpCall, Spec

# Ops a classifier head is made of.
HEAD_KINDS = frozenset(
    {
        OpKind.ADAPTIVE_AVGPOOL,
        OpKind.AVGPOOL,
        OpKind.MAXPOOL,
        OpKind.FLATTEN,
        OpKind.DROPOUT,
        OpKind.LINEAR,
        OpKind.RELU,
        OpKind.BATCHNORM,
        OpKind.SOFTMAX,
    }
)


# Ops a classifier head written as a block adds to those: its activations and its norm.
CHAIN_KINDS = frozenset(
    {OpKind.LAYERNORM, *(kind for kind in OpKind if kind.value in ACTIVATION_NAMES and kind.value != NONE)}
)


@dataclass(frozen=True)
class Stage:
    layer: str  # a top-level layer
    channels: int
    reduction: int  # the input's size over the stage's, as strides multiply


@dataclass(frozen=True)
class Features:
    head_start: int  # the index in spec.layers of the head's first layer
    classifier: str  # the linear layer that gives the logits
    stages: tuple[Stage, ...]
    # a classifier head written as a block: its nodes in order, the classifier last (else empty)
    head_block: tuple[str, ...] = ()


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    problems = _misplaced_marks(spec)
    marked = [layer for layer in spec.layers if layer.stage]
    head_start, head_block = _head_start(graph, spec)
    if head_start is None:
        graph.features = None
        problems += [
            error(
                "bad-stage",
                f"{layer.name}: 'stage' marks a feature map of a network whose logits come from a linear layer at the end, "
                "after its pooling; this network's logits come from elsewhere, so it has no feature extractor to mark",
                layer.span,
            )
            for layer in marked
        ]
        return problems
    reductions = _reductions(graph)
    features = spec.layers[:head_start]
    for layer in marked:
        index = spec.layers.index(layer)
        if not _named(layer, spec, graph):
            if isinstance(layer.call, BlockCall):
                what = "a use of an inline block"
            elif has_module(layer):
                what = f"the {layer.call.op} and what follows it (its batch norm or ReLU)"
            else:
                what = f"a {layer.call.op} of earlier layers"
            problems.append(
                error(
                    "bad-stage",
                    f"{layer.name}: 'stage' names the module whose output is the feature map, and {what} is computed "
                    "in forward() without one; mark a layer with a module of its own",
                    layer.span,
                )
            )
        elif index >= head_start:
            problems.append(
                error(
                    "bad-stage",
                    f"{layer.name}: 'stage' marks a feature map, and {layer.name} is part of the classifier head "
                    f"({', '.join(item.name for item in spec.layers[head_start:])}); mark a layer before it",
                    layer.span,
                )
            )
    if problems:
        return problems
    if marked:
        chosen = marked
    else:
        # The last layer at each stride: the layer before one whose stride is larger, and the last one.
        strides = [reductions[graph.exit_of(layer.name)] for layer in features]
        # A merge of earlier layers or an inline block use has no module to name: its stride goes without a stage.
        chosen = [
            layer
            for index, layer in enumerate(features)
            if (index + 1 == len(features) or strides[index + 1] != strides[index]) and _named(layer, spec, graph)
        ]
    stages = []
    for layer in chosen:
        node = graph[graph.exit_of(layer.name)]
        stages.append(Stage(layer.name, node.shape[0], reductions[node.name]))
    graph.features = Features(head_start, graph.logits(), tuple(stages), head_block)
    return []


def _head_start(graph: Graph, spec: Spec) -> tuple[int | None, tuple[str, ...]]:
    """The index of the classifier head's first layer (None when the logits are not a linear
    layer's), and the nodes of the head's block when the head ends in one."""
    layers = list(spec.layers)
    logits = graph.logits()
    row = graph[logits].row
    names = [layer.name for layer in layers]
    if not layers or row not in names:
        return None, ()
    end = names.index(row)
    if layers[end].inputs is not None:
        return None, ()
    chain: tuple[str, ...] = ()
    if logits == row:
        if _kind(layers[end]) is not OpKind.LINEAR:
            return None, ()
    else:
        chain = _head_block_chain(graph, spec, layers[end])
        if not chain:
            return None, ()
    # Heads read the features; the classifier head starts after the last layer one reads.
    read = [index for index, layer in enumerate(layers) for head in spec.heads if head.source == layer.name]
    first = max(read, default=-1) + 1
    start = end
    while start - 1 >= first:
        layer = layers[start - 1]
        shape = graph[graph.exit_of(layer.name)].shape
        if _kind(layer) not in HEAD_KINDS or layer.inputs is not None or not (len(shape) == 1 or shape[1:] == (1, 1)):
            break
        start -= 1
    return (start, chain) if start > 0 else (None, ())


def _head_block_chain(graph: Graph, spec: Spec, layer: Layer) -> tuple[str, ...]:
    """The nodes of a classifier head written as a block (timm's MlpClassifierHead: pool, fc1, GELU,
    LayerNorm, fc2), in order, when the layer uses such a block: each node a module of its own that
    reads the one before, the last the linear layer that gives the logits. Empty for anything else."""
    if not isinstance(layer.call, BlockCall) or spec.blocks[layer.call.block].inline or layer.times != 1:
        return ()
    chain = [node for node in graph.nodes() if node.row == layer.name and node.head is None]
    if not chain or chain[-1].name != graph.logits() or chain[-1].kind is not OpKind.LINEAR:
        return ()
    previous = graph.inputs(chain[0].name)
    for node in chain:
        if node.kind not in HEAD_KINDS | CHAIN_KINDS or graph.inputs(node.name) != previous:
            return ()
        if node.kind in (OpKind.LINEAR, OpKind.CONV) and getattr(node.attrs, "act", NONE) != NONE:
            return ()  # forward() would apply the activation after the module
        previous = [node.name]
    return tuple(node.name for node in chain)


def _named(layer: Layer, spec: Spec, graph: Graph) -> bool:
    """Whether a module of the generated network outputs the layer's value, under the layer's name:
    not a merge or an inline block use, which forward() computes without a module of their own, nor
    a bare conv whose batch norm or ReLU forward() applies after it."""
    if isinstance(layer.call, BlockCall):
        return not spec.blocks[layer.call.block].inline
    if not has_module(layer):
        return False
    node = graph[graph.exit_of(layer.name)]
    if node.kind is OpKind.CONV and node.attrs.bare:
        return node.attrs.bn_eps is None and node.attrs.act == NONE
    return not (node.kind is OpKind.LINEAR and node.attrs.act != NONE)


def _kind(layer: Layer) -> OpKind | None:
    """A single op's kind; None for a block, a repeat or a merge of branches."""
    if not isinstance(layer.call, OpCall) or layer.times != 1:
        return None
    return kind_for_op(layer.call.op)


def _reductions(graph: Graph) -> dict[str, int]:
    """Each node's stride from the input: strides multiply along the way; a merge takes its inputs' largest."""
    out: dict[str, int] = {}
    for node in graph.trunk():
        inputs = graph.inputs(node.name)
        reduction = max((out[source] for source in inputs), default=1)
        stride = getattr(node.attrs, "stride", None)
        if node.kind in (OpKind.CONV, OpKind.MAXPOOL, OpKind.AVGPOOL) and stride is not None:
            reduction *= max(stride)
        out[node.name] = reduction
    return out


def _misplaced_marks(spec: Spec) -> list[Diagnostic]:
    """`stage: true` belongs to top-level layers: a stage is an output of the network's trunk."""
    problems = []
    pending = [
        (f"block {block.name!r}", layer)
        for block in spec.blocks.values()
        for branch in block.branches
        for layer in branch.layers
    ]
    while pending:
        where, layer = pending.pop(0)
        if layer.stage:
            problems.append(
                error(
                    "bad-stage",
                    f"{where}, layer {layer.name!r}: 'stage' marks a top-level layer of the trunk, not a layer of a block",
                    layer.span,
                )
            )
        if isinstance(layer.call, MergeCall):
            pending += [(where, item) for branch in layer.call.branches for item in branch.layers]
    return problems
