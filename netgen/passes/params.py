"""Count-parameters pass: weights and biases of every node, kept apart (Table 1 counts weights only).

Batch norm's scale counts as a weight and its shift as a bias; running statistics are buffers,
not parameters.
"""

from __future__ import annotations

from netgen.diagnostics import Diagnostic, error
from netgen.ir.graph import Graph
from netgen.ir.ops import OpKind
from netgen.spec.model import Spec

# Anything above this is a typo, not a network; refused before a backend allocates a tensor.
MAX_PARAMS = 2_000_000_000
# An ONNX model is one protobuf message, which cannot exceed 2 GiB; its float32 weights get all but
# 64 MiB of it, room enough for the graph of the largest network an expansion allows.
MAX_ONNX_WEIGHT_BYTES = 2**31 - 2**26
FLOAT32_BYTES = 4


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    for node in graph.nodes():
        inputs = graph.inputs(node.name)
        in_shape = graph[inputs[0]].shape if inputs else None
        node.weights, node.biases = 0, 0
        attrs = node.attrs
        if node.kind is OpKind.CONV:
            kh, kw = attrs.kernel
            node.weights = attrs.out * (in_shape[0] // attrs.groups) * kh * kw
            node.biases = attrs.out if attrs.bias else 0
            if attrs.bn_eps is not None:
                node.weights += attrs.out
                node.biases += attrs.out
        elif node.kind is OpKind.LINEAR:
            node.weights = in_shape[0] * attrs.out
            node.biases = attrs.out if attrs.bias else 0
        elif node.kind is OpKind.BATCHNORM:
            node.weights = node.biases = in_shape[0]
    total = sum(node.weights + node.biases for node in graph.nodes())
    if total > MAX_PARAMS:
        biggest = max(graph.nodes(), key=lambda node: node.weights + node.biases)
        return [
            error(
                "too-large",
                f"the network would have {total:,} parameters (limit {MAX_PARAMS:,}); "
                f"the largest layer, {biggest.name}, has {biggest.weights + biggest.biases:,}",
                biggest.span,
            )
        ]
    return _onnx_size(graph)


def _onnx_size(graph: Graph) -> list[Diagnostic]:
    """The ONNX model holds the inference network's weights, biases and batch norm statistics."""
    stored = {node.name: node.weights + node.biases + _running_statistics(graph, node) for node in graph.trunk()}
    size = FLOAT32_BYTES * sum(stored.values())
    if size <= MAX_ONNX_WEIGHT_BYTES:
        return []
    biggest = graph[max(stored, key=stored.__getitem__)]
    return [
        error(
            "too-large",
            f"the ONNX model would hold {size:,} bytes of float32 weights, more than the {MAX_ONNX_WEIGHT_BYTES:,} "
            f"that fit in one ONNX file (a protobuf message of at most 2 GiB); the largest layer, {biggest.name}, "
            f"holds {FLOAT32_BYTES * stored[biggest.name]:,}",
            biggest.span,
        )
    ]


def _running_statistics(graph: Graph, node) -> int:
    """Batch norm's running mean and variance: buffers, not parameters, but stored in the model."""
    if node.kind is OpKind.CONV and node.attrs.bn_eps is not None:
        return 2 * node.attrs.out
    if node.kind is OpKind.BATCHNORM:
        return 2 * graph[graph.inputs(node.name)[0]].shape[0]
    return 0
