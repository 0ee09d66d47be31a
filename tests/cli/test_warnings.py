"""Warnings: a spec that builds but probably not into what was meant is accepted with a located
warning (exit 0); `--strict` makes every warning an error (exit 1). Each case in tests/specs/warn/
has its exact stderr beside it. `--input C,H,W` tries another input size without editing the spec."""

from __future__ import annotations

import pytest

from tests.cli.test_bad_specs import _python
from tests.conftest import GOOGLENET, ROOT

WARN = ROOT / "tests" / "specs" / "warn"
CASES = sorted(path.name for path in WARN.glob("*.yaml"))


def test_every_case_has_its_expected_output():
    assert CASES and {path.stem for path in WARN.glob("*.expected")} == {name[:-5] for name in CASES}


@pytest.mark.parametrize("name", CASES)
def test_a_warning_is_located_and_does_not_fail_the_check(name):
    expected = (WARN / name).with_suffix(".expected").read_text(encoding="utf-8")
    run = _python("-m", "netgen", "check", name, cwd=WARN)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"{name}: ok")
    assert run.stderr == expected
    strict = _python("-m", "netgen", "check", "--strict", name, cwd=WARN)
    assert strict.returncode == 1
    assert strict.stdout == ""
    errors = expected.count(": warning: ")
    assert strict.stderr == expected.replace(": warning: ", ": error: ").replace(
        f"{errors} warning{'s' if errors != 1 else ''}", f"{errors} error{'s' if errors != 1 else ''}"
    )


def test_summary_tries_another_input_size_and_says_the_pool_stops_being_global():
    spec = str(GOOGLENET.relative_to(ROOT))
    run = _python("-m", "netgen", "summary", spec, "--input", "3,299,299", cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "input 299x299x3" in run.stdout.splitlines()[0]
    avgpool = next(line for line in run.stdout.splitlines() if line.startswith("avgpool "))
    assert "3x3x1024" in avgpool  # the 7x7 pool over 9x9 is no longer global
    assert ": warning: avgpool: the 7x7 average pool over a 9x9 input gives 3x3, not 1x1" in run.stderr
    assert "[pool-not-global]" in run.stderr
    plain = _python("-m", "netgen", "check", spec, cwd=ROOT)
    assert plain.returncode == 0 and plain.stderr == ""


@pytest.mark.parametrize("value", ["3,299", "3,0,224", "three", "3,224,224,1", "3x299x299"])
def test_a_malformed_input_size_is_a_usage_error(value):
    run = _python("-m", "netgen", "check", str(GOOGLENET.relative_to(ROOT)), "--input", value, cwd=ROOT)
    assert run.returncode == 2
    assert "--input" in run.stderr and "Traceback" not in run.stderr
