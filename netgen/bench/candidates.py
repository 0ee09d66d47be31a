"""The ways `netgen bench` runs a network, each prepared for one batch: the call to time, and how
to measure the peak memory of one more.

- eager: the generated module as written, in eval mode under torch.no_grad();
- optimize: `netgen build --optimize`'s from_plain() of the same weights (batch norm folded,
  1x1 convolutions of one input fused, channels_last);
- compile: torch.compile() of the generated module, shapes static (each batch size compiles once);
- onnxruntime: the ONNX model `netgen build` writes, carrying the same weights, in ONNX Runtime.

A training step (`--train`) is forward, the module's training_loss(), backward and an SGD step
with momentum; only eager and compile train.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import torch
from torch import nn

from netgen.bench.memory import Memory, onnxruntime_peak, torch_peak
from netgen.bench.subject import Subject

LEARNING_RATE = 1e-3
MOMENTUM = 0.9


class Backend(StrEnum):
    EAGER = "eager"
    OPTIMIZE = "optimize"
    COMPILE = "compile"
    ONNXRUNTIME = "onnxruntime"

    @property
    def label(self) -> str:
        """As the tables name it."""
        return _LABELS.get(self, self.value)


_LABELS = {Backend.OPTIMIZE: "--optimize", Backend.COMPILE: "torch.compile"}


TRAINING_BACKENDS = (Backend.EAGER, Backend.COMPILE)


class BackendUnavailable(Exception):
    """A backend this machine or this install cannot run; the message says what would make it run."""


@dataclass(frozen=True)
class Settings:
    device: str  # "cpu" or "cuda"
    train: bool
    bf16: bool  # autocast to bfloat16
    channels_last: bool
    threads: int
    compile_backend: str = "inductor"  # torch.compile's backend


@dataclass
class Prepared:
    """One backend ready to run one batch."""

    call: Callable[[], Any]
    memory: Callable[[], Memory]  # the peak of one more call, once it has run (netgen.bench.memory)
    precision: str


def onnxruntime_module():
    """ONNX Runtime, or BackendUnavailable saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise BackendUnavailable(
            "the onnxruntime backend needs the onnxruntime package, which netgen installs; "
            "reinstall netgen, or run pip install onnxruntime"
        ) from None
    return onnxruntime


def onnx_providers(device: str) -> list[str]:
    onnxruntime = onnxruntime_module()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        raise BackendUnavailable(
            "this onnxruntime has no CUDAExecutionProvider; pip install onnxruntime-gpu to run the ONNX model on the GPU"
        )
    return ["CUDAExecutionProvider"]


def check_available(backend: Backend, subject: Subject, settings: Settings) -> None:
    """Raise BackendUnavailable, before anything runs, for a backend that cannot run here."""
    if settings.train and backend not in TRAINING_BACKENDS:
        raise BackendUnavailable(f"{backend.label} runs inference only; --train measures eager and torch.compile")
    if backend is Backend.OPTIMIZE and subject.from_plain is None:
        raise BackendUnavailable(f"{subject.name} has no --optimize build")
    if backend is Backend.ONNXRUNTIME:
        if subject.onnx is None:
            raise BackendUnavailable(f"{subject.name} has no ONNX model")
        onnx_providers(settings.device)


def autocast(settings: Settings):
    if not settings.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=settings.device, dtype=torch.bfloat16)


def synchronize(settings: Settings) -> None:
    if settings.device == "cuda":
        torch.cuda.synchronize()


def tensor_bytes(tensors) -> int:
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def module_bytes(module: nn.Module) -> int:
    return tensor_bytes([*module.parameters(), *module.buffers()])


def placed(module: nn.Module, settings: Settings) -> nn.Module:
    module = module.to(settings.device)
    return module.to(memory_format=torch.channels_last) if settings.channels_last else module


