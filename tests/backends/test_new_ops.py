"""The ops and constructs of the Inception line after 2016, each on a small spec of its own: the
activations, `mul` (squeeze-and-excitation), a channel `split`, `layernorm`, `layer_scale`, drop path,
depthwise and band kernels, and block parameters in op arguments. For each, the generated PyTorch
module, ONNX Runtime at the newest and the oldest opset netgen writes (standard ops, or their exact
composition below the opset that has them) and the IR's functional reference compute the same."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

from netgen.backends.layout import make_layout
from netgen.backends.onnx_backend import MIN_OPSET, OPSET, build_onnx
from netgen.backends.onnx_inference import optimize_for_inference
from netgen.backends.pytorch import render_pytorch
from netgen.ir.ops import OpKind
from tests.backends.conftest import compile_text, import_source
from tests.backends.test_onnx import all_nodes, generated_module, images, random_weights, reference_forward, run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ACTIVATIONS = """\
name: Acts
input: [3, 12, 12]
num_classes: 5
blocks:
  res:                          # an activation parameter, chosen by name at run time
    params: [act: activation]
    residual: {act: act}
    layers:
      c: {conv: {out: 8, kernel: 3, pad: 1, act: gelu}}
layers:
  stem: {conv: {out: 8, kernel: 3, pad: 1, act: relu6}}
  r1: {res: [gelu_tanh]}
  r2: {res: [hardswish]}
  r3: {res: [none]}
  silu: {silu: }
  sigmoid: {sigmoid: }
  hardsigmoid: {hardsigmoid: }
  gelu: {gelu: }
  gelu_tanh: {gelu_tanh: }
  relu6: {relu6: }
  hardswish: {hardswish: }
  pool: {global_avgpool: }
  flatten: {flatten: }
  fc: {linear: {out: 16, act: silu}}
  head: {linear: {out: num_classes}}
