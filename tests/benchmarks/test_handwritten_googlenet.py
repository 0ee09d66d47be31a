"""The hand-written GoogLeNet the benchmarks measure against is torchvision's, and the generated
googlenet_bn computes the same function: same state_dict layout, same logits for the same weights."""

from __future__ import annotations

import pytest
import torch

from benchmarks.models import (
    generated_googlenet_bn,
    handwritten_googlenet,
    images,
    randomize,
    reference_state_shapes,
    state_shapes,
    with_weights,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_state_dict_has_torchvision_keys_and_shapes():
    assert state_shapes(handwritten_googlenet()) == reference_state_shapes()


def test_generated_googlenet_bn_gives_the_handwritten_logits():
    handwritten = randomize(handwritten_googlenet(), seed=3).eval()
    generated = with_weights(generated_googlenet_bn(), handwritten.state_dict())
    batch = images(1, seed=4)
    with torch.no_grad():
        expected = handwritten(batch)
        assert expected.shape == (1, 1000)
        assert expected.abs().mean() > 1  # the random weights keep the logits well away from zero
        torch.testing.assert_close(generated(batch), expected, atol=1e-5, rtol=0)
