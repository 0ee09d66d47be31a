"""timm's model interface on every generated classifier, held to the contract as timm's models keep
it (timm/models/inception_v3.py, inception_v4.py, inception_resnet_v2.py, _features.py):

- forward(x) is forward_head(forward_features(x)); forward_features gives the last feature map,
  num_features channels; forward_head(x, pre_logits=True) the head_hidden_size features the
  classifier reads; get_classifier() is that classifier; reset_classifier(n) replaces it (n = 0:
  nn.Identity, so that forward returns the pre-logits features);
- feature_info lists the stages as dicts of num_chs, reduction (non-decreasing) and module, the
  module whose output the stage is; the library specs list timm's own stages;
- feature_extractor(out_indices) returns those feature maps as a list (features_only=True), keeps
  the modules they need under their names, and its feature_info lists what it returns;
- pretrained_cfg carries the data config timm's resolve_data_config reads.

timm cannot be installed beside this torch, so its values are written here from its source.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.conftest import SPECS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The stages timm's models declare (num_chs, reduction, module), and the data config of their
# default_cfgs entries; torchvision's GoogLeNet and Inception-v3 with the transforms of their weights.
IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
INCEPTION = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
LIBRARY = {
    "inception-v3.yaml": (
        [
            (64, 2, "Conv2d_2b_3x3"),
            (192, 4, "Conv2d_4a_3x3"),
            (288, 8, "Mixed_5d"),
            (768, 16, "Mixed_6e"),
            (2048, 32, "Mixed_7c"),
        ],
        {
            "input_size": (3, 299, 299),
            "interpolation": "bilinear",
            "crop_pct": 0.874269,
            **IMAGENET,
            "classifier": "fc",
            "first_conv": "Conv2d_1a_3x3.conv",
        },
    ),
    "inception-v4.yaml": (
        [
            (64, 2, "features.2"),
            (160, 4, "features.3"),
            (384, 8, "features.9"),
            (1024, 16, "features.17"),
            (1536, 32, "features.21"),
        ],
        {
            "input_size": (3, 299, 299),
            "interpolation": "bicubic",
            "crop_pct": 0.875,
            **INCEPTION,
            "classifier": "last_linear",
            "first_conv": "features.0.conv",
        },
    ),
    "inception-resnet-v2.yaml": (
        [
            (64, 2, "conv2d_2b"),
            (192, 4, "conv2d_4a"),
            (320, 8, "repeat"),
            (1088, 16, "repeat_1"),
            (1536, 32, "conv2d_7b"),
        ],
        {
            "input_size": (3, 299, 299),
            "interpolation": "bicubic",
            "crop_pct": 0.8975,
            **INCEPTION,
            "classifier": "classif",
            "first_conv": "conv2d_1a.conv",
        },
    ),
    "googlenet-bn.yaml": (
        [
            (64, 2, "conv1"),
            (192, 4, "conv3"),
            (480, 8, "inception3b"),
            (832, 16, "inception4e"),
            (1024, 32, "inception5b"),
        ],
        {
            "input_size": (3, 224, 224),
            "interpolation": "bilinear",
            "crop_pct": 0.875,
            **IMAGENET,
            "classifier": "fc",
            "first_conv": "conv1.conv",
        },
    ),
}


# BN-Inception keeps Caffe's flat layout: a layer's output is computed in forward() (a bare conv's
# batch norm and ReLU, an inline block's concatenation, SE-BN-Inception's gate), so no module's
# output is a stage to name.
NO_STAGES = {"bn-inception.yaml", "se-bn-inception.yaml"}


@pytest.fixture(scope="module", params=sorted(SPECS.glob("*.yaml")), ids=lambda path: path.stem)
def shipped(request, generate):
    return generate(request.param)


@pytest.mark.parametrize("name", ["inception-next-atto.yaml", "inception-next-tiny.yaml"])
def test_a_classifier_head_written_as_a_block_splits_as_timms_mlp_classifier_head(name, generate):
    """InceptionNeXt's head is a block (timm's MlpClassifierHead: pool, fc1, GELU, LayerNorm, fc2):
    forward_head(pre_logits=True) stops before fc2, which get_classifier() and reset_classifier() reach."""
    generated = generate(SPECS / name)
    network = _network(generated)
    width = network.feature_info[-1]["num_chs"]
    assert [(stage["num_chs"], stage["reduction"], stage["module"]) for stage in network.feature_info] == [
        (width // 8, 4, "stages.0"),
        (width // 4, 8, "stages.1"),
        (width // 2, 16, "stages.2"),
        (width, 32, "stages.3"),
    ]
    assert network.get_classifier() is network.head.fc2
    assert network.pretrained_cfg["classifier"] == "head.fc2" and network.pretrained_cfg["first_conv"] == "stem.0"
    assert network.num_features == width and network.head_hidden_size == 3 * width
    x = torch.randn(2, *generated.spec.input)
    with torch.no_grad():
        features = network.forward_features(x)
        assert torch.equal(network.forward_head(features), network.head(features))
        pre = network.forward_head(features, pre_logits=True)
        assert pre.shape == (2, 3 * width)
        assert torch.equal(network.head.fc2(pre), network(x))


def _network(generated, **kwargs):
    torch.manual_seed(0)
    return generated.network(**kwargs).eval()


def test_feature_info_is_timms_contract(shipped):
    network = _network(shipped)
    modules = dict(network.named_modules())
    info = network.feature_info
    if shipped.spec.path.rsplit("/", 1)[-1] in NO_STAGES:
        assert info == [] and network.feature_extractor()(torch.zeros(1, *shipped.spec.input)) == []
        return
    assert len(info) >= 1
    previous = 1
    for stage in info:
        assert set(stage) >= {"num_chs", "reduction", "module"}
        assert stage["num_chs"] > 0 and stage["reduction"] >= previous  # timm's FeatureInfo asserts both
        previous = stage["reduction"]
        assert stage["module"] in modules
    assert info.channels() == [stage["num_chs"] for stage in info]
    assert info.reduction() == [stage["reduction"] for stage in info]
    assert info.module_name() == [stage["module"] for stage in info]
    assert info[-1]["num_chs"] == network.num_features
    name = shipped.spec.path.rsplit("/", 1)[-1]
    if name in LIBRARY:
        assert [(stage["num_chs"], stage["reduction"], stage["module"]) for stage in info] == LIBRARY[name][0]


def test_pretrained_cfg_holds_the_librarys_data_config(shipped):
    network = _network(shipped)
    config = network.pretrained_cfg
    assert config == shipped.module.PRETRAINED_CFG and config is not shipped.module.PRETRAINED_CFG
    assert config["input_size"] == tuple(shipped.spec.input)
    assert config["num_classes"] == shipped.spec.num_classes
    assert config["classifier"] in dict(network.named_modules())
    assert isinstance(dict(network.named_modules())[config["first_conv"]], nn.Conv2d)
    name = shipped.spec.path.rsplit("/", 1)[-1]
    if name in LIBRARY:
        expected = LIBRARY[name][1]
        assert {key: config[key] for key in expected} == expected


@pytest.mark.slow
def test_forward_is_forward_head_of_forward_features(shipped):
    spec = shipped.spec
    network = _network(shipped)
    x = torch.randn(1, *spec.input, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        features = network.forward_features(x)
        logits = network(x)
        pre_logits = network.forward_head(features, pre_logits=True)
        assert torch.equal(network.forward_head(features), logits)
        assert torch.equal(network.get_classifier()(pre_logits), logits)
    assert features.shape == (1, network.num_features, *network.pretrained_cfg["pool_size"])
    assert pre_logits.shape == (1, network.head_hidden_size)
    assert logits.shape == (1, network.num_classes)


@pytest.mark.slow
def test_reset_classifier_replaces_every_classifier(shipped):
    spec = shipped.spec
    network = _network(shipped)
    x = torch.randn(1, *spec.input, generator=torch.Generator().manual_seed(2))
    classifier = network.get_classifier()
    network.reset_classifier(7)
    assert network.num_classes == 7
    new = network.get_classifier()
    assert isinstance(new, nn.Linear) and new is not classifier
    assert (new.in_features, new.out_features) == (network.head_hidden_size, 7)
    with torch.no_grad():
        features = network.forward_features(x)
        assert network.forward_head(features).shape == (1, 7)
        if spec.heads:  # the heads' classifiers follow, so that training_loss works
            outputs = network.train()(torch.cat([x, x]))
            assert [tuple(output.shape) for output in outputs] == [(2, 7)] * len(outputs)
            assert shipped.module.training_loss(outputs, torch.tensor([0, 6])).isfinite()
    network.eval().reset_classifier(0)
    assert isinstance(network.get_classifier(), nn.Identity)
    with torch.no_grad():
        assert torch.equal(network.forward_head(features), network.forward_head(features, pre_logits=True))


def _hooked(network: nn.Module, names: list[str], x: torch.Tensor) -> list[torch.Tensor]:
    """What each named module outputs in one forward: the meaning of a module name in
    torchvision's create_feature_extractor and in timm's feature_info."""
    modules = dict(network.named_modules())
    seen: dict[str, torch.Tensor] = {}
    handles = [
        modules[name].register_forward_hook(lambda _m, _i, out, name=name: seen.setdefault(name, out)) for name in names
    ]
    with torch.no_grad():
        network(x)
    for handle in handles:
        handle.remove()
    return [seen[name] for name in names]


@pytest.mark.slow
def test_feature_extractor_returns_the_stages_as_features_only_does(shipped):
    spec = shipped.spec
    if spec.path.rsplit("/", 1)[-1] in NO_STAGES:
        pytest.skip("no stage to extract")
    network = _network(shipped)
    everything = network.feature_extractor()
    assert everything.feature_info.module_name() == network.feature_info.module_name()
    last_two = network.feature_extractor(out_indices=(-2, -1))
    assert network.feature_extractor(2).feature_info == last_two.feature_info  # timm: an int n is the last n
    assert [stage["index"] for stage in last_two.feature_info] == [
        len(network.feature_info) - 2,
        len(network.feature_info) - 1,
    ]
    x = torch.randn(1, *spec.input, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        maps = everything(x)
    assert isinstance(maps, list) and len(maps) == len(network.feature_info)
    for stage, tensor in zip(network.feature_info, maps, strict=True):
        assert tensor.shape[1] == stage["num_chs"]
    expected = _hooked(network, network.feature_info.module_name(), x)
    for got, want in zip(maps, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    if network.feature_info[-1]["num_chs"] == network.num_features:  # the last stage is the features' end
        with torch.no_grad():
            assert torch.equal(maps[-1], network.forward_features(x))
    # Pruned: nothing after the last stage, no classifier and no head; the rest under its own names.
    first = network.feature_extractor(out_indices=(0,))
    keys = set(first.state_dict())
    assert keys and keys <= set(network.state_dict())
    classifier = network.pretrained_cfg["classifier"]
    assert not any(key.startswith(f"{classifier}.") for key in keys)
    assert not any(key.startswith(tuple(f"{head.name}." for head in spec.heads)) for key in everything.state_dict())
    assert len(keys) < len(set(everything.state_dict()))


@pytest.mark.slow
def test_feature_extractor_shares_the_networks_modules_and_mode(generate):
    generated = generate(SPECS / "googlenet-bn.yaml")
    network = _network(generated).train()
    extractor = network.feature_extractor((1, 3))
    assert extractor.training  # in training mode the heads would run: they are left out all the same
    assert not any(key.startswith(("aux1.", "aux2.")) for key in extractor.state_dict())
    with torch.no_grad():
        network.conv1.conv.weight.mul_(2.0)
    assert torch.equal(extractor.state_dict()["conv1.conv.weight"], network.conv1.conv.weight)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(4))
    network.eval()
    extractor.eval()
    with torch.no_grad():
        maps = extractor(x)
    assert [tuple(m.shape) for m in maps] == [(2, 192, 56, 56), (2, 832, 14, 14)]
    scripted = torch.jit.script(extractor)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(scripted(x), maps, strict=True))


@pytest.mark.slow
def test_the_interface_survives_torch_jit_script(generate):
    generated = generate(SPECS / "inception-v3.yaml")
    network = _network(generated)
    scripted = torch.jit.script(network)
    x = torch.randn(1, 3, 299, 299, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), network(x), rtol=0, atol=0)
