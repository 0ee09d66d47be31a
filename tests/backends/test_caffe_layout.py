"""Caffe's layout on a small spec of its own: a bare conv keeps its batch norm beside it as
`<conv>_bn`, and the layers of an inline block use are attributes of the module that uses it,
named `<use>_<layer>`, at the top level and inside blocks. Where each puts its weights, what the
generated forward() says, and that PyTorch, ONNX (functions and inlined), the IR's reference, the
inference build and `verify --runtime` agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netgen.backends.onnx_backend import build_onnx
from netgen.backends.onnx_inference import optimize_for_inference
from netgen.backends.pytorch import render_pytorch
from netgen.verify.runtime import run_generated
from tests.backends.conftest import compile_text, import_source
from tests.backends.test_onnx import all_nodes, generated_module, images, random_weights, reference_forward, run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CAFFE = """\
name: Caffe
input: [3, 19, 19]
num_classes: 5
defaults:
  conv: {bare: true, bn: {eps: 0.001, momentum: 0.2}, act: relu}
blocks:
  module:                       # inline and flat: its layers are `<use>_<layer>`
    params: [a, b, p: pool]
    inline: true
    flat: true
    concat:
      branch_1x1:
        1x1: {conv: {out: a, kernel: 1}}
      branch_3x3:
        3x3_reduce: {conv: {out: b, kernel: 1}}
        3x3: {conv: {out: b, kernel: 3, pad: 1, bn: false}}   # a bare conv with a ReLU alone
      branch_pool:
        pool: {pool: {type: p, kernel: 3, stride: 1, pad: 1, ceil: true}}
        pool_proj: {conv: {out: 3, kernel: 1, act: none}}
      seq: [maxpool: {kernel: 3, stride: 1, pad: 1}, conv: {out: 2, kernel: 1, bare: false}]
  res:                          # inline, with a residual reading the block's input
    params: [c]
    inline: true
    residual: {scale: 0.5, act: relu}
    layers:
      reduce: {conv: {out: 4, kernel: 1}}
      expand: {conv: {out: c, kernel: 3, pad: 1, act: none}}
  outer:                        # a module of its own, holding inline uses
    params: [c, p: pool]
    layers:
      first: {conv: {out: c, kernel: 1}}
      inner: {module: [c, 4, p]}  # the pool type passed on: the class chooses
      again: {res: [15]}
      nested: {twice: []}
  twice:                        # an inline block using an inline block
    params: []
    inline: true
    layers:
      m: {module: [2, 2, max]}
layers:
  conv1_7x7_s2: {conv: {out: 8, kernel: 3, stride: 2, pad: 1}}
  pool1:        {maxpool: {kernel: 3, stride: 2, ceil: true}}
  inception_3a: {module: [6, 5, avg]}
  o:            {outer: [6, max]}
  gp:           {global_avgpool: }
  flatten:      {flatten: }
  fc:           {linear: {out: num_classes, bias: true, act: none}}
