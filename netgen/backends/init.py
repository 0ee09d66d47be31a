"""The spec's `init:` rule as numpy arrays, keyed like the generated module's state_dict.

Every tensor draws from its own generator, seeded from the seed and its key, so a tensor's
values do not change when a layer elsewhere is added or removed.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from netgen.backends.layout import Layout, Slot
from netgen.ir.graph import Graph, Node
from netgen.ir.ops import OpKind
from netgen.spec.model import Spec
from netgen.spec.schema import InitArgs

# torch.nn.init.trunc_normal_ cuts at these values (absolute, not in units of std).
TRUNC_LOW, TRUNC_HIGH = -2.0, 2.0


def initial_weights(spec: Spec, graph: Graph, layout: Layout, seed: int = 0) -> dict[str, np.ndarray]:
    """Every parameter and buffer of the network, heads included, as the spec's rule starts them."""
    weights: dict[str, np.ndarray] = {}
    for name, slots in layout.slots.items():
        node = graph[name]
        fan_in = _fan_in(slots)
        for slot in slots:
            weights[slot.key] = _initial(spec.init, node, slot, fan_in, spec.num_classes, _rng(seed, slot.key))
    return weights


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def _initial(
    init: InitArgs, node: Node, slot: Slot, fan_in: int, num_classes: int, rng: np.random.Generator
) -> np.ndarray:
    shape = slot.shape
    if slot.role == "num_batches_tracked":
        return np.zeros(shape, dtype=np.int64)
    if slot.fill is not None:  # a tensor its op starts at one value (batch norm's scale: 1)
        return np.full(shape, slot.fill, dtype=np.float32)
    if slot.role == "weight":
        if node.init_std is not None:
            return _trunc_normal(rng, shape, node.init_std).astype(np.float32)
        return _weight(init, shape, fan_in, rng).astype(np.float32)
    if slot.role == "bias":
        if init.weight == "torch_default" or init.bias == "torch_default":
            bound = 1.0 / math.sqrt(fan_in)
            return rng.uniform(-bound, bound, shape).astype(np.float32)
        value = init.bias
        if init.classifier_bias is not None and node.kind is OpKind.LINEAR and node.attrs.out == num_classes:
            value = init.classifier_bias
        return np.full(shape, value, dtype=np.float32)
    raise AssertionError(f"no init rule for a {slot.role} slot ({slot.key})")


def _weight(init: InitArgs, shape: tuple[int, ...], fan_in: int, rng: np.random.Generator) -> np.ndarray:
    if init.weight == "xavier_uniform":
        # Caffe's "xavier" filler: uniform in +-sqrt(3 / fan_in).
        bound = math.sqrt(3.0 / fan_in)
        return rng.uniform(-bound, bound, shape)
    if init.weight == "trunc_normal":
        return _trunc_normal(rng, shape, init.std)
    # PyTorch's default, kaiming_uniform_(a=sqrt(5)), reduces to uniform in +-1/sqrt(fan_in).
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape)


def _trunc_normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    """Normal(0, std) cut to [TRUNC_LOW, TRUNC_HIGH], by rejection from a proposal that keeps at least
    half of its draws whatever the std, so that a few rounds fill every value: the normal itself while
    at least half of it lies inside the cut, else a uniform draw over the cut, kept with the normal's
    density there relative to its peak (at least exp(-2 / std**2), over 0.79 for such a std)."""
    scale = std * math.sqrt(2.0)
    normal = 0.5 * (math.erf(TRUNC_HIGH / scale) - math.erf(TRUNC_LOW / scale)) >= 0.5
    values = np.empty(shape)
    pending = np.arange(values.size)
    while pending.size:
        if normal:
            draws = rng.normal(0.0, std, pending.size)
            kept = (draws >= TRUNC_LOW) & (draws <= TRUNC_HIGH)
        else:
            draws = rng.uniform(TRUNC_LOW, TRUNC_HIGH, pending.size)
            kept = rng.random(pending.size) < np.exp(-0.5 * (draws / std) ** 2)
        values.flat[pending[kept]] = draws[kept]
        pending = pending[~kept]
    return values


def _fan_in(slots: list[Slot]) -> int:
    """Inputs feeding one output: (in_channels / groups) * kh * kw for a conv, in_features for a linear."""
    weight = next((slot for slot in slots if slot.role == "weight"), None)
    return math.prod(weight.shape[1:]) if weight is not None else 0
