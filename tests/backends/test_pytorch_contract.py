"""The generated module as code people already have expects it: logits from forward(), named training
outputs, one weighted loss, torchvision's transform_input, and every way PyTorch runs a module
(TorchScript, torch.compile, torch.export, torch.fx, pickling, deepcopy)."""

from __future__ import annotations

import copy
import inspect
import pickle

import pytest
import torch
import torch.nn.functional as F

from tests.backends.test_pytorch import BLOCKS, OPS
from tests.conftest import SPECS

pytestmark = pytest.mark.usefixtures("one_torch_thread")
# torch 2.13 deprecates TorchScript, but torchvision's models still promise to script; so do ours.
scripting = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# torchvision.models.GoogLeNet: `GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])`.
TORCHVISION_FIELDS = ("logits", "aux_logits2", "aux_logits1")


def torchvision_transform_input(x: torch.Tensor) -> torch.Tensor:
    """torchvision/models/googlenet.py, GoogLeNet._transform_input with transform_input=True."""
    x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
    x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
    x_ch2 = torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
    return torch.cat((x_ch0, x_ch1, x_ch2), 1)


@pytest.fixture(scope="module")
def googlenet_bn(generate):
    return generate(SPECS / "googlenet-bn.yaml")


@pytest.fixture(scope="module")
def blocks(tmp_path_factory, generate):
    path = tmp_path_factory.mktemp("contract") / "blocks.yaml"
    path.write_text(BLOCKS)
    return generate(path)


@pytest.fixture(scope="module")
def ops(tmp_path_factory, generate):
    path = tmp_path_factory.mktemp("contract") / "ops.yaml"
    path.write_text(OPS)
    return generate(path)


def fc_output(model, images: torch.Tensor) -> tuple[object, torch.Tensor]:
    """forward()'s result and, recorded by a hook, what the classifier `fc` computed in it."""
    seen = []
    hook = model.fc.register_forward_hook(lambda _module, _args, output: seen.append(output))
    try:
        result = model(images)
    finally:
        hook.remove()
    return result, seen[-1]


# -- the output contract ---------------------------------------------------------------------------


def test_forward_returns_the_logits_in_every_mode(generated_googlenet):
    spec = generated_googlenet.spec
    torch.manual_seed(0)
    model = generated_googlenet.network()
    images = torch.randn(2, *spec.input)
    with torch.no_grad():
        model.eval()
        logits, fc = fc_output(model, images)
        assert torch.equal(logits, fc)
        model.train()
        outputs, fc = fc_output(model, images)
        assert torch.equal(outputs.logits, fc)
        assert torch.allclose(model.eval().predict(images), F.softmax(model(images), dim=1))


def test_one_loss_weights_every_output_as_the_spec_says(generated_googlenet):
    spec, layout, module = generated_googlenet.spec, generated_googlenet.layout, generated_googlenet.module
    assert module.LOSS_WEIGHTS == {"logits": 1.0, **{layout.top[head.name]: head.loss_weight for head in spec.heads}}
    torch.manual_seed(0)
    model = generated_googlenet.network().train()
    images, target = torch.randn(2, *spec.input), torch.randint(0, spec.num_classes, (2,))
    outputs = model(images)
    expected = F.cross_entropy(outputs.logits, target)
    for head in spec.heads:
        expected = expected + head.loss_weight * F.cross_entropy(getattr(outputs, layout.top[head.name]), target)
    assert torch.allclose(module.training_loss(outputs, target), expected)
    # From eval mode forward() gives the logits alone: the loss is theirs.
    with torch.no_grad():
        logits = model.eval()(images)
    assert torch.allclose(module.training_loss(logits, target), F.cross_entropy(logits, target))


def test_googlenet_bn_returns_torchvision_outputs_in_its_order(googlenet_bn):
    outputs_class = googlenet_bn.module.GoogLeNetOutputs
    assert outputs_class._fields == TORCHVISION_FIELDS
    assert list(googlenet_bn.module.LOSS_WEIGHTS) == list(TORCHVISION_FIELDS)
    torch.manual_seed(0)
    model = googlenet_bn.network().train()
    seen = {}
    for name in ("aux1", "aux2"):
        getattr(model, name).register_forward_hook(lambda _m, _a, output, name=name: seen.__setitem__(name, output))
    with torch.no_grad():
        outputs, fc = fc_output(model, torch.randn(2, 3, 224, 224))
    assert type(outputs) is outputs_class
    # torchvision's order: code that unpacks `x, aux2, aux1 = model(x)` gets each head where it expects it.
    x, aux2, aux1 = outputs
    assert torch.equal(x, fc) and torch.equal(aux2, seen["aux2"]) and torch.equal(aux1, seen["aux1"])


