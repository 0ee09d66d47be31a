"""`netgen build`: what it writes, `--check`, and that a failure never leaves output half-written."""

import os
import subprocess
import sys

import pytest

from netgen import build, files
from tests.conftest import GOOGLENET, ROOT

SMALL = """\
name: Small
input: [3, 16, 16]
layers:
  conv: {conv: {out: 4, kernel: 3, pad: 1, act: relu}}
  pool: {global_avgpool: }
  flat: {flatten: }
  fc: {linear: {out: num_classes}}
num_classes: 3
"""


def snapshot(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture
def small(tmp_path):
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL)
    return spec


def test_build_writes_python_onnx_and_graph_text(small, tmp_path):
    out = tmp_path / "out"
    written = build.write_all(out, build.produce(str(small)))
    assert sorted(path.name for path in written) == ["small.onnx", "small.onnx.txt", "small.py"]
    assert sorted(snapshot(out)) == ["small.onnx", "small.onnx.txt", "small.py"]  # no temporary files left


def test_output_stem_is_importable():
    assert build.module_name("specs/a net(v2).yaml") == "a_net_v2_"
    assert build.output_stem("specs/googlenet-bn.yaml") == "googlenet_bn"


def test_failure_in_the_last_stage_leaves_previous_output_identical(small, tmp_path, monkeypatch):
    out = tmp_path / "out"
    build.write_all(out, build.produce(str(small)))
    before = snapshot(out)
    small.write_text(SMALL.replace("out: 4", "out: 6"))
    artifacts = build.produce(str(small))
    real_replace = os.replace
    calls = []

    def fail_on_second(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError("disk full")
        real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", fail_on_second)
    with pytest.raises(OSError):
        build.write_all(out, artifacts)
    monkeypatch.setattr(files.os, "replace", real_replace)
    assert snapshot(out) == before


def test_failure_while_producing_writes_nothing(small, tmp_path, monkeypatch):
    out = tmp_path / "out"
    build.write_all(out, build.produce(str(small)))
    before = snapshot(out)
    small.write_text(SMALL.replace("out: 4", "out: 6"))
    import netgen.backends.onnx_backend as onnx_backend

    def broken(*args, **kwargs):
        raise RuntimeError("ONNX check failed")

    monkeypatch.setattr(onnx_backend, "build_onnx", broken)
    with pytest.raises(RuntimeError):
        build.write_all(out, build.produce(str(small)))
    assert snapshot(out) == before


def run_netgen(*args, cwd=ROOT, env=None):
    return subprocess.run([sys.executable, "-m", "netgen", *args], cwd=cwd, capture_output=True, text=True, env=env)


def test_check_flag_reports_stale_output_with_a_diff_and_writes_nothing(small, tmp_path):
    out = tmp_path / "out"
    assert run_netgen("build", str(small), "--out", str(out)).returncode == 0
    assert run_netgen("build", str(small), "--out", str(out), "--check").returncode == 0
    small.write_text(SMALL.replace("out: 4", "out: 6"))
    before = snapshot(out)
    stale = run_netgen("build", str(small), "--out", str(out), "--check")
    assert stale.returncode == 3
    assert "-        self.conv = BasicConv2d(3, 4" in stale.stdout
    assert "+        self.conv = BasicConv2d(3, 6" in stale.stdout
    assert f"run: netgen build {small} --out {out}" in stale.stderr
    assert snapshot(out) == before


def test_freshly_built_output_is_never_stale_whatever_the_description_holds(tmp_path):
    """A carriage return or other line break inside a description is written as an escape in the
    text files, kept as it is in the model, and --check reads the files back as bytes."""
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL + 'description: "one\\r two\\u2028three\\x85 four"\n')
    out = tmp_path / "out"
    build.write_all(out, build.produce(str(spec)))
    for name in ("small.py", "small.onnx.txt"):
        text = (out / name).read_bytes().decode("utf-8")
        assert "one\\r two\\u2028three\\x85 four" in text.replace("\\\\", "\\")
        assert not {"\r", "\u2028", "\x85"} & set(text)
    import onnx

    assert onnx.load(str(out / "small.onnx")).doc_string == "one\r two\u2028three\x85 four"
    assert build.stale(out, build.produce(str(spec))) == []


def test_bad_spec_builds_nothing(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(SMALL.replace("kernel: 3", "kernel: 0"))
    out = tmp_path / "out"
    run = run_netgen("build", str(spec), "--out", str(out))
    assert run.returncode == 1
    assert "error:" in run.stderr and "Traceback" not in run.stderr
    assert not out.exists()


def test_building_twice_with_different_hash_seeds_is_byte_identical(tmp_path):
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = run_netgen("build", str(GOOGLENET), "--out", str(out), env=env)
        assert run.returncode == 0, run.stderr
        outputs.append(snapshot(out))
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("opset, code", [(13, 0), (28, 0), (12, 2), (29, 2)])
def test_build_writes_the_opset_asked_for_within_the_supported_range(small, tmp_path, opset, code):
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "netgen", "build", str(small), "--out", str(out), "--opset", str(opset)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == code, run.stderr
    if code:
        assert "--opset" in run.stderr and not out.exists()
    else:
        assert f'opset_import: ["" : {opset}]' in (out / "small.onnx.txt").read_text()
def small_state_dict(spec_path):
    """The state_dict of the module netgen generates for a spec, as torch tensors."""
    import torch

    from netgen.backends.layout import make_layout
    from netgen.backends.pytorch import render_pytorch
    from netgen.compile import compile_file
    from netgen.verify.runtime import load_generated

    spec, graph = compile_file(str(spec_path))
    layout = make_layout(spec, graph)
    module = load_generated(render_pytorch(spec, graph, layout), "netgen_test_weights")
    return torch, getattr(module, layout.network_class)().state_dict()


@pytest.mark.slow
def test_weights_with_keys_the_network_lacks_are_refused_by_name(small, tmp_path):
    torch, state = small_state_dict(small)
    state["head.weight"] = torch.zeros(3)
    state["conv.conv.extra"] = torch.zeros(1)
    weights = tmp_path / "weights.pt"
    torch.save(state, weights)
    out = tmp_path / "out"
    run = run_netgen("build", "small.yaml", "--weights", "weights.pt", "--out", str(out), cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr == (
        "weights.pt:1:1: error: the weights hold 2 tensors the network has no place for: 'head.weight', "
        "'conv.conv.extra'; they belong to another network or another version of this spec [weights-mismatch]\n1 error\n"
    )
    assert not out.exists()
    del state["head.weight"], state["conv.conv.extra"]
    torch.save(state, weights)
    assert run_netgen("build", "small.yaml", "--weights", "weights.pt", "--out", str(out), cwd=tmp_path).returncode == 0


def test_build_and_report_take_another_input_size_as_check_and_summary_do(small, tmp_path):
    out = tmp_path / "out"
    built = run_netgen("build", str(small), "--input", "3,32,32", "--out", str(out))
    assert built.returncode == 0, built.stderr
    assert "INPUT_SIZE = (3, 32, 32)\n" in (out / "small.py").read_text()
    reported = run_netgen("report", str(small), "--input", "3,32,32", "--out", str(out))
    assert reported.returncode == 0, reported.stderr
    assert "for a 32x32x3 input" in (out / "small.md").read_text()
    assert "| conv | conv | 3x3/1 | 32x32x4 |" in (out / "small.md").read_text()
    refused = run_netgen("build", str(small), "--input", "32x32x3", "--out", str(out))
    assert refused.returncode == 2 and "C,H,W" in refused.stderr
