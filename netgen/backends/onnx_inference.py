"""`netgen build --optimize` for ONNX: the model rewritten for inference, computing what it did.

Batch norm is folded into the convolution before it, and the 1x1 convolutions that read one value
(stride 1, no padding, not grouped: an Inception module's reductions) run as one convolution
whose output a Split divides along channels, as the generated module's for_inference() does. The
model must be built with inline functions, so every node and weight is in the main graph.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
from onnx import helper, numpy_helper

from netgen.backends.layout import shared_prefix
from netgen.backends.onnx_backend import check_model


def optimize_for_inference(model: onnx.ModelProto) -> onnx.ModelProto:
    """A rewritten copy of an inlined model, checked as build checks every model; `model` is left
    as it was."""
    optimized = onnx.ModelProto()
    optimized.CopyFrom(model)
    graph = optimized.graph
    if optimized.functions:
        raise ValueError("optimize_for_inference needs a model built with inline functions")
    weights = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    taken = _names(graph)
    nodes = _fold_batch_norms(list(graph.node), weights, taken)
    nodes = _fuse_1x1(nodes, weights, taken)
    used = {name for node in nodes for name in node.input}
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(value, name) for name, value in weights.items() if name in used)
    check_model(optimized)
    return optimized


def _names(graph: onnx.GraphProto) -> set[str]:
    """Every name the model uses, for values, weights and nodes alike: what the rewrite adds takes
    a name none of them has (a layer may be called `fused1x1`, and a block's layer `output`)."""
    names = {tensor.name for tensor in graph.initializer}
    names.update(info.name for info in [*graph.input, *graph.output, *graph.value_info])
    for node in graph.node:
        names.update([node.name, *node.input, *node.output])
    return names


def _fresh(name: str, taken: set[str]) -> str:
    """`name`, with '_' added until neither it nor a name under it (`name.weight`) is taken; taken now."""
    while any(other == name or other.startswith(f"{name}.") for other in taken):
        name += "_"
    taken.add(name)
    return name


def _readers(nodes: list[onnx.NodeProto]) -> Counter:
    return Counter(name for node in nodes for name in node.input)


def _attribute(node: onnx.NodeProto, name: str, default):
    found = next((attr for attr in node.attribute if attr.name == name), None)
    return default if found is None else helper.get_attribute_value(found)


def _fold_batch_norms(nodes: list[onnx.NodeProto], weights: dict[str, np.ndarray], taken: set[str]) -> list[onnx.NodeProto]:
    """Each BatchNormalization that alone reads a Conv's output becomes that Conv's scale and bias."""
    readers = _readers(nodes)
    producer = {output: node for node in nodes for output in node.output}
    kept = []
    for node in nodes:
        conv = producer.get(node.input[0]) if node.op_type == "BatchNormalization" else None
        if conv is None or conv.op_type != "Conv" or readers[node.input[0]] != 1 or not all(name in weights for name in node.input[1:]):
            kept.append(node)
            continue
        scale, shift, mean, var = (weights[name].astype(np.float64) for name in node.input[1:5])
        factor = scale / np.sqrt(var + _attribute(node, "epsilon", 1e-5))
        kernel = weights[conv.input[1]].astype(np.float64)
        bias = weights[conv.input[2]].astype(np.float64) if len(conv.input) > 2 else np.zeros(len(factor))
        weights[conv.input[1]] = (kernel * factor.reshape(-1, 1, 1, 1)).astype(np.float32)
        # A convolution without a bias gains one, named as the folded PyTorch convolution names it.
        bias_name = conv.input[2] if len(conv.input) > 2 else _fresh(conv.input[1].removesuffix(".weight") + ".bias", taken)
        weights[bias_name] = ((bias - mean) * factor + shift).astype(np.float32)
        del conv.input[2:]
        conv.input.append(bias_name)
        conv.output[0] = node.output[0]
    return kept




def _is_pointwise(node: onnx.NodeProto, weights: dict[str, np.ndarray]) -> bool:
    return (
        node.op_type == "Conv"
        and node.input[1] in weights
        and weights[node.input[1]].shape[2:] == (1, 1)
        and list(_attribute(node, "strides", [1, 1])) == [1, 1]
        and not any(_attribute(node, "pads", [0, 0, 0, 0]))
        and _attribute(node, "group", 1) == 1
        and list(_attribute(node, "dilations", [1, 1])) == [1, 1]
        and _attribute(node, "auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
    )


def _fuse_1x1(nodes: list[onnx.NodeProto], weights: dict[str, np.ndarray], taken: set[str]) -> list[onnx.NodeProto]:
    """The 1x1 convolutions that read one value, as one Conv and a Split, placed where the first was."""
    groups: dict[str, list[onnx.NodeProto]] = {}
    for node in nodes:
        if _is_pointwise(node, weights):
            groups.setdefault(node.input[0], []).append(node)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    fused_at: dict[int, list[onnx.NodeProto]] = {}
    replaced: set[int] = set()
    for source, convs in groups.items():
        if len(convs) < 2:
            continue
        # When every branch applies a ReLU, it goes before the Split, where ONNX Runtime fuses it
        # into the convolution.
        relus = [consumers.get(conv.output[0], []) for conv in convs]
        relu_first = all(len(users) == 1 and users[0].op_type == "Relu" for users in relus)
        sizes = [weights[conv.input[1]].shape[0] for conv in convs]
        # Its weights, values and nodes are all named `<name>.<part>`.
        name = _fresh(shared_prefix([conv.input[1].rpartition(".")[0] for conv in convs]) + "fused1x1", taken)
        weights[f"{name}.weight"] = np.concatenate([weights[conv.input[1]] for conv in convs])
        weights[f"{name}.bias"] = np.concatenate(
            [weights[conv.input[2]] if len(conv.input) > 2 else np.zeros(size, np.float32) for conv, size in zip(convs, sizes, strict=True)]
        )
        # The sizes as a Constant node, not a weight, so the model's text shows them.
        sizes_node = helper.make_node("Constant", [], [f"{name}.sizes"], name=f"{name}.sizes", value_ints=sizes)
        fused = helper.make_node("Conv", [source, f"{name}.weight", f"{name}.bias"], [f"{name}.output"], name=name, kernel_shape=[1, 1])
        steps = [sizes_node, fused]
        outputs = [conv.output[0] for conv in convs]
        if relu_first:
            steps.append(helper.make_node("Relu", [f"{name}.output"], [f"{name}.relu"], name=f"{name}.relu"))
            outputs = [users[0].output[0] for users in relus]
            replaced.update(id(users[0]) for users in relus)
        split_input = steps[-1].output[0]
        steps.append(helper.make_node("Split", [split_input, f"{name}.sizes"], outputs, name=f"{name}.split", axis=1))
        fused_at[id(convs[0])] = steps
        replaced.update(id(conv) for conv in convs)
    out = []
    for node in nodes:
        out += fused_at.get(id(node), [])
        if id(node) not in replaced:
            out.append(node)
    return out