"""

SQUEEZE_EXCITATION = """\
name: SE
input: [3, 10, 10]
num_classes: 4
blocks:
  se_module:                    # SENet's SEModule: pool, reduce, ReLU, expand, sigmoid, scale
    params: [channels, reduction: int]
    layers:
      avg_pool: {global_avgpool: }
      fc1: {conv: {out: channels // reduction, kernel: 1, bare: true}}
      relu: {relu: }
      fc2: {conv: {out: channels, kernel: 1, bare: true}}
      sigmoid: {sigmoid: }
      scale: {mul: , from: [input, sigmoid]}
  gated:                        # the same as a product of branches; the empty one is the input
    params: []
    mul:
      identity: []
      gate: [global_avgpool: , conv: {out: 16, kernel: 1, bare: true}, sigmoid: ]
layers:
  stem: {conv: {out: 16, kernel: 3, pad: 1, bn: true, act: relu}}
  se: {se_module: [16, 4]}
  gated: {gated: []}
  pool: {global_avgpool: }
  flatten: {flatten: }
  fc: {linear: {out: num_classes}}
"""

SPLIT = """\
name: Split
input: [3, 16, 16]
num_classes: 4
blocks:
  inception_dw:                 # timm's InceptionDWConv2d: identity, depthwise square and band kernels
    params: [gc, band: int]
    split: [in - 3 * gc, gc, gc, gc]
    concat:
      x_id: []
      dwconv_hw: [conv: {out: gc, kernel: 3, pad: 1, groups: gc, bare: true}]
      dwconv_w: [conv: {out: gc, kernel: [1, band], pad: same, groups: gc, bare: true}]
      dwconv_h: [conv: {out: gc, kernel: [band, 1], pad: same, groups: in, bare: true}]
layers:
  stem: {conv: {out: 20, kernel: 2, stride: 2, bare: true}}
  mixer: {inception_dw: [5, 7]}
  mixer2: {inception_dw: [3, 5]}
  pool: {global_avgpool: }
  flatten: {flatten: }
  fc: {linear: {out: num_classes}}
"""

LAYER_NORM = """\
name: Norms
input: [3, 9, 9]
num_classes: 6
layers:
  stem: {conv: {out: 12, kernel: 3, stride: 2}}
  norm2d: {layernorm: {eps: 1.0e-6}}
  pool: {global_avgpool: }
  flatten: {flatten: }
  fc1: {linear: {out: 18, act: gelu}}
  norm: {layernorm: {eps: 1.0e-6}}
  fc2: {linear: {out: num_classes}}
"""

META_NEXT = """\
name: MetaNeXt
input: [3, 16, 16]
num_classes: 4
drop_path_rate: 0.3
blocks:
  block:                        # timm's MetaNeXtBlock: mixer, norm, MLP, layer scale, drop path, shortcut
    params: [dim]
    residual: {drop_path: true}
    layers:
      token_mixer: {conv: {out: dim, kernel: 3, pad: 1, groups: dim, bare: true}}
      norm: {batchnorm: }
      fc1: {conv: {out: 4 * dim, kernel: 1, bare: true}}
      act: {gelu: }
      fc2: {conv: {out: dim, kernel: 1, bare: true}}
      gamma: {layer_scale: {init: 1.0e-6}}
  stage:                        # a stage of blocks: the rates of the blocks inside go through it
    params: [dim]
    layers:
      downsample: {conv: {out: dim, kernel: 2, stride: 2, bare: true}}
      blocks: {block: [dim], times: 2}
layers:
  stem: {conv: {out: 8, kernel: 2, stride: 2, bare: true}}
  first: {block: [8]}
  stage: {stage: [16]}
  gamma: {layer_scale: {init: 0.5}}
  pool: {global_avgpool: }
  flatten: {flatten: }
  head_scale: {layer_scale: {init: 2.0}}
  fc: {linear: {out: num_classes}}
"""

PARAMETERS = """\
name: Params
input: [3, 24, 24]
num_classes: 3
blocks:
  separable:                    # one block for every width, kernel, stride and pool type
    params: [out, k: int, s: int, p: pool, rate: float]
    layers:
      depthwise: {conv: {out: in, kernel: k, stride: s, pad: same, groups: in, bias: false}}
      pointwise: {conv: {out: out, kernel: 1, bias: false, bn: true, act: relu}}
      pool: {pool: {type: p, kernel: 3, stride: 1, pad: 1}}
      drop: {dropout: {p: rate}}
      scale: {layer_scale: {init: rate}}
layers:
  stem: {conv: {out: 8, kernel: 3, pad: 1}}
  a: {separable: [16, 3, 1, max, 0.1]}
  b: {separable: [24, 5, 2, avg, 0.2]}
  pool: {global_avgpool: }
  flatten: {flatten: }
  fc: {linear: {out: num_classes}}
"""

CHANNEL_SHUFFLE = """\
name: Shuffle
input: [3, 8, 8]
num_classes: 4
blocks:
  unit:                         # ShuffleNet's: a grouped 1x1 convolution, the channels shuffled
    params: [g: int]
    layers:
      conv: {conv: {out: 12, kernel: 1, groups: g, bare: true}}
      shuffle: {channel_shuffle: {groups: g}}
layers:
  stem: {conv: {out: 12, kernel: 3, pad: 1}}
  a: {unit: [3]}
  b: {unit: [4]}
  pool: {global_avgpool: }
  flatten: {flatten: }
  fc: {linear: {out: num_classes}}
"""

SPECS = {
    "activations": ACTIVATIONS,
    "squeeze-excitation": SQUEEZE_EXCITATION,
    "split": SPLIT,
    "layernorm": LAYER_NORM,
    "meta-next": META_NEXT,
    "parameters": PARAMETERS,
    "channel-shuffle": CHANNEL_SHUFFLE,
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = {}
    folder = tmp_path_factory.mktemp("new_ops")
    for name, text in SPECS.items():
        out[name] = compile_text(folder, name.replace("-", "_"), text)
    return out


def _weighted(spec, graph, layout):
    module = generated_module(spec, graph, layout)
    module.load_state_dict({key: torch.from_numpy(value) for key, value in random_weights(layout).items()})
    return module.eval()


@pytest.mark.parametrize("name", list(SPECS))
def test_pytorch_onnx_at_the_newest_and_oldest_opset_and_the_ir_agree(compiled, name):
    spec, graph, layout, _ = compiled[name]
    module = _weighted(spec, graph, layout)
    state = {key: value.detach().numpy() for key, value in module.state_dict().items()}
    x = images(spec, 2)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(reference_forward(spec, graph, layout, state, x), expected, atol=1e-5, rtol=1e-5)
    for opset in (OPSET, MIN_OPSET):
        for inline in (False, True):
            model = build_onnx(spec, graph, layout, state_dict=state, inline_functions=inline, opset=opset)
            np.testing.assert_allclose(run(model, x), expected, atol=1e-5, rtol=1e-5, err_msg=f"opset {opset}")


def _op_types(spec, graph, layout, opset: int) -> set[str]:
    return {node.op_type for node in all_nodes(build_onnx(spec, graph, layout, opset=opset, inline_functions=True))}


def test_onnx_uses_the_standard_op_where_the_opset_has_it_and_composes_it_below(compiled):
    spec, graph, layout, _ = compiled["activations"]
    newest, oldest = _op_types(spec, graph, layout, OPSET), _op_types(spec, graph, layout, MIN_OPSET)
    assert {"Gelu", "HardSwish", "HardSigmoid", "Sigmoid", "Clip"} <= newest
    assert "Gelu" not in oldest and {"Erf", "Tanh"} <= oldest  # gelu, exact and tanh-approximated
    assert "HardSwish" in _op_types(spec, graph, layout, 14) and "HardSwish" not in oldest
    spec, graph, layout, _ = compiled["layernorm"]
    assert "LayerNormalization" in _op_types(spec, graph, layout, 17)
    assert "LayerNormalization" not in _op_types(spec, graph, layout, 16)


def test_the_generated_code_says_what_the_spec_says(compiled):
    lines = {
        "activations": (
            "x = F.silu(self.fc(x))",
            "self.gelu_tanh = nn.GELU(approximate=\"tanh\")",
            "out = activation(out, self.act)",
            "self.relu6 = nn.ReLU6()",
        ),
        "squeeze-excitation": (
            "self.fc1 = nn.Conv2d(in_channels, channels // reduction, kernel_size=1)",
            "out = x * sigmoid",
            "return identity * gate",
        ),
        "split": (
            "self.split_sizes = (in_channels - gc * 3, gc, gc, gc)",
            "x_id, x_dwconv_hw, x_dwconv_w, x_dwconv_h = torch.split(x, self.split_sizes, dim=1)",
            "kernel_size=(1, band)",
            "padding=(0, (band - 1) // 2)",
            "return torch.cat([x_id, dwconv_hw, dwconv_w, dwconv_h], 1)",
        ),
        "layernorm": ("self.norm2d = LayerNorm2d(12, eps=1e-06)", "self.norm = nn.LayerNorm(18, eps=1e-06)"),
        "meta-next": (
            "self.gamma = nn.Parameter(1e-06 * torch.ones(dim))",
            "out = out.mul(self.gamma.reshape(1, -1, 1, 1))",
            "out = self.drop_path(out) + x",
            "rates = [x.item() for x in torch.linspace(0, drop_path_rate, 3)]",
            "self.stage = Stage(8, 16, drop_path_rates=rates[1:3])",
            "self.first = Block(8, 8, drop_path=rates[0])",
            "x = x.mul(self.head_scale)",
        ),
        "parameters": (
            "def __init__(self, in_channels: int, out: int, k: int, s: int, p: str, rate: float) -> None:",
            'if p == "max"',
            "nn.AvgPool2d(3, stride=1, padding=1)",
            "padding=(k - 1) // 2",
            "self.drop = nn.Dropout(p=rate)",
            "self.scale = nn.Parameter(rate * torch.ones(out))",
        ),
    }
    for name, expected in lines.items():
        source = compiled[name][3]
        for line in expected:
            assert line in source, f"{name}: {line}"


def test_layer_scale_is_the_block_s_own_parameter_named_like_the_layer(compiled):
    spec, graph, layout, _ = compiled["meta-next"]
    module = _weighted(spec, graph, layout)
    keys = list(module.state_dict())
    assert "first.gamma" in keys and "stage.blocks.1.gamma" in keys and "gamma" in keys
    assert keys.index("first.gamma") < keys.index("first.token_mixer.weight")  # parameters before submodules, as timm
    fresh = generated_module(spec, graph, layout)
    assert torch.equal(fresh.first.gamma, torch.full((8,), 1e-6))


def test_drop_path_spreads_the_rate_as_timm_and_is_the_identity_in_eval(compiled):
    spec, graph, layout, _ = compiled["meta-next"]
    rates = [node.attrs.rate for node in graph.nodes() if node.kind is OpKind.DROP_PATH]
    assert rates == pytest.approx([0.0, 0.15, 0.3])
    module = generated_module(spec, graph, layout)
    built = [module.first.drop_path.p, module.stage.blocks[0].drop_path.p, module.stage.blocks[1].drop_path.p]
    assert built == [x.item() for x in torch.linspace(0, 0.3, 3)]
    assert generated_module(spec, graph, layout).__class__(drop_path_rate=0.0).stage.blocks[1].drop_path.p == 0.0
    x = torch.from_numpy(images(spec, 8))
    module.eval()
    with torch.no_grad():
        assert torch.equal(module(x), module(x))
        module.train()
        torch.manual_seed(0)
        first = module(x)
        torch.manual_seed(1)
        assert not torch.equal(first, module(x))  # a body dropped for some samples in training
    model = build_onnx(spec, graph, layout, inline_functions=True)
    assert not any("drop_path" in node.name for node in all_nodes(model))


def test_the_split_s_parts_follow_the_block_s_parameters_at_each_use(compiled):
    _, graph, _, _ = compiled["split"]
    assert [graph[f"mixer.{branch}.input"].shape[0] for branch in ("x_id", "dwconv_hw", "dwconv_w", "dwconv_h")] == [5, 5, 5, 5]
    assert [graph[f"mixer2.{branch}.input"].shape[0] for branch in ("x_id", "dwconv_hw")] == [11, 3]
    assert graph["mixer2.dwconv_h.conv"].attrs.groups == 3  # groups: in, the part's channels


def test_a_depthwise_convolution_counts_one_multiply_add_per_weight_and_output(compiled):
    _, graph, _, _ = compiled["split"]
    node = graph["mixer.dwconv_w.conv"]
    assert node.attrs.kernel == (1, 7) and node.attrs.groups == 5
    assert node.macs == 5 * 8 * 8 * 7  # channels x output size x kernel: (in / groups) = 1
    assert node.weights == 5 * 1 * 1 * 7
    assert graph["mixer"].macs == 0 and graph["mixer.x_id.input"].macs == 0  # concat and split move values only


def test_elementwise_ops_count_no_multiply_adds(compiled):
    _, graph, _, _ = compiled["squeeze-excitation"]
    assert graph["se.scale"].macs == 0 and graph["se.scale"].shape == (16, 10, 10)
    assert graph["se.fc1"].shape == (4, 1, 1)
    _, graph, _, _ = compiled["meta-next"]
    assert graph["first.gamma"].macs == 0 and graph["first.gamma"].weights == 8


EVERYTHING = """\
name: InceptionNeXtSE
input: [3, 32, 32]
num_classes: 5
drop_path_rate: 0.2
blocks:
  inception_dw:
    params: [gc, band: int]
    split: [in - 3 * gc, gc, gc, gc]
    concat:
      x_id: []
      dwconv_hw: [conv: {out: gc, kernel: 3, pad: 1, groups: gc, bare: true}]
      dwconv_w: [conv: {out: gc, kernel: [1, band], pad: same, groups: gc, bare: true}]
      dwconv_h: [conv: {out: gc, kernel: [band, 1], pad: same, groups: gc, bare: true}]
  block:
    params: [dim, gc, act: activation]
    residual: {drop_path: true, act: act}
    layers:
      token_mixer: {inception_dw: [gc, 5]}
      norm: {layernorm: {eps: 1.0e-6}}
      fc1: {conv: {out: 4 * dim, kernel: 1, bare: true}}
      gelu: {gelu: }
      fc2: {conv: {out: dim, kernel: 1, bare: true}}
      gamma: {layer_scale: {init: 1.0e-6}}
  se_module:
    params: [channels, reduction: int, p: pool]
    layers:
      pool: {pool: {type: p, kernel: 3, stride: 1, pad: 1}}
      avg_pool: {global_avgpool: }
      fc1: {conv: {out: channels // reduction, kernel: 1, bare: true}}
      relu: {relu: }
      fc2: {conv: {out: channels, kernel: 1, bare: true}}
      sigmoid: {sigmoid: }
      scale: {mul: , from: [input, sigmoid]}
layers:
  stem: {conv: {out: 16, kernel: 4, stride: 4, bare: true}}
  blocks: {block: [16, 4, gelu_tanh], times: 2}
  last: {block: [16, 2, none]}
  se: {se_module: [16, 4, max]}
  pool: {global_avgpool: }
  flatten: {flatten: }
  fc: {linear: {out: 24, act: gelu}}
  head_norm: {layernorm: {eps: 1.0e-6}}
  head: {linear: {out: num_classes}}
"""


@pytest.fixture(scope="module")
def everything(tmp_path_factory, generate):
    path = tmp_path_factory.mktemp("new_ops") / "everything.yaml"
    path.write_text(EVERYTHING)
    return generate(path)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch 2.13 deprecates TorchScript; we keep the promise
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_torchscript_runs_the_new_ops_as_eager_does(everything, mode):
    model = getattr(everything.network(), mode)()
    scripted = torch.jit.script(model)
    images = torch.randn(4, *everything.spec.input)
    with torch.no_grad():
        torch.manual_seed(3)
        eager = model(images)
        torch.manual_seed(3)
        assert torch.equal(scripted(images), eager)


def test_fx_export_and_copies_run_the_new_ops_as_eager_does(everything):
    model = everything.network().eval()
    images = torch.randn(2, *everything.spec.input)
    with torch.no_grad():
        eager = model(images)
        assert torch.equal(torch.fx.symbolic_trace(model)(images), eager)
        assert torch.allclose(torch.export.export(model, (images,)).module()(images), eager, atol=1e-6)
        assert torch.equal(copy.deepcopy(model)(images), eager)
        assert torch.equal(pickle.loads(pickle.dumps(model))(images), eager)


def test_the_inference_build_of_the_new_ops_computes_what_the_plain_one_does(everything, tmp_path):
    spec, graph, layout = everything.spec, everything.graph, everything.layout
    _, module = import_source(render_pytorch(spec, graph, layout, optimize=True), tmp_path, "optimized")
    plain = getattr(module, layout.network_class)().eval()
    images = torch.randn(2, *spec.input)
    with torch.no_grad():
        expected = plain(images)
        np.testing.assert_allclose(module.for_inference(plain)(images).numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
    state = {key: value.detach().numpy() for key, value in plain.state_dict().items()}
    model = optimize_for_inference(build_onnx(spec, graph, layout, state_dict=state, inline_functions=True))
    np.testing.assert_allclose(run(model, images.numpy()), expected.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("text", [EVERYTHING, META_NEXT], ids=["everything", "meta-next"])
def test_build_profile_gives_each_row_of_the_new_ops_its_range_and_computes_the_plain_module(text, tmp_path):
    """`build --profile` (what `bench --per-layer` reads): one range per row, whatever its ops (a
    layer scale's parameter, drop path, a split, a gate, layer norm), and the plain module's output."""
    from netgen.compile import compile_file
    from tests.backends.test_profile import ranges_in

    path = tmp_path / "profiled.yaml"
    path.write_text(text)
    spec, graph = compile_file(str(path))
    layout = make_layout(spec, graph)
    profiled_source = render_pytorch(spec, graph, layout, profile=True)
    rows = [f"{layout.network_class}.{layer.name}" for layer in spec.layers]
    assert ranges_in(profiled_source) == rows
    _, plain_module = import_source(render_pytorch(spec, graph, layout), tmp_path, "plain")
    _, profiled_module = import_source(profiled_source, tmp_path, "profiled")
    plain = getattr(plain_module, layout.network_class)().eval()
    profiled = getattr(profiled_module, layout.network_class)().eval()
    profiled.load_state_dict(plain.state_dict(), strict=True)
    images = torch.randn(2, *spec.input)
    with torch.no_grad(), torch.profiler.profile() as profiler:
        expected, got = plain(images), profiled(images)
    assert torch.equal(got, expected)
    assert set(rows) <= {event.name for event in profiler.events()}
