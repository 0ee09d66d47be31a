"""Every shipped spec starts its weights as its library's init function does, layer by layer, the
auxiliary heads included: each tensor of a freshly built module has the mean and standard
deviation of the library's distribution for it, within sampling error, and the ONNX model's
initial weights (netgen.backends.init) follow the same rule.

The rules are written here from the libraries' source, not from the specs:
- torchvision's GoogLeNet._initialize_weights: trunc_normal_(std=0.01, a=-2, b=2) for every
  conv and linear weight, batch norm at 1 and 0, linear biases left at PyTorch's default;
- torchvision's Inception3.__init__: the same with std 0.1, but a module's own `stddev`, which
  InceptionAux gives its fc (0.001) and its conv1 BasicConv2d (0.01, a module the loop never
  starts: its nn.Conv2d gets 0.1);
- timm's InceptionV4 and InceptionResnetV2, and pretrainedmodels' BNInception: PyTorch's defaults
  (no init function);
- the BVLC Caffe GoogLeNet (train_val.prototxt): xavier weights, 0.2 biases, 0 for the classifiers;
- inception-fact7-cifar10.yaml, a design with no library: its own init, as it declares it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from netgen.backends.init import initial_weights
from tests.conftest import SPECS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _torch_default(fan_in: int):
    # kaiming_uniform_(a=sqrt(5)) for weights and uniform(+-1/sqrt(fan_in)) for biases: both U(+-1/sqrt(fan_in))
    bound = 1.0 / math.sqrt(fan_in)
    return ("uniform", bound)


def torchvision_googlenet(name: str, kind: str, role: str, fan_in: int):
    if kind == "bn":
        return ("constant", 1.0 if role == "weight" else 0.0)
    if role == "weight":
        return ("normal", 0.01)
    return _torch_default(fan_in)


def torchvision_inception3(name: str, kind: str, role: str, fan_in: int):
    if kind == "bn":
        return ("constant", 1.0 if role == "weight" else 0.0)
    if role == "weight":
        return ("normal", 0.001 if name == "AuxLogits.fc" else 0.1)
    return _torch_default(fan_in)


def timm_default(name: str, kind: str, role: str, fan_in: int):
    if kind == "bn":
        return ("constant", 1.0 if role == "weight" else 0.0)
    return _torch_default(fan_in)


def caffe_googlenet(name: str, kind: str, role: str, fan_in: int):
    if kind == "bn":
        return ("constant", 1.0 if role == "weight" else 0.0)
    if role == "weight":
        return ("uniform", math.sqrt(3.0 / fan_in))  # Caffe's "xavier" filler
    classifier = name == "fc" or name.endswith(".fc2")  # loss3/classifier, loss1/classifier, loss2/classifier
    return ("constant", 0.0 if classifier else 0.2)


def declared_trunc_normal(name: str, kind: str, role: str, fan_in: int):
    # A design of netgen's own, with no library: its spec's init, trunc_normal std 0.1, biases 0
    if kind == "bn":
        return ("constant", 1.0 if role == "weight" else 0.0)
    return ("normal", 0.1) if role == "weight" else ("constant", 0.0)


def timm_inception_next(name: str, kind: str, role: str, fan_in: int):
    # timm's MetaNeXt._init_weights: trunc_normal_(std=0.02) for every conv and linear weight, biases 0
    if kind == "bn":
        return ("constant", 1.0 if role == "weight" else 0.0)
    return ("normal", 0.02) if role == "weight" else ("constant", 0.0)


RULES = {
    "googlenet-bn.yaml": torchvision_googlenet,
    "inception-v2.yaml": torchvision_googlenet,  # started as torchvision's GoogLeNet, which it varies
    "inception-v3.yaml": torchvision_inception3,
    "inception-v4.yaml": timm_default,
    "inception-resnet-v2.yaml": timm_default,
    "bn-inception.yaml": timm_default,  # pretrainedmodels' BNInception has no init function either
    "googlenet.yaml": caffe_googlenet,
    "googlenet-w05.yaml": caffe_googlenet,
    "googlenet-cifar10.yaml": caffe_googlenet,
    "inception-fact7-cifar10.yaml": declared_trunc_normal,
    "inception-next-atto.yaml": timm_inception_next,
    "inception-next-tiny.yaml": timm_inception_next,
    "se-bn-inception.yaml": timm_default,  # BN-Inception's port, and the SE layers PyTorch's defaults
}


# Specs whose library's init `init:` cannot say yet, and what it would have to say.
UNSAID = {
    "xception.yaml": "timm's Xception starts every conv from kaiming_normal_(mode='fan_out', "
    "nonlinearity='relu') and its fc from PyTorch's default; the spec starts every layer from PyTorch's default",
}


def test_every_shipped_spec_has_its_librarys_rule():
    assert sorted([*RULES, *UNSAID]) == sorted(path.name for path in SPECS.glob("*.yaml"))


def _tensors(network: nn.Module):
    """(module name, kind, role, fan_in, values) for every weight and bias that an init function starts."""
    for name, module in network.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()
            yield name, "weighted", "weight", fan_in, module.weight
            if module.bias is not None:
                yield name, "weighted", "bias", fan_in, module.bias
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)):  # a norm starts at 1 and 0
            yield name, "bn", "weight", 0, module.weight
            yield name, "bn", "bias", 0, module.bias


def _check(name: str, role: str, rule, values: np.ndarray) -> None:
    what = f"{name}.{role}"
    if rule[0] == "constant":
        assert np.all(values == np.float32(rule[1])), what
        return
    values = values.astype(np.float64).ravel()
    # A normal's standard deviation has a sampling error of std / sqrt(2n); a uniform's, std / sqrt(5n)
    # (its kurtosis is 1.8). Five of them, and the mean within five of its own, std / sqrt(n).
    n = values.size
    std = rule[1] / math.sqrt(3.0) if rule[0] == "uniform" else rule[1]
    error = std / math.sqrt(2 * n if rule[0] == "normal" else 5 * n)
    assert abs(values.std() - std) <= 5 * error, f"{what}: std {values.std():.3g}, expected {std:.3g} +- {error:.2g}"
    assert abs(values.mean()) <= 5 * std / math.sqrt(n), f"{what}: mean {values.mean():.3g}"
    if rule[0] == "uniform":
        assert np.abs(values).max() <= rule[1] * (1 + 1e-6), what


@pytest.mark.slow
@pytest.mark.parametrize("spec_name", sorted(RULES))
def test_a_fresh_module_starts_as_its_library_does(spec_name, generate):
    generated = generate(SPECS / spec_name)
    torch.manual_seed(0)
    network = generated.network()
    rule = RULES[spec_name]
    checked = 0
    for name, kind, role, fan_in, tensor in _tensors(network):
        _check(name, role, rule(name, kind, role, fan_in), tensor.detach().numpy())
        checked += 1
    assert checked == len([key for key in network.state_dict() if key.endswith((".weight", ".bias"))])


@pytest.mark.parametrize("spec_name", ["inception-v3.yaml", "googlenet-bn.yaml", "inception-v4.yaml"])
def test_the_onnx_models_initial_weights_follow_the_same_rule(spec_name, generate):
    generated = generate(SPECS / spec_name)
    weights = initial_weights(generated.spec, generated.graph, generated.layout)
    network = generated.network()
    rule = RULES[spec_name]
    for name, kind, role, fan_in, _ in _tensors(network):
        key = f"{name}.{role}" if name else role
        if key in weights:  # the ONNX model holds the trunk's weights; the heads are PyTorch's
            _check(name, role, rule(name, kind, role, fan_in), weights[key])
