"""Random valid specs: every layer's shape, parameters and multiply-adds in the IR are what the
generated PyTorch module really has and does, and the ONNX model agrees on shapes and values.

`check_valid_spec` is the property; the campaign (tests/fuzz/campaign.py) runs it too.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hypothesis import HealthCheck, Phase, find, given, note, settings
from hypothesis import strategies as st
from torch import nn

from netgen.backends.layout import make_layout
from netgen.backends.onnx_backend import MIN_OPSET, OPSET, build_onnx
from netgen.backends.onnx_inference import optimize_for_inference
from netgen.backends.pytorch import render_pytorch
from netgen.compile import compile_file
from netgen.diagnostics import SpecError
from netgen.ir.graph import Graph
from netgen.ir.ops import OpKind
from netgen.verify.runtime import load_generated
from tests.backends.test_onnx import random_weights
from tests.fuzz import INFERENCE_SETTINGS, VALID_SETTINGS
from tests.fuzz.strategies import ACTIVATION_OPS, ONNX_NAMES, inference_specs, spec_data, valid_specs

BATCH = 2  # batch norm in training mode needs more than one value per channel
SEED = 0
MERGES = (OpKind.CONCAT, OpKind.ADD, OpKind.MUL)
# float32 rounding of folded and fused weights, relative to the output's scale
INFERENCE_RTOL = 1e-4

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def check_valid_spec(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        spec, graph = compile_file(str(path))
        layout = make_layout(spec, graph)
        module = load_generated(render_pytorch(spec, graph, layout), f"netgen_fuzz_{layout.network_class}")
    torch.manual_seed(SEED)
    network = getattr(module, layout.network_class)()
    x = torch.randn((BATCH, *spec.input), generator=torch.Generator().manual_seed(SEED))
    _check_pytorch(network, graph, layout, x)
    _check_onnx(network, spec, graph, layout, x)


# -- PyTorch -------------------------------------------------------------------------------------


def _check_pytorch(network: nn.Module, graph: Graph, layout, x: torch.Tensor) -> None:
    nodes = [node for node in graph.nodes() if node.name in layout.modules]
    paths = [layout.modules[node.name] for node in nodes]
    assert len(set(paths)) == len(paths), f"IR nodes share a module: {paths}"
    seen: dict[str, list[tuple[int, ...]]] = {}
    modules: dict[str, nn.Module] = {}
    for node in nodes:
        try:
            modules[node.name] = network.get_submodule(layout.modules[node.name])
        except AttributeError:
            if node.kind is OpKind.LAYER_SCALE:  # an nn.Parameter of the module that holds it
                scale = network.get_parameter(layout.modules[node.name])
                assert (scale.numel(), 0) == (node.weights, node.biases), f"{node.name}: {scale.numel()} scales"
                continue
            # A merge layer, at the top or in a block's layers, is computed in forward() and has no module.
            assert node.kind in MERGES, f"{node.name}: no module at {layout.modules[node.name]}"
            continue
        modules[node.name].register_forward_hook(_recorder(seen, node.name))
    # Whole top-level layers and heads: a block's output is its concat or add node.
    exits = {name: _exit(graph, name) for name in layout.top}
    for name, attribute in layout.top.items():
        if graph[exits[name]].kind in MERGES or name in graph.exits:
            try:
                network.get_submodule(attribute).register_forward_hook(_recorder(seen, f"top:{name}"))
            except AttributeError:
                assert graph[name].kind in MERGES, f"{name}: no module at {attribute}"

    network.train()  # auxiliary heads run in training mode only
    with torch.no_grad():
        network(x)
    # An output softmax runs in predict(), not in forward(): it is checked on its own below.
    activation = graph.output if graph.logits() != graph.output else None
    if activation is not None:
        assert seen.pop(activation, []) == [], "the output activation ran in forward()"
        modules.pop(activation, None)

    for name, module in modules.items():
        node = graph[name]
        outputs = seen.get(name, [])
        assert len(outputs) == 1, f"{name}: its module ran {len(outputs)} times in one forward pass"
        (shape,) = outputs
        assert shape == node.shape, f"{name}: PyTorch gives {shape}, the IR {node.shape}"
        weights, biases = _parameters(module)
        if name in layout.bn_modules:  # a bare conv's batch norm, beside it
            bn_weights, bn_biases = _parameters(network.get_submodule(layout.bn_modules[name]))
            weights, biases = weights + bn_weights, biases + bn_biases
        assert (weights, biases) == (node.weights, node.biases), (
            f"{name}: PyTorch has {weights} weights and {biases} biases, the IR {node.weights} and {node.biases}"
        )
        macs = _multiply_adds(node.kind, module, shape)
        assert macs == node.macs, f"{name}: PyTorch does {macs} multiply-adds, the IR counts {node.macs}"
    for name, exit_name in exits.items():
        if f"top:{name}" in seen:
            shape = seen[f"top:{name}"][-1]
            assert shape == graph[exit_name].shape, f"{name}: PyTorch gives {shape}, the IR {graph[exit_name].shape}"
    real = sum(parameter.numel() for parameter in network.parameters())
    counted = sum(node.weights + node.biases for node in graph.nodes())
    assert real == counted, f"the module has {real} parameters, the IR counts {counted}"
    if activation is not None:
        network.eval()
        with torch.no_grad():
            probs = network.predict(x)
        assert tuple(probs.shape[1:]) == graph[activation].shape
        totals = probs.sum(dim=1)
        assert torch.allclose(totals, torch.ones_like(totals)), "predict() gives no distribution"


def _recorder(seen: dict, name: str):
    return lambda _module, _args, output: seen.setdefault(name, []).append(tuple(output.shape[1:]))


def _exit(graph: Graph, name: str) -> str:
    if name in graph.heads:
        return graph.heads[name]
    return graph.exit_of(name)


def _parameters(module: nn.Module) -> tuple[int, int]:
    """Weights and biases as the IR counts them: batch norm's scale is a weight, its shift a bias.
    A conv's module is its BasicConv2d unit, so `.conv` and `.bn` are both counted."""
    weights = biases = 0
    for name, parameter in module.named_parameters():
        if name.rsplit(".", 1)[-1] == "bias":
            biases += parameter.numel()
        else:
            weights += parameter.numel()
    return weights, biases