def images(subject: Subject, batch: int, settings: Settings, seed: int = 0) -> torch.Tensor:
    """A seeded random batch on the device (channels_last when asked)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, *subject.input), generator=generator).to(settings.device)
    return x.contiguous(memory_format=torch.channels_last) if settings.channels_last else x


def targets(subject: Subject, batch: int, settings: Settings, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(subject.num_classes, (batch,), generator=generator).to(settings.device)


class Models:
    """The modules of one bench run, made once and shared by every batch size."""

    def __init__(self, subject: Subject, settings: Settings):
        self.subject, self.settings = subject, settings
        self._made: dict[Backend, Any] = {}

    def get(self, backend: Backend):
        if backend not in self._made:
            self._made[backend] = self._make(backend)
        return self._made[backend]

    def _make(self, backend: Backend):
        subject, settings = self.subject, self.settings
        if backend is Backend.ONNXRUNTIME:
            return _onnx_session(subject, settings)
        if backend is Backend.OPTIMIZE:
            return placed(subject.from_plain(subject.make().eval().state_dict()), settings)
        model = placed(subject.make(), settings)
        model.train(settings.train)
        optimizer = sgd(model) if settings.train else None
        if backend is Backend.COMPILE:
            # Static shapes: each batch size compiles once, and runs code made for its shape.
            return torch.compile(model, dynamic=False, backend=settings.compile_backend), model, optimizer
        return model, model, optimizer


def prepare(models: Models, backend: Backend, batch: int) -> Prepared:
    subject, settings = models.subject, models.settings
    precision = "bfloat16 autocast" if settings.bf16 else "float32"
    if backend is Backend.ONNXRUNTIME:
        session = models.get(backend)
        feed = {session.get_inputs()[0].name: images(subject, batch, settings).cpu().numpy()}
        outputs = [output.name for output in session.get_outputs()]
        logits = "logits" if "logits" in outputs else outputs[0]

        def run_session():
            return torch.from_numpy(session.run([logits], feed)[0])

        def fresh_session() -> Memory:
            shape = (batch, *subject.input)
            return onnxruntime_peak(subject.onnx(), shape, settings.threads, session.get_providers()[0])

        return Prepared(run_session, fresh_session, "float32")
    if backend is Backend.OPTIMIZE:
        model = models.get(backend)
        call = inference_call(model, images(subject, batch, settings), settings)
        return Prepared(call, lambda: torch_peak(call, module_bytes(model), settings.device), precision)
    runner, model, optimizer = models.get(backend)
    x = images(subject, batch, settings)
    if not settings.train:
        call = inference_call(runner, x, settings)
        return Prepared(call, lambda: torch_peak(call, module_bytes(model), settings.device), precision)
    step = training_step(runner, optimizer, subject, x, targets(subject, batch, settings), settings)

    def memory() -> Memory:
        # The optimizer's momentum buffers exist from the first step on.
        state = [value for kept in optimizer.state.values() for value in kept.values() if torch.is_tensor(value)]
        return torch_peak(step, module_bytes(model) + tensor_bytes(state), settings.device)

    return Prepared(step, memory, precision)


def sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)


def training_step(
    runner: nn.Module,
    optimizer: torch.optim.Optimizer,
    subject: Subject,
    x: torch.Tensor,
    target: torch.Tensor,
    settings: Settings,
) -> Callable[[], Any]:
    """One training step: forward, the training loss, backward, the optimizer's step."""

    def step():
        with autocast(settings):
            loss = subject.loss(runner(x), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        synchronize(settings)
        return loss

    return step


def inference_call(model: nn.Module, x: torch.Tensor, settings: Settings) -> Callable[[], Any]:
    """One forward pass without gradients."""

    def call():
        with torch.no_grad(), autocast(settings):
            out = model(x)
        synchronize(settings)
        return out

    return call


def _onnx_session(subject: Subject, settings: Settings):
    onnxruntime = onnxruntime_module()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = settings.threads
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ONNX Runtime's threads spin for a while after each run, waiting for the next: between
    # interleaved calls of other backends they would take the cores those backends are timed on.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(subject.onnx()), options, providers=onnx_providers(settings.device))


def reference_logits(subject: Subject, batch: int, settings: Settings) -> torch.Tensor:
    """The plain module's logits in float32 on the CPU, which every inference backend must give."""
    model = subject.make().eval()
    cpu = Settings("cpu", False, False, False, settings.threads)
    with torch.no_grad():
        return subject.logits(model(images(subject, batch, cpu))).float()
