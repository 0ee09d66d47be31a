"""specs/xception.yaml computes what timm's legacy_xception computes, bit for bit: on one set of
weights, the generated module and a transcription of timm's model (tests/backends/timm_xception.py)
give equal logits in eval mode, and in training mode equal logits, batch statistics and gradients;
the generated ONNX model gives the same logits in onnxruntime.

The key list, the parameter count and a strict load are tests/backends/test_library_parity.py's.
"""

from __future__ import annotations

import pytest
import torch

from netgen.backends.onnx_backend import build_onnx
from tests.backends.test_onnx import assert_logits_match, outputs
from tests.backends.timm_xception import Xception
from tests.conftest import SPECS

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def pair(generate):
    """(generated, generated network, timm's network), holding the same weights: timm's init, with
    batch norm's scale, shift and running statistics drawn too, so that none is the identity."""
    generated = generate(SPECS / "xception.yaml")
    torch.manual_seed(0)
    timm = Xception()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in timm.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                channels = module.num_features
                module.weight.copy_(torch.rand(channels, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(channels, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(channels, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
                module.num_batches_tracked.fill_(3)
    network = generated.network()
    network.load_state_dict(timm.state_dict(), strict=True)
    return generated, network, timm


def images(batch: int) -> torch.Tensor:
    return torch.randn((batch, 3, 299, 299), generator=torch.Generator().manual_seed(2))


def test_eval_logits_are_timms_bit_for_bit(pair):
    _, network, timm = pair
    x = images(1)
    with torch.no_grad():
        expected = timm.eval()(x)
        got = network.eval()(x)
    assert expected.abs().max() > 1e-3, "the weights make every logit vanish: the comparison says nothing"
    assert torch.equal(got, expected)


def test_training_step_is_timms_bit_for_bit(pair):
    """Batch statistics, the running averages they update and every gradient: the skip must see each
    block's input before the ReLU that starts its `rep`, as timm's ReLU(inplace=False) leaves it."""
    _, network, timm = pair
    x = images(2)
    before = {key: value.clone() for key, value in timm.state_dict().items()}
    outputs = []
    for model in (timm, network):
        model.load_state_dict(before, strict=True)
        model.train().zero_grad()
        logits = model(x)
        logits.square().mean().backward()
        outputs.append(logits.detach())
    assert torch.equal(outputs[1], outputs[0])
    timm_state, generated_state = timm.state_dict(), network.state_dict()
    assert [key for key in timm_state if not torch.equal(timm_state[key], generated_state[key])] == []
    assert not torch.equal(timm_state["bn4.running_mean"], before["bn4.running_mean"]), "the step updated nothing"
    timm_grads = dict(timm.named_parameters())
    differing = [key for key, p in network.named_parameters() if not torch.equal(p.grad, timm_grads[key].grad)]
    assert differing == []


def test_onnx_runtime_gives_timms_logits(pair):
    generated, network, timm = pair
    state = {key: value.detach().numpy() for key, value in network.state_dict().items()}
    model = build_onnx(generated.spec, generated.graph, generated.layout, state_dict=state)
    x = images(1)
    with torch.no_grad():
        expected = timm.eval()(x).numpy()
    got = outputs(model, x.numpy())["logits"]
    assert_logits_match(got, expected)
