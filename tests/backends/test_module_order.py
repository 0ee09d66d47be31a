"""The generated module registers its layers and heads in the order the spec writes them, so its
state_dict and parameters() come in that order: a head written among the layers (`head: true`)
sits there, one written under `heads:` after every layer. And `outputs: {when: always}` makes
forward() return the outputs in eval mode too, as timm's inception_v3 with aux_logits does."""

from __future__ import annotations

import pytest
import torch

from netgen.backends.layout import make_layout
from netgen.backends.pytorch import render_pytorch
from netgen.compile import compile_file
from tests.backends.conftest import import_source

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HEAD = """\
blocks:
  aux_head:
    params: []
    layers:
      pool: {global_avgpool: }
      flatten: {flatten: }
      fc: {linear: {out: num_classes}}
"""

AMONG_LAYERS = f"""\
name: AmongLayers
input: [3, 32, 32]
num_classes: 5
{HEAD}
layers:
  conv1: {{conv: {{out: 8, kernel: 3, pad: 1, bn: true, act: relu}}}}
  conv2: {{conv: {{out: 8, kernel: 3, stride: 2, pad: 1, act: relu}}}}
  aux2: {{aux_head: [], head: true, from: conv2, loss_weight: 0.2}}
  aux1: {{aux_head: [], head: true, from: conv1, loss_weight: 0.1}}
  conv3: {{conv: {{out: 16, kernel: 3, stride: 2, pad: 1, act: relu}}}}
  pool: {{global_avgpool: }}
  flatten: {{flatten: }}
  fc: {{linear: {{out: num_classes}}}}
heads:
  aux3: {{aux_head: [], from: conv3, loss_weight: 0.3}}
"""


def _build(write_spec, tmp_path, text: str, name: str):
    spec, graph = compile_file(str(write_spec(text, f"{name}.yaml")))
    layout = make_layout(spec, graph)
    _, module = import_source(render_pytorch(spec, graph, layout), tmp_path, name)
    return spec, module, getattr(module, layout.network_class)


def test_heads_sit_where_the_spec_writes_them(write_spec, tmp_path):
    spec, module, network_class = _build(write_spec, tmp_path, AMONG_LAYERS, "among")
    network = network_class()
    owners = list(dict.fromkeys(key.split(".")[0] for key in network.state_dict()))
    assert owners == ["conv1", "conv2", "aux2", "aux1", "conv3", "fc", "aux3"]
    assert list(dict.fromkeys(name.split(".")[0] for name, _ in network.named_parameters())) == owners
    # Where a head is registered changes nothing else: each reads its layer, and the outputs keep
    # their default order (the logits, then the heads as written).
    assert [head.name for head in spec.heads] == ["aux2", "aux1", "aux3"]
    outputs = network.train()(torch.randn(2, 3, 32, 32))
    assert outputs._fields == ("logits", "aux2", "aux1", "aux3")
    assert module.LOSS_WEIGHTS == {"logits": 1.0, "aux2": 0.2, "aux1": 0.1, "aux3": 0.3}
    bare = network_class(aux_logits=False)
    assert list(dict.fromkeys(key.split(".")[0] for key in bare.state_dict())) == ["conv1", "conv2", "conv3", "fc"]


def test_a_head_among_the_layers_does_not_feed_the_next_layer(write_spec, tmp_path):
    # conv3 follows the trunk (conv2), not the head written above it.
    spec, graph = compile_file(str(write_spec(AMONG_LAYERS)))
    assert graph.inputs("conv3") == ["conv2"]
    assert graph[graph.heads["aux1"]].shape == (5,)


ALWAYS = f"""\
name: AuxAlways
input: [3, 32, 32]
num_classes: 5
{HEAD}
layers:
  conv1: {{conv: {{out: 8, kernel: 3, pad: 1, bn: true, act: relu}}}}
  AuxLogits: {{aux_head: [], head: true, from: conv1, loss_weight: 0.4}}
  conv2: {{conv: {{out: 16, kernel: 3, stride: 2, pad: 1, act: relu}}}}
  pool: {{global_avgpool: }}
  flatten: {{flatten: }}
  fc: {{linear: {{out: num_classes}}}}
outputs: {{fields: {{logits: fc, aux_logits: AuxLogits}}, when: always}}
"""


def test_outputs_when_always_returns_them_in_eval_mode_too(write_spec, tmp_path):
    _, module, network_class = _build(write_spec, tmp_path, ALWAYS, "always")
    network = network_class().eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits, aux = network(x)  # timm: x, aux = model(x), in every mode
        assert torch.equal(logits, network.forward_head(network.forward_features(x)))
        assert aux.shape == (2, 5)
        scripted = torch.jit.script(network)
        assert all(torch.equal(a, b) for a, b in zip(scripted(x), network(x), strict=True))
    assert network.train()(x)._fields == ("logits", "aux_logits")
    network.eval()
    loss = module.training_loss(network(x), torch.tensor([0, 4]))
    assert loss.isfinite()
    # Without the head, the logits alone, as timm's inception_v3(aux_logits=False) gives them.
    bare = network_class(aux_logits=False).eval()
    assert isinstance(bare(x), torch.Tensor)
    # The class says so: the logits alone only without the heads, the tuple in every mode.
    doc = " ".join(network_class.__doc__.split())
    assert "in every mode: train" not in doc
    assert "Built with aux_logits=False, forward() returns the logits" in doc
    assert "In every mode with aux_logits, forward() returns" in doc


def test_outputs_when_training_is_torchvisions_default(write_spec, tmp_path):
    _, _, network_class = _build(write_spec, tmp_path, ALWAYS.replace(", when: always", ""), "training")
    network = network_class()
    x = torch.randn(2, 3, 32, 32)
    assert isinstance(network.eval()(x), torch.Tensor)
    assert network.train()(x)._fields == ("logits", "aux_logits")