def _multiply_adds(kind: OpKind, module: nn.Module, shape: tuple[int, ...]) -> int:
    """Multiply-adds from the real module's hyper-parameters and its real output size."""
    if kind is OpKind.CONV:
        conv = module if isinstance(module, nn.Conv2d) else module.conv  # a bare conv, or a BasicConv2d unit
        assert isinstance(conv, nn.Conv2d), f"a conv unit holds {type(conv).__name__}"
        kh, kw = conv.kernel_size
        return math.prod(shape) * (conv.in_channels // conv.groups) * kh * kw
    if kind is OpKind.LINEAR:
        assert isinstance(module, nn.Linear), f"a linear layer is {type(module).__name__}"
        return module.in_features * module.out_features
    return 0


# -- ONNX ----------------------------------------------------------------------------------------


def _check_onnx(network: nn.Module, spec, graph: Graph, layout, x: torch.Tensor) -> None:
    network.eval()
    with torch.no_grad():
        expected = {"logits": network(x).numpy()}
        if graph.logits() != graph.output:
            expected["probs"] = network.predict(x).numpy()
    # The module's own weights, batch norm statistics included (the training pass moved them).
    state = {key: value.detach().numpy() for key, value in network.state_dict().items()}
    wanted = {"logits": ("N", *graph[graph.logits()].shape), "probs": ("N", *graph[graph.output].shape)}
    for inline in (False, True):
        model = build_onnx(spec, graph, layout, state_dict=state, inline_functions=inline)
        inferred = onnx.shape_inference.infer_shapes(
            _at_input_size(model, spec.input), check_type=True, strict_mode=True, data_prop=True
        )
        shapes = {info.name: _dims(info) for info in [*inferred.graph.value_info, *inferred.graph.output]}
        assert [output.name for output in inferred.graph.output] == list(expected)
        for name in expected:
            assert shapes[name] == wanted[name], f"{name}: ONNX infers {shapes[name]}, the IR has {wanted[name]}"
        if inline:
            # With blocks inlined every IR node of the trunk is a value of its own name; dropout
            # is left out of an inference graph, and the outputs have the outputs' names.
            for node in graph.trunk():
                if node.kind is OpKind.INPUT or node.name in (graph.output, graph.logits()):
                    continue
                # A layer scale's value gives way to its weight, which has its name.
                value = node.name if node.name in shapes or node.kind is not OpKind.LAYER_SCALE else f"{node.name}_"
                if value not in shapes:
                    assert node.kind in (OpKind.DROPOUT, OpKind.DROP_PATH), f"{node.name} ({node.kind}) has no ONNX value"
                    continue
                want = ("N", *node.shape)
                assert shapes[value] == want, f"{node.name}: ONNX infers {shapes[value]}, the IR has {want}"
        got = _session(model).run(list(expected), {"input": x.numpy()})
        for name, value in zip(expected, got, strict=True):
            scale = max(1.0, float(np.abs(expected[name]).max()))
            np.testing.assert_allclose(
                value, expected[name], rtol=1e-4, atol=1e-4 * scale, err_msg=f"{name}, inline_functions={inline}"
            )


def _at_input_size(model: onnx.ModelProto, size: tuple[int, int, int]) -> onnx.ModelProto:
    """The model with its input pinned to the spec's size, so shape inference gives numbers."""
    pinned = onnx.ModelProto()
    pinned.CopyFrom(model)
    for dim, extent in zip(pinned.graph.input[0].type.tensor_type.shape.dim[1:], size, strict=True):
        dim.Clear()
        dim.dim_value = extent
    return pinned


def _dims(info: onnx.ValueInfoProto) -> tuple:
    tensor = info.type.tensor_type
    return tuple(dim.dim_param or dim.dim_value for dim in tensor.shape.dim) if tensor.HasField("shape") else ()


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


# -- the bounded run -------------------------------------------------------------------------------


@pytest.mark.slow
@VALID_SETTINGS
@given(valid_specs())
def test_ir_matches_the_generated_pytorch_module_and_onnx_model(text):
    note(text)
    check_valid_spec(text)


def aliasing_constructs(data: dict) -> set[str]:
    """Which of the constructs that make one value feed several places a generated spec uses."""
    found = set()
    blocks = data.get("blocks", {})
    layered = {name for name, block in blocks.items() if "layers" in block}
    for block in blocks.values():
        branches = block.get("add", {})
        if sum(branch in ([], None) for branch in branches.values()) >= 2:
            found.add("identity shortcuts")
        if branches and all(branch in ([], None) for branch in branches.values()):
            found.add("nothing but identity shortcuts")
        layers = block.get("layers", {})
        for name, layer in layers.items() if isinstance(layers, dict) else ():
            sources = layer.get("from", [])
            if isinstance(sources, list) and len(set(sources)) < len(sources):
                found.add("a block's layer read twice by one merge")
            if any(use in layered for use in layer) and name in ONNX_NAMES:
                found.add("a nested layers block named like an ONNX value")
            if any(use in layered for use in layer):
                found.add("a layers block in a layers block")
    # Layers of a `sequential:` group are top-level layers too.
    top = {}
    for name, layer in data["layers"].items():
        top.update(layer["sequential"] if "sequential" in layer else {name: layer})
    for layer in top.values():
        sources = layer.get("from", [])
        if isinstance(sources, list) and len(set(sources)) < len(sources):
            found.add("a top-level layer read twice by one merge")
    heads = [head["from"] for head in data.get("heads", {}).values()]
    if len(heads) > len(set(heads)):
        found.add("two heads on one layer")
    if any(next(iter(top[source])) in blocks for source in heads if source in top):
        found.add("a head on a block's output")
    return found


@pytest.mark.slow
def test_valid_specs_use_every_construct_that_aliases_a_value():
    """The differential property above only covers what the strategy writes."""
    seen: set[str] = set()

    @settings(max_examples=400, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(spec_data())
    def draw(data):
        seen.update(aliasing_constructs(data))

    draw()
    assert seen == {
        "identity shortcuts",
        "nothing but identity shortcuts",
        "a block's layer read twice by one merge",
        "a nested layers block named like an ONNX value",
        "a layers block in a layers block",
        "a top-level layer read twice by one merge",
        "two heads on one layer",
        "a head on a block's output",
    }


def _inline_uses(data: dict) -> set[str]:
    """Where a generated spec uses an inline block: the network, a block's layers, or both."""
    blocks = data.get("blocks", {})
    inline = {name for name, block in blocks.items() if block.get("inline")}
    found: set[str] = set()
    if inline & {next(iter(layer)) for layer in data["layers"].values()}:
        found.add("an inline block used by the network")
    for block in blocks.values():
        layers = block.get("layers", {})
        for layer in layers.values() if isinstance(layers, dict) else layers:
            if inline & set(layer):
                found.add("an inline block used by a block")
    return found


@pytest.mark.parametrize("place", ["an inline block used by the network", "an inline block used by a block"])
def test_valid_specs_use_caffe_s_layout_at_the_top_and_inside_blocks(place):
    """Inline blocks of bare convolutions with their batch norms beside them, used where each
    place names their attributes: the network, and a block's class. find() searches until it
    meets one, so the test says whether the strategy can write it, not how often a run draws it."""
    search = settings(
        max_examples=2000, database=None, derandomize=True, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )
    assert place in _inline_uses(find(spec_data(), lambda data: place in _inline_uses(data), settings=search))


def ops_used(data: dict) -> set[str]:
    """The ops and constructs after 2016 a generated spec uses."""
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("mul", "split", "layer_scale", "layernorm", "drop_path", "pool", *ACTIVATION_OPS):
                    found.add(key)
                if key == "groups" and value == "in":
                    found.add("depthwise")
                if key == "kernel" and isinstance(value, list) and 1 in value and value != [1, 1]:
                    found.add("band kernel")
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    if data.get("drop_path_rate"):
        found.add("drop_path_rate")
    return found


def test_valid_specs_use_every_op_and_construct():
    seen: set[str] = set()

    @settings(max_examples=400, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(spec_data())
    def draw(data):
        seen.update(ops_used(data))

    draw()
    assert seen == {
        "mul", "split", "layer_scale", "layernorm", "drop_path", "drop_path_rate", "pool", "depthwise", "band kernel",
        *ACTIVATION_OPS,
    }  # fmt: skip


# -- the inference build -----------------------------------------------------------------------


def check_inference_build(text: str, opset: int = OPSET) -> None:
    """`build --optimize` computes what the plain build computes: the PyTorch module from_plain()
    gives equals the plain module in eval mode, and the rewritten ONNX model equals the plain one
    (at `opset`), from weights and batch norm statistics away from their initial values."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        spec, graph = compile_file(str(path))
        layout = make_layout(spec, graph)
        source = render_pytorch(spec, graph, layout, optimize=True)
        module = load_generated(source, f"netgen_fuzz_inference_{layout.network_class}")
    weights = random_weights(layout, SEED)
    network = getattr(module, layout.network_class)()
    network.load_state_dict({key: torch.from_numpy(value) for key, value in weights.items()})
    network.eval()
    x = torch.randn((BATCH, *spec.input), generator=torch.Generator().manual_seed(SEED))
    with torch.no_grad():
        expected = network(x)
        got = module.from_plain(network.state_dict())(x)
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(got, expected, rtol=INFERENCE_RTOL, atol=INFERENCE_RTOL * scale)

    try:
        plain = build_onnx(spec, graph, layout, state_dict=weights, inline_functions=True, opset=opset)
    except SpecError as exc:
        # A pool an older opset would round up to another size is refused there: the newest builds it.
        assert {d.code for d in exc.diagnostics} == {"opset-rounding"}, exc.diagnostics
        plain = build_onnx(spec, graph, layout, state_dict=weights, inline_functions=True)
    optimized = optimize_for_inference(plain)
    want = _session(plain).run(None, {"input": x.numpy()})
    have = _session(optimized).run(None, {"input": x.numpy()})
    for value, reference in zip(have, want, strict=True):
        scale = max(1.0, float(np.abs(reference).max()))
        np.testing.assert_allclose(value, reference, rtol=INFERENCE_RTOL, atol=INFERENCE_RTOL * scale)


@INFERENCE_SETTINGS
@given(inference_specs(), st.sampled_from((MIN_OPSET, OPSET)))
def test_the_inference_build_computes_what_the_plain_build_computes(text, opset):
    note(text)
    check_inference_build(text, opset)


def inference_constructs(data: dict) -> set[str]:
    """Which of the constructs `build --optimize` rewrites, or must leave alone, a spec uses."""
    found = set()
    top = {}
    for name, layer in data["layers"].items():
        top.update(layer["sequential"] if "sequential" in layer else {name: layer})
    ops = [next(iter(layer)) for layer in top.values()]
    for index, op in enumerate(ops[:-2]):
        if op == "conv" and ops[index + 1 : index + 3] == ["batchnorm", "batchnorm"]:
            found.add("a conv and two batch norms")
    if any(ops[index : index + 3] == ["batchnorm", "relu", "batchnorm"] for index in range(len(ops))):
        found.add("an activation between batch norms")
    layers = list(top.values())
    for layer, following in zip(layers, layers[1:], strict=False):
        if "conv" in layer and layer["conv"].get("bare") and "batchnorm" in following:
            found.add("a bare conv and a batch norm")
    fans: dict[str, list[dict]] = {}
    for layer in layers:
        if "conv" in layer and layer["conv"]["kernel"] == 1 and isinstance(layer.get("from"), str):
            fans.setdefault(layer["from"], []).append(layer["conv"])
    for convs in fans.values():
        if len(convs) >= 2 and any(conv.get("groups", 1) > 1 for conv in convs):
            found.add("grouped 1x1 convs reading one layer")
        if len(convs) >= 2 and any(conv.get("stride", 1) > 1 for conv in convs):
            found.add("strided 1x1 convs reading one layer")
    for block in data.get("blocks", {}).values():
        if "residual" in block:
            found.add("a residual block")
        inner = block.get("layers")
        if block.get("flat") or (isinstance(inner, dict) and any(isinstance(layer.get("concat"), dict) for layer in inner.values())):
            found.add("a split")
    return found


def test_inference_specs_use_every_construct_the_rewrites_touch():
    """The inference property above only covers what the strategy writes."""
    seen: set[str] = set()

    @settings(max_examples=100, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(spec_data(inference=True))
    def draw(data):
        seen.update(inference_constructs(data))

    draw()
    assert seen == {
        "a conv and two batch norms",
        "an activation between batch norms",
        "a bare conv and a batch norm",
        "grouped 1x1 convs reading one layer",
        "strided 1x1 convs reading one layer",
        "a residual block",
        "a split",
    }
