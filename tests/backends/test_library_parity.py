"""The Inception family as the libraries ship it: each spec's generated module has exactly the
library's state_dict keys and shapes, in the library's order (specs/reference/*.tsv, read from
torchvision, timm and the Caffe port of BN-Inception, pretrainedmodels' bninception),
its parameter count, loads a state_dict of those shapes strictly, and computes in PyTorch what
its ONNX model computes in onnxruntime.

These are big networks: each is compiled and rendered once per session, and runs on one image.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from netgen.backends.onnx_backend import build_onnx
from tests.conftest import SPECS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LIBRARIES = {
    # spec: (key list, parameters without heads, with heads)
    "inception-v3.yaml": ("torchvision-inception-v3-state-dict.tsv", 23_834_568, 27_161_264),
    "inception-v4.yaml": ("timm-inception-v4-state-dict.tsv", 42_679_816, 42_679_816),
    "inception-resnet-v2.yaml": ("timm-inception-resnet-v2-state-dict.tsv", 55_843_464, 55_843_464),
    "bn-inception.yaml": ("caffe-bn-inception-state-dict.tsv", 11_295_240, 11_295_240),
    "xception.yaml": ("timm-legacy-xception-state-dict.tsv", 22_855_952, 22_855_952),
}

# torchvision registers Inception3's AuxLogits between Mixed_6e and Mixed_7a; the generated module
# registers its heads after the trunk.
KEYS_IN_ANOTHER_ORDER = {"inception-v3.yaml"}


def read_key_list(name: str) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for line in (SPECS / "reference" / name).read_text(encoding="utf-8").splitlines():
        key, shape = line.split("\t")
        shapes[key] = () if shape == "scalar" else tuple(int(extent) for extent in shape.split("x"))
    return shapes


@pytest.fixture(scope="module", params=sorted(LIBRARIES))
def library_net(request, generate):
    spec_name = request.param
    generated = generate(SPECS / spec_name)
    torch.manual_seed(0)
    network = generated.network().eval()
    return spec_name, generated, network


def test_state_dict_keys_and_shapes_are_the_librarys(library_net):
    spec_name, _, network = library_net
    expected = read_key_list(LIBRARIES[spec_name][0])
    actual = {key: tuple(value.shape) for key, value in network.state_dict().items()}
    assert sorted(set(expected) - set(actual)) == [], "keys the library has and the module lacks"
    assert sorted(set(actual) - set(expected)) == [], "keys the module has and the library lacks"
    assert {key: actual[key] for key in expected if actual[key] != expected[key]} == {}
    if spec_name not in KEYS_IN_ANOTHER_ORDER:
        assert list(actual) == list(expected), "the keys come in another order than the library's"


def test_parameter_counts_are_the_librarys(library_net):
    spec_name, generated, network = library_net
    _, without_heads, with_heads = LIBRARIES[spec_name]
    assert sum(parameter.numel() for parameter in network.parameters()) == with_heads
    assert generated.module.PARAMS == without_heads
    if generated.spec.heads:
        assert generated.module.PARAMS_WITH_HEADS == with_heads
        bare = generated.network(aux_logits=False)
        assert sum(parameter.numel() for parameter in bare.parameters()) == without_heads


def test_a_state_dict_of_the_librarys_shapes_loads_strictly(library_net):
    spec_name, _, network = library_net
    generator = torch.Generator().manual_seed(1)
    weights = {}
    for key, shape in read_key_list(LIBRARIES[spec_name][0]).items():
        if key.endswith("num_batches_tracked"):
            weights[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            weights[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            weights[key] = torch.randn(shape, generator=generator) * 0.05
    network.load_state_dict(weights, strict=True)
    for key, value in network.state_dict().items():
        assert torch.equal(value, weights[key]), key


@pytest.mark.slow
def test_onnx_runtime_computes_what_the_pytorch_module_computes(library_net):
    _, generated, network = library_net
    spec, graph, layout = generated.spec, generated.graph, generated.layout
    state = {key: value.detach().numpy() for key, value in network.state_dict().items()}
    model = build_onnx(spec, graph, layout, state_dict=state)
    x = torch.randn((1, *spec.input), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = network(x).numpy()
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    assert got.shape == expected.shape == (1, spec.num_classes)
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale)
