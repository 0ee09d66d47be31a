"""The ONNX backend: a checked, runnable inference model whose blocks stay ONNX functions."""

import math

import numpy as np
import onnx
import onnx.parser
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from netgen.backends.init import initial_weights
from netgen.backends.layout import make_layout
from netgen.backends.onnx_backend import (
    MIN_OPSET,
    OPSET,
    OnnxBackendError,
    build_onnx,
    onnx_graph_text,
    onnx_text,
    size_agnostic,
)
from netgen.compile import compile_file
from netgen.diagnostics import SpecError
from netgen.ir.ops import OpKind
from tests.conftest import GOOGLENET, SPECS


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1  # the suite's workers share the cores
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def assert_logits_match(got: np.ndarray, expected: np.ndarray) -> None:
    """ONNX Runtime's logits against PyTorch's (or a library's): within 1e-4, relative to the largest logit."""
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale)


def outputs(model: onnx.ModelProto, x: np.ndarray) -> dict[str, np.ndarray]:
    runner = session(model)
    names = [output.name for output in runner.get_outputs()]
    return dict(zip(names, runner.run(names, {"input": x}), strict=True))


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The value of the spec's last layer: `probs` when it is the output softmax, else `logits`."""
    return session(model).run(None, {"input": x})[-1]


def images(spec, batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, *spec.input)).astype(np.float32)


def all_nodes(model: onnx.ModelProto):
    yield from model.graph.node
    for function in model.functions:
        yield from function.node


