"""Weights in safetensors: the generated module's save_weights() and load_weights() round-trip every
tensor of the state_dict, the file is plain safetensors (no pickle), the generated file imports
and runs without the safetensors package (only the helpers need it, and say so), and
`netgen build --weights` reads a .safetensors file as it reads a state_dict pickle."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tests.backends.test_onnx import outputs
from tests.conftest import SPECS, netgen_cli

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GOOGLENET_BN = SPECS / "googlenet-bn.yaml"


@pytest.fixture(scope="module")
def generated(generate):
    return generate(GOOGLENET_BN)


def _trained(generated, seed: int):
    """A network whose every tensor is away from its initial value, buffers and counters included."""
    torch.manual_seed(seed)
    network = generated.network()
    with torch.no_grad():
        for key, value in network.state_dict().items():
            if value.is_floating_point():
                value.copy_(torch.rand_like(value) + 0.5 if key.endswith("running_var") else torch.randn_like(value))
            else:
                value.fill_(seed + 41)
    return network


def test_save_weights_and_load_weights_round_trip_every_tensor(generated, tmp_path):
    path = tmp_path / "googlenet_bn.safetensors"
    network = _trained(generated, seed=1)
    network.save_weights(str(path))
    fresh = generated.network()
    result = fresh.load_weights(str(path))
    assert (result.missing_keys, result.unexpected_keys) == ([], [])
    saved, loaded = network.state_dict(), fresh.state_dict()
    assert list(loaded) == list(saved)
    for key, value in saved.items():
        assert loaded[key].dtype == value.dtype and torch.equal(loaded[key], value), key
    # A plain safetensors file: the tensors under the state_dict's names, nothing pickled.
    with safe_open(str(path), framework="pt") as handle:
        assert sorted(handle.keys()) == sorted(saved)
        assert handle.get_tensor("conv1.bn.num_batches_tracked").dtype == torch.int64
    assert b"\x80\x02" not in path.read_bytes()[:16]


def test_load_weights_is_strict_unless_told(generated, tmp_path):
    path = tmp_path / "partial.safetensors"
    state = {key: value for key, value in _trained(generated, seed=2).state_dict().items() if not key.startswith("aux")}
    save_file(state, str(path))
    with pytest.raises(RuntimeError, match="Missing key"):
        generated.network().load_weights(str(path))
    result = generated.network().load_weights(str(path), strict=False)
    assert result.missing_keys and all(key.startswith(("aux1.", "aux2.")) for key in result.missing_keys)


def test_the_generated_file_runs_without_safetensors_and_the_helpers_say_what_is_missing(generated, tmp_path):
    script = f"""
import sys
sys.modules["safetensors"] = None  # as if it were not installed
sys.path.insert(0, {str(generated.path.parent)!r})
import torch
from {generated.path.stem} import GoogLeNetBN
model = GoogLeNetBN().eval()
assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
for call in (lambda: model.save_weights("x.safetensors"), lambda: model.load_weights("x.safetensors")):
    try:
        call()
    except ImportError as exc:
        print(exc)
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "save_weights() writes safetensors files: pip install safetensors",
        "load_weights() reads safetensors files: pip install safetensors",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_build_weights_reads_safetensors_as_it_reads_a_pickle(generated, tmp_path, suffix):
    network = _trained(generated, seed=3).eval()
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        network.save_weights(str(path))
        said = f"read {path} as safetensors: tensors only, nothing to unpickle"
    else:
        torch.save(network.state_dict(), path)
        said = f"read {path} as a PyTorch pickle, with torch.load(weights_only=True), which unpickles tensors only and runs no code from the file"
    run = netgen_cli("build", str(GOOGLENET_BN), "--weights", str(path), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert said in run.stdout.splitlines()
    model = onnx.load(tmp_path / "out" / "googlenet_bn.onnx")
    x = np.random.default_rng(4).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = network(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(outputs(model, x)["logits"], expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_a_safetensors_file_without_the_suffix_is_recognised(generated, tmp_path):
    network = _trained(generated, seed=5)
    path = tmp_path / "weights.bin"
    network.save_weights(str(path))
    run = netgen_cli(
        "build", str(GOOGLENET_BN), "--check", "--weights", str(path), "--out", str(tmp_path / "out"), cwd=tmp_path
    )
    assert f"read {path} as safetensors: tensors only, nothing to unpickle" in run.stdout


def test_a_corrupt_safetensors_file_is_a_located_error(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    run = netgen_cli("build", str(GOOGLENET_BN), "--weights", str(path), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.startswith(f"{path}:1:1: error: cannot read weights as safetensors: ")
    assert run.stderr.rstrip().endswith("[bad-weights]\n1 error") or "[bad-weights]" in run.stderr
    assert not (tmp_path / "out").exists()


class _RunsCode:
    """What an untrusted pickle holds: unpickling it would run a command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_build_weights_refuses_a_pipe_a_folder_and_a_file_larger_than_the_network(tmp_path, suffix):
    """Weights are read as check reads a spec: a regular file, bounded (here by what a state_dict of
    the network can take, float64 included), refused before anything is read."""
    pipe, folder, huge = tmp_path / f"pipe{suffix}", tmp_path / f"folder{suffix}", tmp_path / f"huge{suffix}"
    os.mkfifo(pipe)
    folder.mkdir()
    with open(huge, "wb") as handle:
        handle.truncate(8 << 30)  # sparse: 8 GiB that take no disk
    expected = {
        pipe: "cannot read weights: it is a pipe (FIFO), not a regular file [not-a-file]",
        folder: "cannot read weights: it is a folder, not a regular file [not-a-file]",
        huge: "weights are 8,589,934,592 bytes, more than any state_dict of this network takes",
    }
    for path, message in expected.items():
        run = netgen_cli("build", str(GOOGLENET_BN), "--weights", str(path), "--out", str(tmp_path / "out"), cwd=tmp_path)
        assert run.returncode == 1 and run.stderr.startswith(f"{path}:1:1: error: {message}"), run.stderr
    assert not (tmp_path / "out").exists()


def test_build_weights_refuses_a_pickle_that_would_run_code_and_runs_none_of_it(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "untrusted.pt"
    torch.save({"conv1.conv.weight": _RunsCode(marker)}, path)
    run = netgen_cli("build", str(GOOGLENET_BN), "--weights", str(path), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 1
    assert "weights_only=True refuses it, and nothing of it ran: " in run.stderr and "[bad-weights]" in run.stderr
    assert "weights_only` set to `False`" not in run.stderr  # torch's advice to run the file is not repeated
    assert not marker.exists() and not (tmp_path / "out").exists()
