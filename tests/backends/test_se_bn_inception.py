"""SE-BN-Inception (specs/se-bn-inception.yaml): BN-Inception in the Caffe port's layout with a
squeeze-and-excitation block after each module, as the SENet authors' SE-BN-Inception.prototxt
places them. No library ships its state_dict, so the expected key list is BN-Inception's
(specs/reference/caffe-bn-inception-state-dict.tsv) with each SE block's two 1x1 convolutions put
after its module, and the parameter count is BN-Inception's plus theirs, counted here by hand.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from netgen.backends.onnx_backend import build_onnx
from tests.backends.test_library_parity import read_key_list
from tests.backends.test_onnx import assert_logits_match, outputs
from tests.conftest import SPECS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BN_INCEPTION_PARAMS = 11_295_240
BN_INCEPTION_MACS = 2_032_600_064

# Each module's output channels, which its SE block gates: the prototxt's `inception_<m>_1x1_up`
# num_output values (Figure 5's rows, with 4c and 4d at 608 and 4e at 1056 as the port computes them).
SE_CHANNELS = {
    "3a": 256,
    "3b": 320,
    "3c": 576,
    "4a": 576,
    "4b": 576,
    "4c": 608,
    "4d": 608,
    "4e": 1056,
    "5a": 1024,
    "5b": 1024,
}
REDUCTION = 16


def _se_keys(module: str, channels: int) -> dict[str, tuple[int, ...]]:
    squeezed = channels // REDUCTION
    prefix = f"inception_{module}_se"
    return {
        f"{prefix}_1x1_down.weight": (squeezed, channels, 1, 1),
        f"{prefix}_1x1_down.bias": (squeezed,),
        f"{prefix}_1x1_up.weight": (channels, squeezed, 1, 1),
        f"{prefix}_1x1_up.bias": (channels,),
    }


def expected_key_list() -> dict[str, tuple[int, ...]]:
    """BN-Inception's keys in order, each module's SE block after the module's own keys, and the
    classifier named as the prototxt names it."""
    base = read_key_list("caffe-bn-inception-state-dict.tsv")
    keys = list(base)
    expected: dict[str, tuple[int, ...]] = {}
    for index, key in enumerate(keys):
        name = key.replace("last_linear.", "classifier.", 1) if key.startswith("last_linear.") else key
        expected[name] = base[key]
        for module, channels in SE_CHANNELS.items():
            prefix = f"inception_{module}_"
            following = keys[index + 1] if index + 1 < len(keys) else ""
            if key.startswith(prefix) and not following.startswith(prefix):
                expected.update(_se_keys(module, channels))
    return expected


def se_parameters() -> int:
    # Each block: a 1x1 conv C -> C/16 with bias, and one C/16 -> C with bias.
    return sum(2 * c * (c // REDUCTION) + c // REDUCTION + c for c in SE_CHANNELS.values())


@pytest.fixture(scope="module")
def se_net(generate):
    generated = generate(SPECS / "se-bn-inception.yaml")
    torch.manual_seed(0)
    return generated, generated.network().eval()


def test_the_state_dict_is_bn_inception_s_with_each_se_block_after_its_module(se_net):
    _, network = se_net
    expected = expected_key_list()
    assert len(expected) == 485 + 4 * len(SE_CHANNELS)
    actual = {key: tuple(value.shape) for key, value in network.state_dict().items()}
    assert list(actual) == list(expected)
    assert actual == expected


def test_the_parameter_count_is_bn_inception_s_plus_the_se_blocks(se_net):
    generated, network = se_net
    assert se_parameters() == 646_398
    assert sum(parameter.numel() for parameter in network.parameters()) == BN_INCEPTION_PARAMS + se_parameters()
    assert generated.module.PARAMS == BN_INCEPTION_PARAMS + se_parameters() == 11_941_638
    # The SE blocks' multiply-adds: their two 1x1 convolutions, on 1x1 maps.
    se_macs = sum(2 * c * (c // REDUCTION) for c in SE_CHANNELS.values())
    assert generated.module.MACS == BN_INCEPTION_MACS + se_macs == 2_033_239_424


def _randomized(network: torch.nn.Module) -> torch.nn.Module:
    """Weights and batch norm statistics away from their defaults, so that every gate differs."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for key, value in network.state_dict().items():
            if key.endswith("running_var"):
                value.copy_(torch.rand(value.shape, generator=generator) + 0.5)
            elif value.is_floating_point():
                value.copy_(torch.randn(value.shape, generator=generator) * 0.05)
    return network


@pytest.mark.slow
def test_one_se_block_computes_the_hand_written_squeeze_and_excitation(se_net):
    # Inception 4c's SE block, seen through hooks: what the module gives it, and what 4d reads.
    _, network = se_net
    network = _randomized(network)
    seen = {}

    def keep(name):
        def hook(module, args):
            seen[name] = args[0].clone()  # and return None: the module runs on its input unchanged

        return hook

    hooks = [
        network.inception_4c_se_global_pool.register_forward_pre_hook(keep("in")),
        network.inception_4d_1x1.register_forward_pre_hook(keep("out")),
    ]
    x = torch.randn((1, 3, 224, 224), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        network(x)
        for hook in hooks:
            hook.remove()
        features = seen["in"]
        assert features.shape == (1, 608, 14, 14)
        down, up = network.inception_4c_se_1x1_down, network.inception_4c_se_1x1_up
        squeezed = features.mean(dim=(2, 3))  # N x C
        hidden = F.relu(squeezed @ down.weight.flatten(1).T + down.bias)  # N x C/16
        gate = torch.sigmoid(hidden @ up.weight.flatten(1).T + up.bias)  # N x C
        expected = features * gate[:, :, None, None]
    assert down.weight.shape == (38, 608, 1, 1)
    assert float(gate.std()) > 0.01  # the gate is not a constant that any scaling would match
    torch.testing.assert_close(seen["out"], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_onnx_runtime_computes_what_the_pytorch_module_computes(se_net):
    generated, network = se_net
    network = _randomized(network)
    spec, graph, layout = generated.spec, generated.graph, generated.layout
    state = {key: value.detach().numpy() for key, value in network.state_dict().items()}
    model = build_onnx(spec, graph, layout, state_dict=state)
    x = torch.randn((2, *spec.input), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = network(x).numpy()
    got = outputs(model, x.numpy())["logits"]
    assert got.shape == expected.shape == (2, spec.num_classes)
    assert_logits_match(got, expected)