def random_weights(layout, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights with every slot away from its initial value, so batch norm and biases do something."""
    rng = np.random.default_rng(seed)
    weights = {}
    for slots in layout.slots.values():
        for slot in slots:
            if slot.role == "num_batches_tracked":
                weights[slot.key] = np.zeros((), dtype=np.int64)
            elif slot.role == "running_var":
                weights[slot.key] = rng.uniform(0.5, 1.5, slot.shape).astype(np.float32)
            else:
                weights[slot.key] = (0.3 * rng.standard_normal(slot.shape)).astype(np.float32)
    return weights


# Each activation as torch.nn.functional computes it, by the name the spec gives it.
ACTIVATIONS = {
    "relu": F.relu,
    "relu6": F.relu6,
    "gelu": F.gelu,
    "gelu_tanh": lambda value: F.gelu(value, approximate="tanh"),
    "silu": F.silu,
    "sigmoid": torch.sigmoid,
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "none": lambda value: value,
}


def reference_forward(spec, graph, layout, weights, x: np.ndarray) -> np.ndarray:
    """The trunk in eval mode with torch.nn.functional, one IR node at a time: what ONNX must compute."""

    def w(node, role):
        slot = next((slot for slot in layout.slots.get(node.name, []) if slot.role == role), None)
        return None if slot is None else torch.from_numpy(weights[slot.key])

    def batch_norm(value, node, eps):
        return F.batch_norm(
            value,
            w(node, "running_mean"),
            w(node, "running_var"),
            w(node, "bn_weight"),
            w(node, "bn_bias"),
            False,
            0.0,
            eps,
        )

    values = {"input": torch.from_numpy(x)}
    if spec.transform_input:
        mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
        values["input"] = values["input"] * (std / 0.5).view(1, 3, 1, 1) + ((mean - 0.5) / 0.5).view(1, 3, 1, 1)
    for node in graph.trunk():
        if node.kind is OpKind.INPUT:
            continue
        inputs = [values[source] for source in graph.inputs(node.name)]
        a, kind = node.attrs, node.kind
        if kind is OpKind.CONV:
            out = F.conv2d(inputs[0], w(node, "weight"), w(node, "bias"), a.stride, a.pad, 1, a.groups)
            out = batch_norm(out, node, a.bn_eps) if a.bn_eps is not None else out
            out = ACTIVATIONS[a.act](out)
        elif kind is OpKind.LINEAR:
            out = ACTIVATIONS[a.act](F.linear(inputs[0], w(node, "weight"), w(node, "bias")))
        elif kind.value in ACTIVATIONS:
            out = ACTIVATIONS[kind.value](inputs[0])
        elif kind is OpKind.MAXPOOL:
            out = F.max_pool2d(inputs[0], a.kernel, a.stride, a.pad, ceil_mode=a.ceil)
        elif kind is OpKind.AVGPOOL:
            out = F.avg_pool2d(
                inputs[0], a.kernel, a.stride, a.pad, ceil_mode=a.ceil, count_include_pad=a.count_include_pad
            )
        elif kind is OpKind.ADAPTIVE_AVGPOOL:
            out = F.adaptive_avg_pool2d(inputs[0], a.out)
        elif kind is OpKind.LRN:
            out = F.local_response_norm(inputs[0], a.size, a.alpha, a.beta, a.k)
        elif kind is OpKind.BATCHNORM:
            out = batch_norm(inputs[0], node, a.eps)
        elif kind in (OpKind.DROPOUT, OpKind.DROP_PATH):
            out = inputs[0]  # the identity in eval
        elif kind is OpKind.LAYERNORM and inputs[0].dim() == 4:  # over the channels at each position
            moved = inputs[0].permute(0, 2, 3, 1)
            out = F.layer_norm(moved, moved.shape[-1:], w(node, "ln_weight"), w(node, "ln_bias"), a.eps).permute(0, 3, 1, 2)
        elif kind is OpKind.LAYERNORM:
            out = F.layer_norm(inputs[0], inputs[0].shape[-1:], w(node, "ln_weight"), w(node, "ln_bias"), a.eps)
        elif kind is OpKind.LAYER_SCALE:
            gamma = w(node, "gamma")
            out = inputs[0] * (gamma.view(1, -1, 1, 1) if inputs[0].dim() == 4 else gamma)
        elif kind is OpKind.SPLIT:
            out = inputs[0][:, a.start : a.start + a.sizes[a.index]]
        elif kind is OpKind.CHANNEL_SHUFFLE:
            out = F.channel_shuffle(inputs[0], a.groups)
        elif kind is OpKind.MUL:
            out = inputs[0]
            for factor in inputs[1:]:
                out = out * factor
        elif kind is OpKind.FLATTEN:
            out = torch.flatten(inputs[0], 1)
        elif kind is OpKind.SOFTMAX:
            out = F.softmax(inputs[0], dim=1)
        elif kind is OpKind.CONCAT:
            out = torch.cat(inputs, dim=1)
        elif kind is OpKind.ADD and a.scale is not None:
            out = inputs[0] + inputs[1] * a.scale  # a residual: input + scale * body
        elif kind is OpKind.ADD:
            out = sum(inputs[1:], inputs[0])
        else:
            raise AssertionError(kind)
        values[node.name] = out
    return values[graph.output].numpy()


# -- GoogLeNet, built once ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def net(googlenet):
    spec, graph = googlenet
    layout = make_layout(spec, graph)
    return spec, graph, layout


@pytest.fixture(scope="module")
def model(net):
    return build_onnx(*net)


@pytest.fixture(scope="module")
def inlined(net):
    return build_onnx(*net, inline_functions=True)


def test_googlenet_passes_the_full_checker_at_a_recent_opset(model):
    onnx.checker.check_model(model, full_check=True)
    (default,) = [entry for entry in model.opset_import if entry.domain in ("", "ai.onnx")]
    assert default.version == OPSET >= 17
    assert model.producer_name == "netgen"


def test_every_inception_module_is_a_call_of_one_local_function(model, net):
    _, graph, _ = net
    assert [(function.domain, function.name) for function in model.functions] == [("netgen.blocks", "inception")]
    calls = [node for node in model.graph.node if node.domain == "netgen.blocks"]
    trunk_uses = [path for path, instance in graph.instances.items() if graph[instance.exit].head is None]
    assert [node.name for node in calls] == trunk_uses
    assert len(calls) == 9  # Table 1: 3a, 3b, 4a-4e, 5a, 5b
    assert all(node.op_type == "inception" for node in calls)
    (function,) = model.functions
    assert [node.op_type for node in function.node].count("Conv") == 6  # the module's six convolutions


def test_inference_graph_has_no_dropout_and_no_auxiliary_heads(model, net):
    _, graph, layout = net
    assert "Dropout" not in {node.op_type for node in all_nodes(model)}
    initializers = {tensor.name for tensor in model.graph.initializer}
    head_keys = {slot.key for name in layout.slots if graph[name].head for slot in layout.slots[name]}
    assert head_keys and not head_keys & initializers
    assert model.graph.node[-1].op_type == "Softmax"


def test_batch_dimension_is_symbolic(model):
    for value in (model.graph.input[0], *model.graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param == "N"
    assert [value.name for value in model.graph.input] == ["input"]


def test_outputs_are_the_logits_and_the_output_softmax(model, net):
    spec, _, _ = net
    assert [value.name for value in model.graph.output] == ["logits", "probs"]
    found = outputs(model, images(spec, 2))
    np.testing.assert_allclose(found["probs"], torch.softmax(torch.from_numpy(found["logits"]), dim=1).numpy(), atol=1e-6)


@pytest.mark.parametrize("batch", [1, 3])
def test_onnxruntime_runs_googlenet_to_class_probabilities(model, net, batch):
    spec, _, _ = net
    probabilities = run(model, images(spec, batch))
    assert probabilities.shape == (batch, spec.num_classes)
    np.testing.assert_allclose(probabilities.sum(axis=1), np.ones(batch), atol=1e-5)


def test_inlined_blocks_compute_the_same_as_functions(model, inlined, net):
    spec, graph, _ = net
    assert not inlined.functions
    assert {node.name for node in inlined.graph.node} >= {
        node.name for node in graph.trunk() if node.kind is OpKind.CONCAT
    }
    x = images(spec, 2)
    np.testing.assert_allclose(run(inlined, x), run(model, x), atol=1e-5, rtol=0)


@pytest.mark.slow
def test_googlenet_matches_pytorch_functional_reference(model, net):
    spec, graph, layout = net
    x = images(spec, 2)
    expected = reference_forward(spec, graph, layout, initial_weights(spec, graph, layout), x)
    np.testing.assert_allclose(run(model, x), expected, atol=1e-5, rtol=0)


# -- weights -----------------------------------------------------------------------------------


def test_initial_weights_are_deterministic(net):
    first, second = initial_weights(*net, seed=0), initial_weights(*net, seed=0)
    assert list(first) == list(second)
    assert all(first[key].tobytes() == second[key].tobytes() for key in first)
    other = initial_weights(*net, seed=1)
    assert first["conv1.conv.weight"].tobytes() != other["conv1.conv.weight"].tobytes()


def test_initial_weights_follow_caffe_xavier_and_constant_biases(net):
    spec, graph, layout = net
    weights = initial_weights(spec, graph, layout)
    assert set(weights) == {slot.key for slots in layout.slots.values() for slot in slots}
    conv1 = weights["conv1.conv.weight"]
    channels, (kh, kw) = spec.input[0], graph["conv1"].attrs.kernel
    bound = math.sqrt(3 / (channels * kh * kw))  # Caffe's xavier: uniform in +-sqrt(3 / fan_in)
    assert conv1.dtype == np.float32
    assert np.abs(conv1).max() <= bound * (1 + 1e-6)
    assert np.abs(conv1).max() > 0.95 * bound  # spread over the whole range, not a narrower one
    assert np.all(weights["conv1.conv.bias"] == spec.init.bias) and spec.init.bias == 0.2
    assert np.all(weights["inception5b.branch_pool.1.conv.bias"] == spec.init.bias)
    assert np.all(weights["fc.bias"] == spec.init.classifier_bias) and spec.init.classifier_bias == 0.0
    assert np.all(weights["aux1.fc2.bias"] == spec.init.classifier_bias)  # also a num_classes-wide linear
    assert np.all(weights["aux1.fc1.bias"] == spec.init.bias)


def test_initial_weights_trunc_normal_and_batch_norm():
    spec, graph = compile_file(str(SPECS / "googlenet-bn.yaml"))
    layout = make_layout(spec, graph)
    weights = initial_weights(spec, graph, layout)
    fc = weights["fc.weight"]
    assert abs(float(fc.std()) - spec.init.std) < 0.05 * spec.init.std
    assert np.all(weights["conv1.bn.weight"] == 1) and np.all(weights["conv1.bn.bias"] == 0)
    assert np.all(weights["conv1.bn.running_mean"] == 0) and np.all(weights["conv1.bn.running_var"] == 1)
    assert weights["conv1.bn.num_batches_tracked"].shape == ()


def test_trunc_normal_cuts_at_plus_minus_two_like_torch(compile_text):
    spec, graph = compile_text(
        SMALL.replace("num_classes: 5", "num_classes: 5\ninit: {weight: trunc_normal, std: 1.5}")
    )
    layout = make_layout(spec, graph)
    stem = initial_weights(spec, graph, layout)["stem.conv.weight"]
    # torch.nn.init.trunc_normal_(std=1.5, a=-2, b=2): the cut is in absolute units, not in stds.
    assert np.abs(stem).max() <= 2.0
    assert np.abs(stem).max() > 1.8
    assert float(stem.std()) < spec.init.std


def test_initial_weights_torch_default_bounds(compile_text):
    spec, graph = compile_text(SMALL)
    layout = make_layout(spec, graph)
    weights = initial_weights(spec, graph, layout)
    assert spec.init.weight == "torch_default"
    for key in ("fc.weight", "fc.bias"):
        bound = 1 / math.sqrt(layout.slots["fc"][0].shape[1])  # kaiming_uniform(a=sqrt(5)): 1/sqrt(fan_in)
        assert 0.8 * bound < np.abs(weights[key]).max() <= bound


def test_state_dict_becomes_the_initializers(compile_text):
    spec, graph = compile_text(SMALL)
    layout = make_layout(spec, graph)
    weights = random_weights(layout)
    model = build_onnx(spec, graph, layout, state_dict=weights)
    stored = {tensor.name: onnx.numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    assert stored and all(np.array_equal(stored[key], weights[key]) for key in stored)
    assert not any(key.endswith("num_batches_tracked") for key in stored)


def test_missing_or_misshapen_weights_are_named(compile_text):
    spec, graph = compile_text(SMALL)
    layout = make_layout(spec, graph)
    weights = random_weights(layout)
    del weights["stem.bn.running_var"]
    weights["fc.weight"] = weights["fc.weight"][:, :-1]
    with pytest.raises(SpecError) as caught:
        build_onnx(spec, graph, layout, state_dict=weights)
    messages = [d.message for d in caught.value.diagnostics]
    assert any("'stem.bn.running_var'" in message for message in messages)
    (shape_problem,) = [message for message in messages if "'fc.weight'" in message]
    have, need = layout.slots["fc"][0].shape
    assert f"{have} x {need - 1}" in shape_problem and f"{have} x {need}" in shape_problem


# -- the shape gate ----------------------------------------------------------------------------


@pytest.mark.parametrize("inline", [False, True], ids=["functions", "inlined"])
def test_shape_inference_disagreeing_with_the_ir_is_an_internal_error(monkeypatch, inline):
    spec, graph = compile_file(str(GOOGLENET))
    layout = make_layout(spec, graph)
    # An instance's output is checked with functions; a node inside a block only when inlined.
    name = "inception4b" if not inline else "inception4b.branch_3x3.conv2"
    right = graph[name].shape
    wrong = (right[0] + 1, *right[1:])
    monkeypatch.setattr(graph[name], "shape", wrong)
    with pytest.raises(OnnxBackendError) as caught:
        build_onnx(spec, graph, layout, inline_functions=inline)
    message = str(caught.value)
    assert name in message
    assert " x ".join(map(str, ("N", *right))) in message and " x ".join(map(str, ("N", *wrong))) in message


# -- small specs of every op -------------------------------------------------------------------

SMALL = """\
name: Small
input: [3, 15, 13]
num_classes: 5
blocks:
  residual:
    params: [c]
    add:
      shortcut: []
      body:
        - conv: {out: c, kernel: [1, 3], pad: [0, 1], bn: true, act: relu}
        - conv: {out: c, kernel: [3, 1], pad: [1, 0], bias: false}
layers:
  stem:    {conv: {out: 8, kernel: [3, 5], stride: [2, 1], pad: [1, 2], bn: {eps: 0.001}, act: relu}}
  pool:    {avgpool: {kernel: 3, stride: 2, pad: 1, ceil: true, count_include_pad: false}}
  res:     {residual: [8]}
  both:    {concat: , from: [pool, res]}
  lrn:     {lrn: {size: 3, alpha: 0.001, beta: 0.75, k: 2.0}}
  norm:    {batchnorm: }
  grouped: {conv: {out: 8, kernel: 3, pad: 1, groups: 4}}
  relu:    {relu: }
  avg:     {avgpool: {kernel: 3, stride: 2, pad: 1, ceil: true}}
  mpool:   {maxpool: {kernel: 2, stride: 2, pad: 1, ceil: true}}
  gap:     {global_avgpool: }
  flat:    {flatten: }
  drop:    {dropout: {p: 0.5}}
  fc:      {linear: {out: num_classes}}
"""

WIDE = """\
name: Wide
input: [3, 16, 16]
num_classes: 7
width: 0.5
init: {weight: xavier_uniform, bias: 0.1}
blocks:
  two:
    params: [a, b]
    concat:
      left: [conv: {out: a, kernel: 1, act: relu}]
      right:
        - maxpool: {kernel: 3, stride: 1, pad: 1}
        - conv: {out: b, kernel: 3, pad: same}
  pair:
    params: [a]
    layers:
      first: {two: [a, a]}
      squeeze: {conv: {out: a, kernel: 1}}
      drop: {dropout: {p: 0.2}}
layers:
  stem:  {conv: {out: 12, kernel: 3, stride: 2, pad: 1, act: relu}}
  p1:    {pair: [10]}
  p2:    {pair: [6]}
  pool:  {adaptive_avgpool: {out: [4, 2]}}
  flat:  {flatten: }
  fc1:   {linear: {out: 16, act: relu}}
  fc:    {linear: {out: num_classes}}
  prob:  {softmax: }
"""

TRANSFORMED = """\
name: Transformed
input: [3, 8, 8]
num_classes: 4
transform_input: true
layers:
  conv: {conv: {out: 4, kernel: 3}}
  gap:  {global_avgpool: }
  flat: {flatten: }
"""


@pytest.mark.parametrize("text", [SMALL, WIDE, TRANSFORMED], ids=["ops", "width-nested-blocks", "transform-input"])
@pytest.mark.parametrize("inline", [False, True], ids=["functions", "inlined"])
def test_small_specs_match_the_ir_shape_and_pytorch(compile_text, text, inline):
    spec, graph = compile_text(text)
    layout = make_layout(spec, graph)
    weights = random_weights(layout)
    model = build_onnx(spec, graph, layout, state_dict=weights, inline_functions=inline)
    x = images(spec, 3)
    out = run(model, x)
    assert out.shape == (3, *graph[graph.output].shape)
    np.testing.assert_allclose(out, reference_forward(spec, graph, layout, weights, x), atol=1e-4, rtol=1e-4)


def test_nested_blocks_become_nested_functions(compile_text):
    spec, graph = compile_text(WIDE)
    model = build_onnx(spec, graph, make_layout(spec, graph))
    assert [function.name for function in model.functions] == ["two", "pair"]  # callee first
    pair = model.functions[1]
    assert [node.op_type for node in pair.node if node.domain == "netgen.blocks"] == ["two"]
    assert {entry.domain for entry in pair.opset_import} == {"", "netgen.blocks"}
    assert [node.op_type for node in model.graph.node if node.domain == "netgen.blocks"] == ["pair", "pair"]
    # The average pool to 4x2 is a plain AveragePool with the kernel that divides the input.
    (pool,) = [node for node in model.graph.node if node.name == "pool"]
    assert pool.op_type == "AveragePool"


VARIANTS = """\
name: Variants
input: [3, 16, 16]
blocks:
  squeeze:
    params: [c]
    layers:
      pool: {adaptive_avgpool: {out: 2}}
      conv: {conv: {out: c, kernel: 1}}
  passthrough:
    params: []
    layers:
      drop: {dropout: {p: 0.1}}
layers:
  first:  {squeeze: [4]}
  second: {squeeze: [4]}
  same:   {passthrough: []}
"""


def test_a_block_pooling_different_sizes_gets_one_function_per_variant(compile_text):
    spec, graph = compile_text(VARIANTS)
    layout = make_layout(spec, graph)
    weights = random_weights(layout)
    model = build_onnx(spec, graph, layout, state_dict=weights)
    assert [function.name for function in model.functions] == ["squeeze", "squeeze_2", "passthrough"]
    kernels = [
        next(a.ints for a in function.node[0].attribute if a.name == "kernel_shape") for function in model.functions[:2]
    ]
    entries = [graph[graph.instances[use].entry].shape for use in ("first", "second")]
    assert kernels == [[height // 2, width // 2] for _, height, width in entries]  # each input pooled to 2x2
    assert kernels[0] != kernels[1]
    assert [node.op_type for node in model.functions[2].node] == ["Identity"]
    x = images(spec, 2)
    np.testing.assert_allclose(run(model, x), reference_forward(spec, graph, layout, weights, x), atol=1e-5, rtol=0)


def test_average_pool_counts_padding_as_the_spec_says(compile_text):
    spec, graph = compile_text(SMALL)
    model = build_onnx(spec, graph, make_layout(spec, graph))
    pools = {node.name: node for node in model.graph.node if node.op_type == "AveragePool"}
    flags = {name: {a.name: a.i for a in node.attribute}["count_include_pad"] for name, node in pools.items()}
    assert flags == {"pool": 0, "avg": 1}


def test_adaptive_pooling_with_unequal_windows_is_refused_by_the_passes(compile_text):
    with pytest.raises(SpecError) as caught:
        compile_text(WIDE.replace("out: [4, 2]", "out: [3, 2]"))
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "onnx-unsupported" and "3x2" in diagnostic.message


def test_even_lrn_size_is_refused_by_the_passes(compile_text):
    with pytest.raises(SpecError) as caught:
        compile_text(SMALL.replace("size: 3", "size: 4"))
    assert caught.value.diagnostics[0].code == "onnx-unsupported"


# -- text --------------------------------------------------------------------------------------


def test_text_keeps_hierarchical_names_quoted(net):
    text = onnx_text(*net)
    assert '["inception3a"] "inception3a" = netgen.blocks.inception ("maxpool2", ' in text
    assert '["branch_3x3.conv2.conv"] "branch_3x3.conv2.conv" = Conv' in text
    assert "Dropout" not in text and "aux1" not in text


def test_graph_text_is_small_deterministic_and_parses_back(model, net):
    text = onnx_graph_text(model)
    assert text == onnx_graph_text(build_onnx(*net))
    assert len(text) < 40_000  # the weights are declared, not written out
    assert 'float[64, 3, 7, 7] "conv1.conv.weight"' in text
    assert text.endswith("\n") and all(line == line.rstrip() for line in text.splitlines())
    parsed = onnx.parser.parse_model(text)
    assert [node.name for node in parsed.graph.node] == [node.name for node in model.graph.node]
    assert list(parsed.functions) == list(model.functions)
    assert [info.name for info in parsed.graph.value_info] == [tensor.name for tensor in model.graph.initializer]


def test_serialized_model_is_byte_identical_across_builds(compile_text):
    spec, graph = compile_text(WIDE)
    layout = make_layout(spec, graph)
    first = build_onnx(spec, graph, layout).SerializeToString(deterministic=True)
    assert first == build_onnx(spec, graph, layout).SerializeToString(deterministic=True)


# -- against the generated PyTorch module --------------------------------------------------------

try:
    from netgen.backends.pytorch import render_pytorch
except ImportError:
    render_pytorch = None


def generated_module(spec, graph, layout):
    namespace: dict = {}
    exec(compile(render_pytorch(spec, graph, layout), f"<generated {spec.name}>", "exec"), namespace)
    return namespace[layout.network_class]().eval()


def randomly_weighted_module(spec, graph, layout):
    """The generated module loaded with random weights, and its state_dict as numpy arrays."""
    module = generated_module(spec, graph, layout)
    module.load_state_dict({key: torch.from_numpy(value) for key, value in random_weights(layout).items()})
    return module, {key: value.detach().numpy() for key, value in module.state_dict().items()}


def onnx_logits(model: onnx.ModelProto, graph, name: str, x: np.ndarray) -> np.ndarray:
    """The value of IR node `name`; every node outside a block has its own name, but for the outputs."""
    if name == graph.logits():
        return outputs(model, x)["logits"]
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    if name not in [value.name for value in exposed.graph.output]:
        exposed.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return session(exposed).run([name], {"input": x})[0]


def pytorch_logits(module, layout, name: str, x: np.ndarray) -> np.ndarray:
    seen = []
    hook = module.get_submodule(layout.modules[name]).register_forward_hook(lambda m, i, out: seen.append(out))
    with torch.no_grad():
        module(torch.from_numpy(x))
    hook.remove()
    return seen[-1].numpy()


@pytest.mark.slow
@pytest.mark.skipif(render_pytorch is None, reason="netgen.backends.pytorch cannot be imported")
@pytest.mark.parametrize("source", ["googlenet", "small"])
def test_onnx_runtime_matches_the_generated_pytorch_module(compile_text, net, source):
    if source == "googlenet":
        spec, graph, layout = net
        module = generated_module(spec, graph, layout)  # as the module initialises itself
    else:
        spec, graph = compile_text(SMALL)
        layout = make_layout(spec, graph)
        module = generated_module(spec, graph, layout)
        # Batch norm statistics away from 0 and 1; strict loading also proves the layout's keys are the module's.
        module.load_state_dict({key: torch.from_numpy(value) for key, value in random_weights(layout).items()})
    state_dict = {key: value.detach().numpy() for key, value in module.state_dict().items()}
    model = build_onnx(spec, graph, layout, state_dict=state_dict)
    x = images(spec, 2)
    name = graph.logits()
    np.testing.assert_allclose(
        onnx_logits(model, graph, name, x), pytorch_logits(module, layout, name, x), atol=1e-4, rtol=0
    )
    with torch.no_grad():
        logits = module(torch.from_numpy(x))
        probs = module.predict(torch.from_numpy(x)) if hasattr(module, "predict") else None
    found = outputs(model, x)
    np.testing.assert_allclose(found["logits"], logits.numpy(), atol=1e-5, rtol=0)
    if probs is not None:
        np.testing.assert_allclose(found["probs"], probs.numpy(), atol=1e-5, rtol=0)


# One value read by several inputs of one node: each read must count, in both backends.
ALIASED = """\
name: Aliased
input: [3, 8, 8]
num_classes: 4
blocks:
  res:
    params: []
    add:
      shortcut: []
      again: []
      body:
        - conv: {out: 3, kernel: 3, pad: 1, bn: true}
  twice:
    params: [n]
    layers:
      conv: {conv: {out: n, kernel: 1}}
      both: {concat: , from: [conv, conv]}
      sum: {add: , from: [both, both]}
layers:
  r1:   {res: []}
  r2:   {res: []}
  t:    {twice: [5]}
  cat:  {concat: , from: [t, r2, t]}
  pool: {global_avgpool: }
  flat: {flatten: }
  fc:   {linear: {out: num_classes}}
"""


@pytest.mark.skipif(render_pytorch is None, reason="netgen.backends.pytorch cannot be imported")
@pytest.mark.parametrize("inline", [False, True], ids=["functions", "inlined"])
def test_a_value_read_twice_counts_twice_in_both_backends(compile_text, inline):
    spec, graph = compile_text(ALIASED)
    assert graph.inputs("r1") == ["input", "input", "r1.body.conv"]
    assert graph.inputs("cat") == ["t.sum", "r2", "t.sum"]
    assert graph[graph.instances["t"].exit].shape == (10, 8, 8)  # cat([c, c]) then both + both
    layout = make_layout(spec, graph)
    module, state_dict = randomly_weighted_module(spec, graph, layout)
    model = build_onnx(spec, graph, layout, state_dict=state_dict, inline_functions=inline)
    x = images(spec, 2)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(outputs(model, x)["logits"], expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(run(model, x), reference_forward(spec, graph, layout, state_dict, x), atol=1e-4, rtol=1e-4)


# -- opsets and input sizes --------------------------------------------------------------------


@pytest.mark.parametrize("opset", [MIN_OPSET, 18, OPSET])
@pytest.mark.parametrize("inline", [False, True], ids=["functions", "inlined"])
def test_every_supported_opset_checks_and_computes_the_same(compile_text, opset, inline):
    spec, graph = compile_text(WIDE)
    layout = make_layout(spec, graph)
    weights = random_weights(layout)
    model = build_onnx(spec, graph, layout, state_dict=weights, inline_functions=inline, opset=opset)
    assert [(entry.domain, entry.version) for entry in model.opset_import][0] == ("", opset)
    assert model.ir_version >= 8  # local functions
    x = images(spec, 2)
    np.testing.assert_allclose(run(model, x), reference_forward(spec, graph, layout, weights, x), atol=1e-4, rtol=1e-4)


def test_an_opset_outside_the_supported_range_is_netgens_error(net):
    spec, graph, layout = net
    for opset in (MIN_OPSET - 1, OPSET + 1):
        with pytest.raises(OnnxBackendError, match="outside the supported"):
            build_onnx(spec, graph, layout, opset=opset)


GLOBAL_POOL = """\
name: Agnostic
input: [3, 16, 16]
num_classes: 4
layers:
  conv: {conv: {out: 6, kernel: 3, stride: 2, pad: 1, bn: true, act: relu}}
  pool: {maxpool: {kernel: 3, stride: 2, ceil: true}}
  gap:  {global_avgpool: }
  flat: {flatten: }
  fc:   {linear: {out: num_classes}}
"""


@pytest.mark.parametrize(
    "last_pool, agnostic",
    [("{global_avgpool: }", True), ("{avgpool: {kernel: 4}}", False), ("{adaptive_avgpool: {out: 2}}", False)],
    ids=["global", "fixed-kernel", "adaptive-2x2"],
)
def test_height_and_width_are_symbolic_only_when_the_network_takes_any_size(compile_text, last_pool, agnostic):
    spec, graph = compile_text(GLOBAL_POOL.replace("{global_avgpool: }", last_pool))
    assert size_agnostic(graph) is agnostic
    model = build_onnx(spec, graph, make_layout(spec, graph))
    dims = [dim.dim_param or dim.dim_value for dim in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == (["N", 3, "H", "W"] if agnostic else ["N", 3, 16, 16])


def test_the_dynamic_model_runs_at_other_sizes_like_pytorch(compile_text):
    spec, graph = compile_text(GLOBAL_POOL)
    layout = make_layout(spec, graph)
    module = generated_module(spec, graph, layout)
    module.load_state_dict({key: torch.from_numpy(value) for key, value in random_weights(layout).items()})
    state_dict = {key: value.detach().numpy() for key, value in module.state_dict().items()}
    model = build_onnx(spec, graph, layout, state_dict=state_dict)
    for height, width in [(16, 16), (37, 24)]:
        x = np.random.default_rng(height).standard_normal((2, 3, height, width)).astype(np.float32)
        with torch.no_grad():
            expected = module(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(run(model, x), expected, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_googlenet_bn_runs_at_two_sizes(net_bn):
    spec, graph, layout, module, model = net_bn
    for size in (224, 160):
        x = np.random.default_rng(size).standard_normal((1, 3, size, size)).astype(np.float32)
        with torch.no_grad():
            expected = module(torch.from_numpy(x)).numpy()
        scale = float(np.abs(expected).max())  # random weights grow the logits to about 1e5
        np.testing.assert_allclose(outputs(model, x)["logits"], expected, atol=1e-5 * scale, rtol=0)


@pytest.fixture(scope="module")
def net_bn():
    spec, graph = compile_file(str(SPECS / "googlenet-bn.yaml"))
    layout = make_layout(spec, graph)
    module = generated_module(spec, graph, layout)
    module.load_state_dict({key: torch.from_numpy(value) for key, value in random_weights(layout).items()})
    state_dict = {key: value.detach().numpy() for key, value in module.state_dict().items()}
    return spec, graph, layout, module, build_onnx(spec, graph, layout, state_dict=state_dict)
# A use of a `layers` block inside another block is no IR node of its own, only a value of the
# caller's function; named like the function's own input and output (`x`, `y`), it must keep its own.
LOCALS = """\
name: Locals
input: [3, 8, 8]
num_classes: 3
blocks:
  pair:
    params: []
    layers:
      conv: {conv: {out: 3, kernel: 1, bn: true, act: relu}}
      pool: {maxpool: {kernel: 3, stride: 1, pad: 1}}
  outer:
    params: []
    layers:
      y: {pair: []}
      x: {pair: []}
      output: {relu: }
layers:
  x: {outer: []}
  y: {outer: []}
  pool: {global_avgpool: }
  flat: {flatten: }
  fc: {linear: {out: num_classes}}
"""


@pytest.mark.skipif(render_pytorch is None, reason="netgen.backends.pytorch cannot be imported")
@pytest.mark.parametrize("inline", [False, True], ids=["functions", "inlined"])
def test_block_uses_named_like_a_functions_locals_keep_one_value_each(compile_text, inline):
    spec, graph = compile_text(LOCALS)
    layout = make_layout(spec, graph)
    module, state_dict = randomly_weighted_module(spec, graph, layout)
    model = build_onnx(spec, graph, layout, state_dict=state_dict, inline_functions=inline)
    if not inline:
        (outer,) = [function for function in model.functions if function.name == "outer"]
        written = [value for node in outer.node for value in node.output]
        assert len(written) == len(set(written)) and {"y", "x"} <= set(written)
        assert [*outer.input][0] not in written and [*outer.output][0] not in {"y", "x"}
    x = images(spec, 2)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run(model, x), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("std", [0.5, 2.5, 3.5, 1e3, 1e30, 3e38])
def test_trunc_normal_of_any_std_ends_and_matches_torch(std):
    """A std far above the cut once redrew nearly every value forever; the draws must still follow
    torch.nn.init.trunc_normal_ (a normal cut at -2 and 2, nearly uniform for a huge std)."""
    from netgen.backends.init import _trunc_normal

    values = _trunc_normal(np.random.default_rng(0), (200, 500), std)
    generator = torch.Generator().manual_seed(0)
    expected = torch.nn.init.trunc_normal_(torch.empty(200, 500, dtype=torch.float64), std=std, a=-2, b=2, generator=generator)
    assert values.shape == (200, 500) and -2.0 <= values.min() and values.max() <= 2.0
    assert abs(values.mean()) < 0.02
    assert abs(values.std() - float(expected.std())) < 0.01 * float(expected.std())
