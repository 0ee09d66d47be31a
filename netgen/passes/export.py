"""What the backends can write: their limits as rules of the front end, so that a spec `check`
accepts always builds. The backends keep their own assertions, as guards against netgen's bugs."""

from __future__ import annotations

from netgen.diagnostics import Diagnostic, error
from netgen.ir.graph import Graph, Node
from netgen.ir.ops import OpKind
from netgen.spec.model import Spec


def run(graph: Graph, spec: Spec) -> list[Diagnostic]:
    problems = []
    if spec.transform_input and spec.input[0] != 3:
        problems.append(
            error(
                "bad-value",
                f"transform_input needs a 3-channel input, got {spec.input[0]} channels",
                spec.where("transform_input"),
            )
        )
    for node in graph.trunk():  # the ONNX model is the inference graph: heads are PyTorch's alone
        if node.kind is OpKind.LRN and node.attrs.size % 2 == 0:
            problems.append(
                error(
                    "onnx-unsupported",
                    f"{node.name}: ONNX Runtime runs only odd LRN sizes (and ONNX centres an even window one channel "
                    f"off from PyTorch), got {node.attrs.size}; use an odd size",
                    where(node, "size"),
                )
            )
        elif node.kind is OpKind.ADAPTIVE_AVGPOOL and node.attrs.out != (1, 1):
            _, height, width = graph[graph.inputs(node.name)[0]].shape
            out_h, out_w = node.attrs.out
            if height % out_h or width % out_w:
                problems.append(
                    error(
                        "onnx-unsupported",
                        f"{node.name}: adaptive average pooling from {height}x{width} to {out_h}x{out_w} has windows "
                        "of different sizes, which ONNX cannot express; make the input a multiple of the output",
                        where(node, "out"),
                    )
                )
    return problems


def where(node: Node, arg: str):
    """The argument's place in the spec when the node's call has one, else the node's."""
    return node.call.where(arg) if node.call is not None and hasattr(node.call, "where") else node.span
