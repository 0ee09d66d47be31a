"""InceptionNeXt as timm computes it: the generated modules of specs/inception-next-atto.yaml and
specs/inception-next-tiny.yaml against a transcription of timm's inception_next.py
(tests/backends/timm_inception_next.py), on one state_dict of timm's keys and shapes.

PyTorch must agree bit for bit, in eval mode and in training mode (batch statistics, the running
statistics they update, and drop path drawing from the same generator in the same order); ONNX
Runtime must agree with PyTorch at the newest opset (Gelu, LayerNormalization) and at the lowest
(both composed from older ops).
"""

from __future__ import annotations

import pytest
import torch

from netgen.backends.onnx_backend import MIN_OPSET, OPSET, build_onnx
from tests.backends import timm_inception_next as timm
from tests.backends.test_library_parity import random_state_dict
from tests.backends.test_onnx import assert_logits_match, outputs
from tests.conftest import SPECS

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.slow]

MODELS = {
    "inception-next-atto.yaml": (timm.inception_next_atto, "timm-inception-next-atto-state-dict.tsv"),
    "inception-next-tiny.yaml": (timm.inception_next_tiny, "timm-inception-next-tiny-state-dict.tsv"),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def pair(request, generate):
    """(spec name, Generated, the generated module, timm's module), both holding one state_dict."""
    factory, key_list = MODELS[request.param]
    generated = generate(SPECS / request.param)
    # std 0.1: far enough from the start that every layer counts (a layer scale of 1e-6 would hide the bodies)
    weights = random_state_dict(key_list, seed=3, std=0.1)
    ours, theirs = generated.network(), factory()
    ours.load_state_dict(weights, strict=True)
    theirs.load_state_dict(weights, strict=True)
    return request.param, generated, ours, theirs


def images(seed: int) -> torch.Tensor:
    return torch.randn((2, 3, 224, 224), generator=torch.Generator().manual_seed(seed))


def test_eval_and_training_outputs_are_timms_bit_for_bit(pair):
    _, _, ours, theirs = pair
    x = images(4)
    with torch.no_grad():
        assert torch.equal(ours.eval()(x), theirs.eval()(x))
    ours_train, theirs_train = ours.train()(x), theirs.train()(x)
    assert torch.equal(ours_train, theirs_train)
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert all(torch.equal(ours_state[key], theirs_state[key]) for key in theirs_state), "running statistics differ"


def test_drop_path_draws_what_timms_draws(generate):
    """With drop path on, the same generator state gives the same samples dropped and the same outputs."""
    factory, key_list = MODELS["inception-next-atto.yaml"]
    generated = generate(SPECS / "inception-next-atto.yaml")
    weights = random_state_dict(key_list, seed=3, std=0.1)
    ours, theirs = generated.network(drop_path_rate=0.3), factory(drop_path_rate=0.3)
    ours.load_state_dict(weights, strict=True)
    theirs.load_state_dict(weights, strict=True)
    rates = [block.drop_path.p for stage in ours.stages for block in stage.blocks]
    # timm's first block, of rate 0, has nn.Identity for its drop path
    assert rates == [getattr(block.drop_path, "drop_prob", 0.0) for stage in theirs.stages for block in stage.blocks]
    x = images(5)
    torch.manual_seed(6)
    expected = theirs.train()(x)
    torch.manual_seed(6)
    got = ours.train()(x)
    assert torch.equal(got, expected)
    assert not torch.equal(got, ours.eval()(x)), "no block's body was dropped"


@pytest.mark.parametrize("opset", [OPSET, MIN_OPSET])
def test_onnx_runtime_computes_what_timm_computes(pair, opset):
    _, generated, ours, theirs = pair
    state = {key: value.detach().numpy() for key, value in ours.state_dict().items()}
    model = build_onnx(generated.spec, generated.graph, generated.layout, state_dict=state, opset=opset)
    ops = {node.op_type for node in model.graph.node} | {
        node.op_type for function in model.functions for node in function.node
    }
    assert ("Gelu" in ops and "LayerNormalization" in ops) == (opset == OPSET)
    x = images(7)
    with torch.no_grad():
        expected = theirs.eval()(x).numpy()
    got = outputs(model, x.numpy())["logits"]
    assert_logits_match(got, expected)