def test_googlenet_bn_transform_input_is_torchvisions(googlenet_bn):
    cls = getattr(googlenet_bn.module, googlenet_bn.layout.network_class)
    assert inspect.signature(cls).parameters["transform_input"].default is False  # as torchvision's
    torch.manual_seed(0)
    plain = cls(aux_logits=False).eval()
    # The classifier's bias starts as torchvision leaves it (PyTorch's uniform), which would outweigh
    # what the small trunk weights pass on: without it the logits are the trunk's.
    torch.nn.init.zeros_(plain.fc.bias)
    transformed = cls(aux_logits=False, transform_input=True).eval()
    transformed.load_state_dict(plain.state_dict())
    images = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        got, expected, untransformed = transformed(images), plain(torchvision_transform_input(images)), plain(images)
    # The initial weights are small (trunc_normal, std 0.01): compare relative to the outputs' size.
    scale = expected.abs().max()
    assert (got - expected).abs().max() <= 1e-4 * scale
    assert (untransformed - expected).abs().max() > 1e-2 * scale


# -- every way PyTorch runs a module ---------------------------------------------------------------


def same_outputs(first, second) -> bool:
    if isinstance(first, torch.Tensor):
        return torch.allclose(first, second, atol=1e-5)
    return len(first) == len(second) and all(torch.allclose(a, b, atol=1e-5) for a, b in zip(first, second, strict=True))


@scripting
def test_torchscript_scripts_the_paper_network(generated_googlenet):
    torch.manual_seed(0)
    model = generated_googlenet.network().eval()
    scripted = torch.jit.script(model)
    images = torch.randn(1, *generated_googlenet.spec.input)
    with torch.no_grad():
        assert same_outputs(scripted(images), model(images))


@scripting
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_torchscript_keeps_training_outputs_and_heads(blocks, mode):
    torch.manual_seed(0)
    model = getattr(blocks.network(), mode)()
    scripted = torch.jit.script(model)
    images = torch.randn(2, *blocks.spec.input)
    with torch.no_grad():
        eager, script = model(images), scripted(images)
    assert same_outputs(script, eager)
    assert isinstance(eager, torch.Tensor) == (mode == "eval")


@scripting
def test_torchscript_without_heads(blocks):
    model = blocks.network(aux_logits=False).train()
    with torch.no_grad():
        assert isinstance(torch.jit.script(model)(torch.randn(2, *blocks.spec.input)), torch.Tensor)


@pytest.mark.parametrize("name", ["blocks", "ops"])
def test_fx_symbolic_trace_gives_the_eager_output(request, name):
    generated = request.getfixturevalue(name)
    torch.manual_seed(0)
    model = generated.network().eval()
    traced = torch.fx.symbolic_trace(model)
    images = torch.randn(2, *generated.spec.input)
    with torch.no_grad():
        assert same_outputs(traced(images), model(images))


def test_torch_export_gives_the_eager_output(blocks):
    torch.manual_seed(0)
    model = blocks.network().eval()
    images = torch.randn(2, *blocks.spec.input)
    exported = torch.export.export(model, (images,))
    with torch.no_grad():
        assert same_outputs(exported.module()(images), model(images))


@pytest.mark.slow
def test_torch_compile_gives_the_eager_output(blocks):
    """The default backend (Inductor) on a small network: compiling GoogLeNet would take minutes."""
    torch.manual_seed(0)
    model = blocks.network().eval()
    compiled = torch.compile(model, fullgraph=True)
    images = torch.randn(2, *blocks.spec.input)
    with torch.no_grad():
        assert same_outputs(compiled(images), model(images))


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda model: pickle.loads(pickle.dumps(model))], ids=["deepcopy", "pickle"])
def test_a_copy_computes_the_same(blocks, clone):
    torch.manual_seed(0)
    model = blocks.network().train()
    copied = clone(model)
    assert type(copied) is type(model) and copied is not model
    images = torch.randn(2, *blocks.spec.input)
    with torch.no_grad():
        torch.manual_seed(1)
        first = model(images)
        torch.manual_seed(1)
        second = copied(images)
    assert type(first) is type(second) and same_outputs(first, second)


def test_inception_v3_returns_torchvision_inception_outputs(generate):
    """torchvision: `InceptionOutputs = namedtuple("InceptionOutputs", ["logits", "aux_logits"])`."""
    generated = generate(SPECS / "inception-v3.yaml")
    assert generated.module.InceptionOutputs._fields == ("logits", "aux_logits")
    cls = getattr(generated.module, generated.layout.network_class)
    assert inspect.signature(cls).parameters["transform_input"].default is False  # Inception3's default
