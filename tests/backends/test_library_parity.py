"""The Inception family as the libraries ship it: each spec's generated module has exactly the
library's state_dict keys and shapes in the library's order (specs/reference/*.tsv, read from
torchvision, timm and the Caffe port of BN-Inception, pretrainedmodels' bninception), its
parameter count, loads a state_dict of those shapes strictly, resumes an optimizer's checkpoint
made in the library's order, and computes in PyTorch what its ONNX model computes in onnxruntime.

These are big networks: each is compiled and rendered once per session, and runs on one image.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from netgen.backends.onnx_backend import build_onnx
from tests.backends.test_onnx import assert_logits_match, outputs
from tests.conftest import SPECS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BUFFERS = ("running_mean", "running_var", "num_batches_tracked")

LIBRARIES = {
    # spec: (key list, parameters without heads, with heads)
    "googlenet-bn.yaml": ("torchvision-googlenet-state-dict.tsv", 6_624_904, 13_004_888),
    "inception-v3.yaml": ("torchvision-inception-v3-state-dict.tsv", 23_834_568, 27_161_264),
    "inception-v4.yaml": ("timm-inception-v4-state-dict.tsv", 42_679_816, 42_679_816),
    "inception-resnet-v2.yaml": ("timm-inception-resnet-v2-state-dict.tsv", 55_843_464, 55_843_464),
    "bn-inception.yaml": ("caffe-bn-inception-state-dict.tsv", 11_295_240, 11_295_240),
    "inception-next-atto.yaml": ("timm-inception-next-atto-state-dict.tsv", 4_156_520, 4_156_520),
    "inception-next-tiny.yaml": ("timm-inception-next-tiny-state-dict.tsv", 28_055_680, 28_055_680),
    "xception.yaml": ("timm-legacy-xception-state-dict.tsv", 22_855_952, 22_855_952),
}


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


def test_state_dict_keys_and_shapes_are_the_librarys_in_its_order(library_net):
    spec_name, _, network = library_net
    expected = read_key_list(LIBRARIES[spec_name][0])
    actual = {key: tuple(value.shape) for key, value in network.state_dict().items()}
    assert sorted(set(expected) - set(actual)) == [], "keys the library has and the module lacks"
    assert sorted(set(actual) - set(expected)) == [], "keys the module has and the library lacks"
    assert {key: actual[key] for key in expected if actual[key] != expected[key]} == {}
    # The order too: optimizers, EMA copies and pruning tools pair parameters by position.
    first = next((index for index, (a, b) in enumerate(zip(actual, expected, strict=True)) if a != b), None)
    assert first is None, f"entry {first}: {list(actual)[first]} where the library has {list(expected)[first]}"
    parameters = [key for key in expected if not key.endswith(BUFFERS)]
    assert [name for name, _ in network.named_parameters()] == parameters


def library_ordered(shapes: dict[str, tuple[int, ...]], tensors: dict[str, torch.Tensor]) -> nn.Module:
    """A module that registers the library's parameters and buffers in the key list's order, module by
    module, as the library's __init__ does: its parameters() are what the library hands an optimizer."""
    root = nn.Module()
    for key in shapes:
        *path, name = key.split(".")
        module = root
        for part in path:
            if part not in module._modules:
                module.add_module(part, nn.Module())
            module = module._modules[part]
        value = tensors[key].clone()
        if key.endswith(BUFFERS):
            module.register_buffer(name, value)
        else:
            module.register_parameter(name, nn.Parameter(value))
    return root


def _random_state(shapes: dict[str, tuple[int, ...]], seed: int, std: float = 0.05) -> dict[str, torch.Tensor]:
    """Random weights of these shapes (std `std`), running variances from 0.5 to 1.5."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(100)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[key] = torch.randn(shape, generator=generator) * std
    return state


def random_state_dict(key_list: str, seed: int, std: float) -> dict[str, torch.Tensor]:
    """Random weights of a key list's shapes."""
    return _random_state(read_key_list(key_list), seed, std)


OPTIMIZERS = {
    "sgd-momentum": lambda parameters: torch.optim.SGD(parameters, lr=0.1, momentum=0.9, weight_decay=1e-4),
    "adam": lambda parameters: torch.optim.Adam(parameters, lr=1e-3),
}


@pytest.fixture(scope="module")
def training_step(library_net):
    """The gradients of one real training step of the generated module (batch 2, training mode,
    training_loss), by parameter name: what a resumed run computes next."""
    spec_name, generated, _ = library_net
    shapes = read_key_list(LIBRARIES[spec_name][0])
    state = _random_state(shapes, seed=3)
    model = generated.network()
    model.load_state_dict(state)
    images = torch.randn((2, *generated.spec.input), generator=torch.Generator().manual_seed(4))
    target = torch.tensor([1, 7])
    torch.manual_seed(5)
    outputs = model.train()(images)
    if isinstance(outputs, torch.Tensor):  # a network without heads
        nn.functional.cross_entropy(outputs, target).backward()
    else:
        generated.module.training_loss(outputs, target).backward()
    gradients = {name: parameter.grad.clone() for name, parameter in model.named_parameters()}
    return shapes, state, gradients


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_a_checkpoint_made_in_the_librarys_order_resumes(library_net, training_step, optimizer):
    """Train one step in the library's module order and save model and optimizer, as a torchvision or
    timm training script does; resume both in the generated module and step again: every parameter
    and every optimizer state equals the library's after the same step."""
    _, generated, _ = library_net
    shapes, state, gradients = training_step
    make = OPTIMIZERS[optimizer]
    library = library_ordered(shapes, state)
    assert list(library.state_dict()) == list(shapes)  # the reference is in the library's order
    generator = torch.Generator().manual_seed(6)
    first = {name: torch.randn(parameter.shape, generator=generator) for name, parameter in library.named_parameters()}
    library_optimizer = make(library.parameters())
    for name, parameter in library.named_parameters():
        parameter.grad = first[name]
    library_optimizer.step()
    checkpoint = copy.deepcopy({"model": library.state_dict(), "optimizer": library_optimizer.state_dict()})

    model = generated.network()
    model.load_state_dict(checkpoint["model"], strict=True)
    resumed = make(model.parameters())
    resumed.load_state_dict(checkpoint["optimizer"])
    for name, parameter in model.named_parameters():
        parameter.grad = gradients[name]
    resumed.step()
    for name, parameter in library.named_parameters():
        parameter.grad = gradients[name]
    library_optimizer.step()

    got = dict(model.named_parameters())
    differ = [name for name, parameter in library.named_parameters() if not torch.equal(got[name], parameter)]
    assert differ == [], f"{len(differ)} parameters differ from the library's step, first {differ[:3]}"
    ours, theirs = resumed.state_dict()["state"], library_optimizer.state_dict()["state"]
    for index, name in enumerate(name for name, _ in library.named_parameters()):
        for slot, value in theirs[index].items():
            assert torch.equal(ours[index][slot], value), f"{name}: {slot}"


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
    weights = _random_state(read_key_list(LIBRARIES[spec_name][0]), seed=1)
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
    got = outputs(model, x.numpy())["logits"]
    assert got.shape == expected.shape == (1, spec.num_classes)
    assert_logits_match(got, expected)
