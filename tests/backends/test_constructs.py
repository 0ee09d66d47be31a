"""The constructs the Inception family needs, on a small spec of their own: where each puts its
weights (the state_dict keys a library's layout needs), what the generated forward() says, and
that PyTorch, ONNX (functions and inlined) and a functional reference of the IR agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netgen.backends.onnx_backend import build_onnx
from tests.backends.conftest import compile_text
from tests.backends.test_onnx import generated_module, images, random_weights, reference_forward, run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONSTRUCTS = """\
name: Constructs
input: [3, 17, 15]
num_classes: 6
defaults:
  conv: {bias: false, bn: {eps: 0.001}, act: relu}
blocks:
  split_e:                      # flat, with a concat of branches inside a branch
    params: [c]
    flat: true
    concat:
      branch1x1: [conv: {out: c, kernel: 1}]
      branch3x3:
        branch3x3_1: {conv: {out: 6, kernel: 1}}
        split:
          concat:
            branch3x3_2a: [conv: {out: 5, kernel: [1, 3], pad: [0, 1]}]
            branch3x3_2b: [conv: {out: 4, kernel: [3, 1], pad: [1, 0]}]
      branch_pool:
        pool: {avgpool: {kernel: 3, stride: 1, pad: 1, count_include_pad: false}}
        branch_pool: {conv: {out: 3, kernel: 1}}
  res:                          # typed parameters, a residual with a bare conv
    params: [scale: float, act: activation]
    residual: {scale: scale, act: act}
    layers:
      mixed:
        concat:
          branch0: [conv: {out: 4, kernel: 1}]
          branch1: [conv: {out: 2, kernel: 1}, conv: {out: 4, kernel: 3, pad: 1}]
      conv2d: {conv: {out: 24, kernel: 1, bias: true, bn: false, act: none, bare: true}}
  tv_a:                         # `from: input` in a block's layers
    params: [pool_features]
    layers:
      branch1x1: {conv: {out: 8, kernel: 1}}
      branch5x5_1: {conv: {out: 4, kernel: 1}, from: input}
      branch5x5_2: {conv: {out: 8, kernel: 5, pad: 2}}
      branch_pool: {conv: {out: pool_features, kernel: 1}, from: input}
      out: {concat: , from: [branch1x1, branch5x5_2, branch_pool]}
  stage:                        # a one-branch add: an nn.Sequential layer of the block (timm's downsample)
    params: [c]
    layers:
      downsample: {add: {downsample: [batchnorm: , conv: {out: c, kernel: 2, stride: 2, bn: false, act: none, bare: true}]}}
      conv: {conv: {out: c, kernel: 1}}
layers:
  features:                     # a numbered group
    sequential:
      stem: {conv: {out: 10, kernel: 3, stride: 2}}
      e1: {split_e: [6]}
  a1: {tv_a: [8]}
  repeat: {res: [0.17, relu], times: 3}
  last: {res: [1.0, none]}
  stage: {stage: [12]}
  avgpool: {global_avgpool: }
  flatten: {flatten: }
  fc: {linear: {out: num_classes}}
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return compile_text(tmp_path_factory.mktemp("constructs"), "constructs", CONSTRUCTS)


def test_each_construct_puts_its_weights_where_the_libraries_do(compiled):
    spec, graph, layout, _ = compiled
    keys = {slot.key for slots in layout.slots.values() for slot in slots}
    for key in (
        "features.0.conv.weight",  # an item of a group
        "features.1.branch3x3_1.conv.weight",  # a flat branch's layer, on the block
        "features.1.branch3x3_2a.bn.running_var",  # a branch of the concat inside that branch
        "features.1.branch_pool.conv.weight",
        "a1.branch5x5_1.conv.weight",
        "repeat.0.branch0.conv.weight",  # a copy of a repeated block
        "repeat.2.branch1.1.bn.weight",
        "repeat.2.conv2d.weight",  # a bare conv: no BasicConv2d unit
        "repeat.2.conv2d.bias",
        "last.conv2d.weight",
        "stage.downsample.0.running_mean",  # the items of a one-branch add's nn.Sequential
        "stage.downsample.1.weight",
    ):
        assert key in keys, key
    assert not any(key.startswith("features.1.branch3x3.") or ".conv2d.conv." in key for key in keys)


def test_the_generated_forward_says_what_the_spec_says(compiled):
    _, _, _, source = compiled
    for line in (
        "self.features = nn.Sequential(BasicConv2d(3, 10, kernel_size=3, stride=2), SplitE(10, 6))",
        "branch3x3 = torch.cat([branch3x3_2a, branch3x3_2b], 1)",
        "self.conv2d = nn.Conv2d(8, 24, kernel_size=1)",
        "out = out * self.scale + x",
        'out = F.relu(out) if self.act == "relu" else out',
        "def __init__(self, in_channels: int, scale: float, act: str) -> None:",
        'Res(24, 0.17, "relu"), Res(24, 0.17, "relu"), Res(24, 0.17, "relu")',
        'self.last = Res(24, 1.0, "none")',
        "x = self.features[1](x)",
        "out = self.branch5x5_1(x)",
        "x = self.downsample(x)",  # a one-branch add is its branch: no sum of one
    ):
        assert line in source, line


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


def test_the_residual_scale_and_activation_are_the_ir_s(compiled):
    _, graph, _, _ = compiled
    add = graph["repeat.1.residual"]
    assert add.attrs.scale == pytest.approx(0.17)
    assert graph.inputs("repeat.1.residual") == ["repeat.0.act", "repeat.1.conv2d"]
    assert graph.inputs("repeat.1.act") == ["repeat.1.residual"]
    assert graph.exit_of("last") == "last.residual"  # act: none adds no ReLU
    assert graph.exit_of("repeat") == "repeat.2.act"
