"""`netgen build --optimize`: the inference path of the generated module and the rewritten ONNX model
compute what the plain ones compute, from the plain weights, with fewer operations."""

from __future__ import annotations

import ast
import copy
from collections import Counter

import numpy as np
import onnx
import pytest
import torch

from netgen.backends.layout import make_layout
from netgen.backends.onnx_backend import build_onnx
from netgen.backends.onnx_inference import optimize_for_inference
from netgen.backends.pytorch import fused_1x1, render_pytorch
from netgen.compile import compile_file
from tests.backends.conftest import import_source
from tests.backends.test_onnx import outputs, random_weights
from tests.conftest import GOOGLENET, SPECS

# Every test here builds an inference network and runs it beside the plain one.
pytestmark = pytest.mark.slow

GOOGLENET_BN = SPECS / "googlenet-bn.yaml"
# float32 rounding of folded and fused weights: outputs of order 10-100 differ by about 1e-5
RTOL = 1e-4


@pytest.fixture(scope="module", params=[GOOGLENET_BN, GOOGLENET], ids=lambda path: path.stem)
def built(request, tmp_path_factory):
    spec, graph = compile_file(str(request.param))
    layout = make_layout(spec, graph)
    plain = render_pytorch(spec, graph, layout)
    optimized = render_pytorch(spec, graph, layout, optimize=True)
    folder = tmp_path_factory.mktemp(request.param.stem.replace("-", "_"))
    _, module = import_source(optimized, folder, "optimized")
    return spec, graph, layout, plain, optimized, module


def _classes(source: str) -> dict[str, str]:
    tree = ast.parse(source)
    return {node.name: ast.get_source_segment(source, node) for node in tree.body if isinstance(node, ast.ClassDef)}


def test_optimize_adds_the_inference_path_and_changes_nothing_else(built):
    _, _, _, plain, optimized, module = built
    assert _classes(optimized) == _classes(plain)
    assert "for_inference" not in plain and "FUSED_1X1" not in plain
    assert callable(module.for_inference) and callable(module.from_plain)


def test_netgen_fuses_each_inception_modules_three_reductions():
    spec, graph = compile_file(str(GOOGLENET_BN))
    groups = fused_1x1(graph, make_layout(spec, graph))
    modules = ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]
    assert list(groups) == [f"inception{module}.fused1x1" for module in modules]
    assert groups["inception4a.fused1x1"] == ("inception4a.branch1.conv", "inception4a.branch2.0.conv", "inception4a.branch3.0.conv")


def _plain_network(built, seed: int = 0):
    spec, _, layout, _, _, module = built
    network = getattr(module, layout.network_class)()
    weights = random_weights(layout, seed)
    network.load_state_dict({key: torch.from_numpy(value) for key, value in weights.items()})
    return network.eval(), weights


def test_from_plain_computes_what_the_plain_network_computes(built):
    spec, _, layout, _, _, module = built
    network, _ = _plain_network(built)
    fast = module.from_plain(network.state_dict())
    x = torch.randn(2, *spec.input, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = network(x)
    assert expected.abs().max() > 1.0  # the weights make every layer matter
    torch.testing.assert_close(fast(x), expected, rtol=RTOL, atol=RTOL * expected.abs().max().item())
    kinds = Counter(type(sub).__name__ for sub in fast.modules())
    assert kinds["BatchNorm2d"] == 0
    fused = [sub for name, sub in fast.named_modules() if name.endswith("fused1x1")]
    assert len(fused) == 9
    assert all(sub.weight.is_contiguous(memory_format=torch.channels_last) for sub in fused)
    assert not any(parameter.requires_grad for parameter in fast.parameters())


def test_for_inference_leaves_the_plain_network_as_it_was(built):
    _, _, _, _, _, module = built
    network, _ = _plain_network(built)
    network.train()
    before = {key: value.clone() for key, value in network.state_dict().items()}
    module.for_inference(network)
    assert network.training
    after = network.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[key], after[key]) for key in before)


