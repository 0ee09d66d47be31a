"""Every spec in specs/ is a product: it checks, its generated files are current, it verifies
against its reference with every difference documented, and its generated module runs on a
real input of its input size with the IR's shapes and parameter counts."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from netgen.cli import app
from tests.conftest import ROOT, SPECS

SPEC_FILES = sorted(path.relative_to(ROOT).as_posix() for path in SPECS.glob("*.yaml"))


@pytest.mark.slow
def test_every_spec_checks_and_its_generated_files_are_current():
    for command in ("check", "build --check"):
        run = subprocess.run(
            [sys.executable, "-m", "netgen", *command.split(), *SPEC_FILES], cwd=ROOT, capture_output=True, text=True
        )
        assert run.returncode == 0, f"netgen {command}: {run.stdout}{run.stderr}"
        assert run.stdout.count(": ok (" if command == "check" else "is up to date") == len(SPEC_FILES)


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPEC_FILES)
def test_spec_verifies_and_its_module_runs_as_the_ir_says(spec, monkeypatch):
    """Against its paper's table where it names one, against its claims where it states them
    (a design of its own may have only claims), and against the IR at run time in any case."""
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["verify", spec, "--runtime"])
    assert result.exit_code == 0, result.output
    text = (ROOT / spec).read_text(encoding="utf-8")
    if "\nreference:" in text:
        assert "\nok: every difference is documented" in result.output
    if "\nclaims:" in text:
        assert "\nok: every claim holds" in result.output
    assert result.output.rstrip().endswith("ok: every layer's real output shape and parameter count equal the IR's")


def test_torchvision_variant_names_its_deviations_from_the_paper(monkeypatch):
    monkeypatch.chdir(ROOT)
    output = CliRunner().invoke(app, ["verify", "specs/googlenet-bn.yaml"]).output
    deviations = [line for line in output.splitlines() if line.startswith("  deviation ")]
    for expected in (
        "pool4 (max pool) patch_size_stride: computed 2x2/2 vs printed 3x3/2",
        "dropout (40%) type: computed dropout (20%) vs printed dropout (40%)",
        "softmax: no layer of the spec maps to this row (`row: softmax`)",
    ):
        assert any(line.endswith(expected) for line in deviations), expected
    # Its 3x3 "5x5" branch changes the weights and multiply-adds of all nine modules.
    assert sum(" inception (" in line and (" params: " in line or " ops: " in line) for line in deviations) == 18
    assert "torchvision's \"5x5\" branch has a 3x3 kernel" in output


def test_the_libraries_inception_family_names_its_departures_from_the_papers(monkeypatch):
    monkeypatch.chdir(ROOT)
    expected = {
        "specs/inception-v3.yaml": "conv4 (conv) patch_size_stride: computed 1x1/1 vs printed 3x3/1",
        "specs/inception-v4.yaml": "dropout (Dropout (keep 0.8)) type: computed dropout (0%) vs printed Dropout (keep 0.8)",
        "specs/inception-resnet-v2.yaml": "reduction_a (Reduction-A) output_size: computed 17x17x1088 vs printed 17x17x1152",
        "specs/bn-inception.yaml": "conv1 (convolution*) type: computed convolution vs printed convolution*",
    }
    for spec, line in expected.items():
        output = CliRunner().invoke(app, ["verify", spec]).output
        assert f"  deviation  {line}" in output, output
