"""The export pass holds the backends' limits, so `netgen check` refuses exactly what `build`
refuses while importing neither torch nor onnx (nor numpy, nor Jinja)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from netgen.build import check_backends, output_stem, render_all
from netgen.compile import compile_file
from netgen.diagnostics import SpecError
from tests.cli.test_bad_specs import BAD, _env
from tests.conftest import ROOT

# Cases whose .args run another command than check (verify, build --weights) hold no check verdict.
CASES = sorted(path.name for path in BAD.glob("*.yaml") if not path.with_suffix(".args").exists())
SPECS = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "specs").glob("*.yaml"))


def _verdict(path: str, backends) -> list[str] | None:
    """The diagnostics refusing the spec, or None when it is accepted."""
    try:
        spec, graph = compile_file(path)
        backends(spec, graph, output_stem(path))
    except SpecError as exc:
        return [diagnostic.render() for diagnostic in exc.diagnostics]
    return None


@pytest.mark.parametrize("case", CASES)
def test_check_refuses_a_bad_spec_exactly_as_build_does(case, monkeypatch):
    monkeypatch.chdir(BAD)
    checked = _verdict(case, lambda spec, graph, _stem: check_backends(spec, graph))
    built = _verdict(case, render_all)
    assert checked == built


@pytest.mark.parametrize("spec", SPECS)
def test_check_accepts_every_shipped_spec_that_builds(spec, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert _verdict(spec, lambda spec, graph, _stem: check_backends(spec, graph)) is None


@pytest.mark.parametrize("name", ["lrn-even-size.yaml", "adaptive-pool-uneven.yaml"])
def test_an_onnx_limit_is_a_rule_of_the_passes(name, monkeypatch):
    """Refused by compile_file alone, before any backend runs."""
    monkeypatch.chdir(BAD)
    with pytest.raises(SpecError) as refused:
        compile_file(name)
    assert refused.value.diagnostics[0].code == "onnx-unsupported"


def test_check_imports_neither_torch_nor_onnx():
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "netgen", "check", "specs/googlenet.yaml"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        encoding="utf-8",
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in run.stderr.splitlines() if line.startswith("import time:")}
    assert "netgen" in imported and "yaml" in imported  # the profile is there to read
    slow = {"torch", "onnx", "onnxruntime", "numpy", "ml_dtypes", "jinja2"} & imported
    assert not slow, f"netgen check imports {sorted(slow)}"