"""

# The state_dict, in order: each bare conv's weight and bias, then its batch norm beside it.
CONV_BN = ["weight", "bias", "_bn.weight", "_bn.bias", "_bn.running_mean", "_bn.running_var", "_bn.num_batches_tracked"]


def _conv_bn(name: str) -> list[str]:
    return [f"{name}.{part}" if not part.startswith("_") else f"{name}{part}" for part in CONV_BN]


def _module(prefix: str, seq_in: bool = True) -> list[str]:
    seq = [f"{prefix}seq.1.{part}" for part in ("conv.weight", "conv.bias", "bn.weight", "bn.bias")]
    seq += [f"{prefix}seq.1.bn.{part}" for part in ("running_mean", "running_var", "num_batches_tracked")]
    return [
        *_conv_bn(f"{prefix}1x1"),
        *_conv_bn(f"{prefix}3x3_reduce"),
        f"{prefix}3x3.weight",
        f"{prefix}3x3.bias",
        *_conv_bn(f"{prefix}pool_proj"),
        *(seq if seq_in else []),
    ]


EXPECTED_KEYS = [
    *_conv_bn("conv1_7x7_s2"),
    *_module("inception_3a_"),
    *_conv_bn("o.first"),
    *_module("o.inner_"),
    *_conv_bn("o.again_reduce"),
    *_conv_bn("o.again_expand"),
    *_module("o.nested_m_"),
    "fc.weight",
    "fc.bias",
]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return compile_text(tmp_path_factory.mktemp("caffe"), "caffe", CAFFE)


def test_the_state_dict_is_caffe_s_key_for_key_and_in_order(compiled):
    spec, graph, layout, _ = compiled
    network = generated_module(spec, graph, layout)
    assert list(network.state_dict()) == EXPECTED_KEYS
    assert [slot.key for slots in layout.slots.values() for slot in slots] == EXPECTED_KEYS
    assert sum(parameter.numel() for parameter in network.parameters()) == sum(
        node.weights + node.biases for node in graph.nodes()
    )


def test_the_generated_forward_says_what_the_spec_says(compiled):
    _, _, _, source = compiled
    for line in (
        "self.conv1_7x7_s2 = nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1)",
        "self.conv1_7x7_s2_bn = nn.BatchNorm2d(8, eps=0.001, momentum=0.2)",
        "x = self.conv1_7x7_s2(x)",
        "x = F.relu(self.conv1_7x7_s2_bn(x), inplace=True)",
        "self.inception_3a_1x1 = nn.Conv2d(8, 6, kernel_size=1)",
        "self.inception_3a_pool = nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True)",
        "inception_3a_seq = self.inception_3a_seq(x)",
        "inner_branch_3x3 = F.relu(self.inner_3x3(inner_branch_3x3), inplace=True)",  # a bare conv's ReLU
        "inner_branch_pool = self.inner_pool_proj_bn(inner_branch_pool)",  # act: none
        'self.o = Outer(16, 6, "max")',
        "self.inner_1x1 = nn.Conv2d(c, c, kernel_size=1)",
        "self.again_expand = nn.Conv2d(4, 15, kernel_size=3, padding=1)",
        "again_out = again_out * 0.5 + x",
        "self.nested_m_3x3_reduce = nn.Conv2d(15, 2, kernel_size=1)",
        # A pool type an inline use names is that pool alone; one passed on from the block around is the class's choice.
        "self.nested_m_pool = nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True)",
        'if p == "max"',
    ):
        assert line in source, line
    assert "<p>" not in source
    # An inline block has no class; every other block keeps its own.
    assert '"""The spec\'s block outer."""' in source  # its inline use's residual is no residual of its own
    assert not any(f"class {name}(" in source for name in ("Module", "Res", "Twice"))


def test_pytorch_onnx_and_the_ir_compute_the_same(compiled):
    spec, graph, layout, _ = compiled
    module = generated_module(spec, graph, layout)
    module.load_state_dict({key: torch.from_numpy(value) for key, value in random_weights(layout).items()})
    state = {key: value.detach().numpy() for key, value in module.state_dict().items()}
    x = images(spec, 2)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(reference_forward(spec, graph, layout, state, x), expected, atol=1e-5, rtol=1e-5)
    for inline in (False, True):
        model = build_onnx(spec, graph, layout, state_dict=state, inline_functions=inline)
        np.testing.assert_allclose(run(model, x), expected, atol=1e-5, rtol=1e-5)
    # Only the block with a module of its own is an ONNX function: an inline use's nodes are its user's.
    model = build_onnx(spec, graph, layout, state_dict=state)
    assert [function.name for function in model.functions] == ["outer"]
    assert any(node.name == "inception_3a.branch_1x1.1x1.conv" for node in model.graph.node)
    optimized = optimize_for_inference(build_onnx(spec, graph, layout, state_dict=state, inline_functions=True))
    assert not any(node.op_type == "BatchNormalization" for node in all_nodes(optimized))
    np.testing.assert_allclose(run(optimized, x), expected, atol=1e-4, rtol=1e-4)


def test_the_inference_build_folds_each_sibling_batch_norm(compiled, tmp_path):
    spec, graph, layout, _ = compiled
    _, module = import_source(render_pytorch(spec, graph, layout, optimize=True), tmp_path, "caffe_fast")
    # The reductions of an inline use are fused beside them, named after the use.
    assert module.FUSED_1X1["inception_3a_fused1x1"] == ("inception_3a_1x1", "inception_3a_3x3_reduce")
    network = getattr(module, layout.network_class)()
    network.load_state_dict({key: torch.from_numpy(value) for key, value in random_weights(layout, seed=3).items()})
    x = torch.from_numpy(images(spec, 2, seed=4))
    with torch.no_grad():
        expected = network.eval()(x)
        fast = module.from_plain(network.state_dict())
        got = fast(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    assert not any(isinstance(sub, torch.nn.BatchNorm2d) for sub in fast.modules())


def test_verify_runtime_holds_every_layer_to_the_ir(compiled):
    spec, graph, _, _ = compiled
    result = run_generated(spec, graph)
    assert result.ok
    modules = {run.layer: run.module for run in result.layers}
    assert modules["conv1_7x7_s2"] == "conv1_7x7_s2, conv1_7x7_s2_bn"
    assert modules["inception_3a"].startswith("inception_3a_* (")
    assert all(run.real_shape is not None for run in result.layers)