def test_the_optimized_onnx_model_computes_what_the_plain_one_computes(built):
    spec, graph, layout, *_ = built
    weights = random_weights(layout)
    plain = build_onnx(spec, graph, layout, state_dict=weights)
    inlined = build_onnx(spec, graph, layout, state_dict=weights, inline_functions=True)
    plain_kinds = Counter(node.op_type for node in inlined.graph.node)
    optimized = optimize_for_inference(inlined)
    assert Counter(node.op_type for node in inlined.graph.node) == plain_kinds  # rewritten in a copy
    kinds = Counter(node.op_type for node in optimized.graph.node)
    assert kinds["BatchNormalization"] == 0 and kinds["Split"] == 9
    assert kinds["Conv"] == plain_kinds["Conv"] - 2 * 9  # three reductions become one, nine times
    x = np.random.default_rng(2).standard_normal((2, *spec.input)).astype(np.float32)
    expected, got = outputs(plain, x), outputs(optimized, x)
    assert expected.keys() == got.keys()
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=RTOL, atol=RTOL * np.abs(value).max())


def test_the_onnx_rewrite_needs_an_inlined_model(built):
    spec, graph, layout, *_ = built
    with pytest.raises(ValueError, match="inline functions"):
        optimize_for_inference(build_onnx(spec, graph, layout))


