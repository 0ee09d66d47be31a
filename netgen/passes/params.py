"""Count-parameters pass: weights and biases of every node, kept apart (Table 1 counts weights only).

Batch norm's scale counts as a weight and its shift as a bias; running statistics are buffers,
not parameters.
"""

from __future__ import annotations

from netgen.diagnostics import Diagnostic, error
from netgen.ir.graph import Graph
from netgen.ops import OPS
from netgen.spec.model import Spec

# Anything above this is a typo, not a network; refused before a backend allocates a tensor.
MAX_PARAMS = 2_000_000_000
# An ONNX model is one protobuf message, which cannot exceed 2 GiB; its float32 weights get all but
# 64 MiB of it, room enough for the graph of the largest network an expansion allows.
MAX_ONNX_WEIGHT_BYTES = 2**31 - 2**26
FLOAT32_BYTES = 4


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    for node in graph.nodes():
        op = OPS.get(node.kind)
        if op is None:  # the input
            node.weights, node.biases = 0, 0
            continue
        node.weights, node.biases = op.params(node.attrs, graph[graph.inputs(node.name)[0]].shape)
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
    op = OPS.get(node.kind)
    return 0 if op is None else op.buffers(node.attrs, graph[graph.inputs(node.name)[0]].shape)
