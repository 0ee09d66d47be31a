"""benchmarks/gpu.py's quick path, which runs anywhere: every network it names is measured (training
and inference, eager and compiled) and the table has a row for each, the hand-written GoogLeNet's too."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_quick_run_on_a_cpu_prints_the_table(tmp_path):
    output = tmp_path / "gpu.json"
    command = [
        sys.executable, "benchmarks/gpu.py", "tests/bench/tiny.yaml", "--quick", "--device", "cpu",
        "--input", "3,32,32", "--threads", "1", "--fastest-of", "--json", str(output),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "torch.compile backend eager" in lines[0] and "load average" in lines[0]
    assert lines[1].startswith("| network | train img/s, batch 2 |")
    assert [line.split(" | ")[0] for line in lines[3:]] == ["| tiny.yaml", "| hand-written GoogLeNet"]
    assert "failed" not in result.stdout
    measured = json.loads(output.read_text())
    for name in ("tiny.yaml", "hand-written GoogLeNet"):
        train, inference = measured[name]["train"], measured[name]["inference"]
        assert train["mode"] == "train" and train["precision"] == "bfloat16 autocast" and train["channels_last"]
        assert [row["backend"] for row in train["results"]] == ["eager", "compile"]
        assert all(row["ok"] for row in train["results"] + inference["results"])
    assert [row["backend"] for row in measured["tiny.yaml"]["inference"]["results"]] == ["eager", "compile", "optimize"]