def test_build_optimize_writes_both_and_loads_a_plain_checkpoint(tmp_path):
    from tests.conftest import netgen_cli

    spec, graph = compile_file(str(GOOGLENET_BN))
    layout = make_layout(spec, graph)
    weights = random_weights(layout, seed=3)
    torch.save({key: torch.from_numpy(value) for key, value in weights.items()}, tmp_path / "plain.pt")
    run = netgen_cli("build", str(GOOGLENET_BN), "--optimize", "--weights", str(tmp_path / "plain.pt"), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    _, module = import_source((tmp_path / "out" / "googlenet_bn.py").read_text(), tmp_path, "built")
    fast = module.from_plain(torch.load(tmp_path / "plain.pt"))
    model = onnx.load(tmp_path / "out" / "googlenet_bn.onnx")
    x = np.random.default_rng(4).standard_normal((1, *spec.input)).astype(np.float32)
    with torch.no_grad():
        expected = fast(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(outputs(model, x)["logits"], expected, rtol=RTOL, atol=RTOL * np.abs(expected).max())


# The --optimize module's tolerance for each shipped network, as README states it: the largest
# difference from the plain module and from a float64 run of it, relative to the largest logit,
# measured on random weights (seed 5) and three inputs (seeds 6 to 8), times 4 and rounded up
# (python benchmarks/tolerance.py). float32 rounding alone puts the plain module 2.5e-7 to 2.8e-6
# away from float64, the most where squeeze-and-excitation gates multiply the features.
TOLERANCE = {
    "bn-inception": 4e-06,
    "googlenet": 2e-06,
    "googlenet-bn": 2e-06,
    "googlenet-cifar10": 2e-06,
    "googlenet-w05": 2e-06,
    "inception-fact7-cifar10": 2e-06,
    "inception-next-atto": 2e-06,
    "inception-next-tiny": 3e-06,
    "inception-resnet-v2": 5e-06,
    "inception-v2": 3e-06,
    "inception-v3": 4e-06,
    "inception-v4": 7e-06,
    "se-bn-inception": 3e-05,
    "xception": 3e-06,
}


def _relative(value: torch.Tensor, reference: torch.Tensor) -> float:
    return ((value.double() - reference.double()).abs().max() / reference.double().abs().max()).item()


def test_every_shipped_spec_has_a_stated_tolerance_and_readme_states_it():
    assert sorted(TOLERANCE) == sorted(path.stem for path in SPECS.glob("*.yaml"))
    readme = (SPECS.parent / "README.md").read_text(encoding="utf-8")
    stated = {}
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[0].endswith(".yaml`"):
            stated[cells[0].strip("`").removesuffix(".yaml")] = float(cells[4])
    assert stated == TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("spec_path", sorted(SPECS.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_shipped_spec_has_an_inference_build_within_its_stated_tolerance(spec_path, tmp_path):
    spec, graph = compile_file(str(spec_path))
    layout = make_layout(spec, graph)
    _, module = import_source(render_pytorch(spec, graph, layout, optimize=True), tmp_path, "optimized")
    network = getattr(module, layout.network_class)()
    weights = random_weights(layout, seed=5)
    network.load_state_dict({key: torch.from_numpy(value) for key, value in weights.items()})
    x = torch.randn(1, *spec.input, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        expected = network.eval()(x)
        got = module.from_plain(network.state_dict())(x)
        exact = copy.deepcopy(network).double()(x.double())
    # Every Inception network up to 2016 has 1x1 reductions reading one input to fuse. InceptionNeXt's
    # branches are depthwise convolutions on parts of a split, and its 1x1s read one another;
    # Xception has no two 1x1 convolutions that read one input (a block's skip shares its input
    # with a depthwise 3x3).
    assert bool(module.FUSED_1X1) != (spec_path.stem.startswith("inception-next") or spec_path.stem == "xception")
    tolerance = TOLERANCE[spec_path.stem]
    assert _relative(got, expected) <= tolerance
    assert _relative(got, exact) <= tolerance
    # The tolerance is float32 rounding's: the plain module is within it of float64 too.
    assert _relative(expected, exact) <= tolerance


CHAINED_NORMS = """\
name: ChainedNorms
input: [3, 12, 12]
num_classes: 5
layers:
  conv1: {conv: {out: 8, kernel: 3, pad: 1, bn: true, bias: false}}
  bn1: {batchnorm: }
  relu1: {relu: }
  conv2: {conv: {out: 8, kernel: 1, bare: true}}
  bn2a: {batchnorm: }
  bn2b: {batchnorm: }
  conv3: {conv: {out: 8, kernel: 3, pad: 1, bn: true, act: relu}}
  bn3: {batchnorm: }
  pool: {global_avgpool: }
  flat: {flatten: }
  fc: {linear: {out: num_classes}}
"""


def test_a_convolution_followed_by_several_batch_norms_folds_every_one(write_spec, tmp_path):
    # Each fold must start from the convolution as the previous fold left it; a table of modules
    # made once undid the first fold with the second.
    spec, graph = compile_file(str(write_spec(CHAINED_NORMS)))
    layout = make_layout(spec, graph)
    _, module = import_source(render_pytorch(spec, graph, layout, optimize=True), tmp_path, "chained")
    network = getattr(module, layout.network_class)()
    weights = random_weights(layout, seed=7)
    network.load_state_dict({key: torch.from_numpy(value) for key, value in weights.items()})
    x = torch.randn(2, *spec.input, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        expected = network.eval()(x)
        fast = module.from_plain(network.state_dict())
        got = fast(x)
    torch.testing.assert_close(got, expected, rtol=RTOL, atol=RTOL * expected.abs().max().item())
    # conv3's ReLU stands between its own batch norm and bn3, which stays.
    assert Counter(type(sub).__name__ for sub in fast.modules())["BatchNorm2d"] == 1


NAMED_LIKE_THE_REWRITE = """\
name: NamedLikeTheRewrite
input: [4, 8, 8]
num_classes: 3
blocks:
  blk:
    params: [fused1x1: float]
    residual: {scale: fused1x1}
    layers:
      mixed:
        concat:
          a: [conv: {out: 2, kernel: 1, bias: false}]
          b: [conv: {out: 2, kernel: 1, bn: true}]
      output: {relu: }
      sizes: {batchnorm: }
      split: {relu: }
layers:
  a: {conv: {out: 2, kernel: 1, act: relu}, from: input}
  b: {conv: {out: 2, kernel: 1, act: relu}, from: input}
  m: {concat: , from: [a, b]}
  fused1x1: {blk: [0.5]}
  pool: {global_avgpool: }
  flat: {flatten: }
  fc: {linear: {out: num_classes}}
"""


def test_what_the_rewrite_adds_takes_names_no_layer_or_attribute_has(write_spec):
    # The top-level layer `fused1x1` is a block whose layers are `output`, `sizes` and `split`,
    # and which keeps its parameter `fused1x1` as an attribute: the fused convolutions beside them
    # take other names, in the module and in the ONNX model.
    from tests.fuzz.test_valid_specs import check_inference_build

    check_inference_build(NAMED_LIKE_THE_REWRITE)
    spec, graph = compile_file(str(write_spec(NAMED_LIKE_THE_REWRITE)))
    assert fused_1x1(graph, make_layout(spec, graph)) == {"fused1x1_": ("a.conv", "b.conv"), "fused1x1.fused1x1_": ("fused1x1.a.conv", "fused1x1.b.conv")}
