"""A generated network trains under DistributedDataParallel: two CPU processes (gloo), each with a
batch of its own, end one step with identical gradients and weights, and those gradients are the
mean of what each batch gives alone."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from netgen.backends.layout import make_layout
from netgen.backends.pytorch import render_pytorch
from netgen.compile import compile_file

WORLD = 2
BATCH = 4
LR = 0.1

# Batch norm (its statistics are per process), dropout, an auxiliary head with a loss weight.
SPEC = """\
name: Tiny
input: [3, 16, 16]
num_classes: 5
defaults:
  conv: {bn: true, bias: false, act: relu}
blocks:
  mixed:
    params: [a, b]
    concat:
      left: [conv: {out: a, kernel: 1}]
      right:
        - conv: {out: a, kernel: 1}
        - conv: {out: b, kernel: 3, pad: 1}
  side:
    params: []
    layers:
      pool: {global_avgpool: }
      flat: {flatten: }
      fc: {linear: {out: num_classes}}
layers:
  stem: {conv: {out: 8, kernel: 3, stride: 2, pad: 1}}
  mix:  {mixed: [4, 6]}
  pool: {global_avgpool: }
  flat: {flatten: }
  drop: {dropout: {p: 0.3}}
  fc:   {linear: {out: num_classes}}
heads:
  aux: {side: [], from: stem, loss_weight: 0.3}
"""


def _load(path: str):
    spec = importlib.util.spec_from_file_location("tiny_distributed", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _batch(rank: int, spec_input: tuple[int, ...]):
    generator = torch.Generator().manual_seed(100 + rank)  # a different batch on every rank
    return torch.randn(BATCH, *spec_input, generator=generator), torch.randint(0, 5, (BATCH,), generator=generator)


def _one_step(model, module, rank: int, spec_input) -> torch.Tensor:
    """One SGD step on this rank's batch; returns the loss. Dropout draws from the global seed."""
    torch.manual_seed(1000 + rank)
    images, target = _batch(rank, spec_input)
    loss = module.training_loss(model(images), target)
    loss.backward()
    return loss.detach()


def _worker(rank: int, source: str, init_file: str, out: str, spec_input) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        module = _load(source)
        torch.manual_seed(rank)  # different initial weights: DDP must broadcast rank 0's
        model = DistributedDataParallel(module.Tiny().train())
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        loss = _one_step(model, module, rank, spec_input)
        grads = {name: param.grad.clone() for name, param in model.module.named_parameters()}
        optimizer.step()
        torch.save({"loss": loss, "grads": grads, "state": model.module.state_dict()}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    spec_path = folder / "tiny.yaml"
    spec_path.write_text(SPEC)
    spec, graph = compile_file(str(spec_path))
    source = folder / "tiny.py"
    source.write_text(render_pytorch(spec, graph, make_layout(spec, graph)))
    return spec, source


@pytest.mark.slow
def test_one_ddp_step_on_two_processes_keeps_the_replicas_identical(generated, tmp_path):
    spec, source = generated
    mp.spawn(_worker, args=(str(source), str(tmp_path / "init"), str(tmp_path), spec.input), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(WORLD)]
    assert not torch.equal(ranks[0]["loss"], ranks[1]["loss"]), "both ranks saw the same batch"
    for name in ranks[0]["grads"]:
        assert torch.equal(ranks[0]["grads"][name], ranks[1]["grads"][name]), name
    for name in ranks[0]["state"]:
        if not name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert torch.equal(ranks[0]["state"][name], ranks[1]["state"][name]), name

    # The same step in one process: rank 0's initial weights, each batch on its own, gradients averaged.
    module = _load(str(source))
    expected: dict[str, torch.Tensor] = {}
    alone: list[dict[str, torch.Tensor]] = []
    for rank in range(WORLD):
        torch.manual_seed(0)
        model = module.Tiny().train()
        _one_step(model, module, rank, spec.input)
        alone.append({name: param.grad for name, param in model.named_parameters()})
        for name, param in model.named_parameters():
            expected[name] = expected.get(name, 0) + param.grad / WORLD
    for name, grad in expected.items():
        assert torch.allclose(ranks[0]["grads"][name], grad, atol=1e-6), name
    assert not torch.allclose(alone[0]["fc.weight"], expected["fc.weight"]), "the batches give the same gradients"
