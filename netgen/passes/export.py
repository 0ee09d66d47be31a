"""What the backends can write: their limits as rules of the front end, so that a spec `check`
accepts always builds. The backends keep their own assertions, as guards against netgen's bugs."""

from __future__ import annotations

from netgen.diagnostics import Diagnostic, error
from netgen.ir.graph import Graph
from netgen.ops import OPS
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
        op = OPS.get(node.kind)
        if op is None or op.onnx_rule is None:
            continue
        problem = op.onnx_rule(node.attrs, graph[graph.inputs(node.name)[0]].shape)
        if problem is not None:
            problems.append(error("onnx-unsupported", f"{node.name}: {problem}", node.where(op.onnx_rule_arg)))
    return problems

