"""Mutated specs: netgen either compiles them or refuses them with diagnostics located in the
file, and never fails any other way, in the library or at the command line.

`check_invalid_spec` is the property; the campaign (tests/fuzz/campaign.py) runs it too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from netgen.build import check_backends, render_all
from netgen.compile import compile_file
from netgen.diagnostics import Diagnostic, SpecError
from tests.conftest import ROOT
from tests.fuzz import CLI_SETTINGS, INVALID_SETTINGS
from tests.fuzz.strategies import invalid_specs

# The line breaks YAML counts when it gives a position.
LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


def check_invalid_spec(data: bytes) -> bool:
    """Compile the spec as `netgen check` does and again with every backend, as `build` does: True
    when both refuse it (with the same located diagnostics), False when both accept it. Either way
    nothing may be written beside it."""
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "fuzz.yaml")
        Path(path).write_bytes(data)
        refused = _refusal(lambda: check_backends(*compile_file(path)))
        built = _refusal(lambda: render_all(*compile_file(path), "fuzz"))
        assert os.listdir(folder) == ["fuzz.yaml"], os.listdir(folder)
    # check refuses exactly what build refuses, and says the same about it
    assert (refused is None) == (built is None), (refused or built).diagnostics[0].render()
    if refused is not None:
        assert [d.render() for d in refused.diagnostics] == [d.render() for d in built.diagnostics]
    if refused is None:
        return False
    assert refused.diagnostics, "a SpecError without diagnostics"
    lines = _lines(data)
    for diagnostic in refused.diagnostics:
        _check_located(diagnostic, path, lines)
        for attached in diagnostic.notes:
            _check_located(attached, path, lines)
    return True


def _refusal(run) -> SpecError | None:
    try:
        run()
    except SpecError as exc:
        return exc
    return None


def _lines(data: bytes) -> list[str]:
    return LINE_BREAK.split(data.decode("utf-8", errors="replace"))


def _check_located(diagnostic: Diagnostic, path: str, lines: list[str]) -> None:
    shown = diagnostic.render()
    span = diagnostic.span
    assert span is not None, f"not located: {shown}"
    assert span.file == path, f"located in {span.file!r}, not the spec: {shown}"
    assert 1 <= span.line <= len(lines), f"line {span.line} of a {len(lines)}-line spec: {shown}"
    assert 1 <= span.col <= len(lines[span.line - 1]) + 1, f"column {span.col} of {lines[span.line - 1]!r}: {shown}"


@pytest.mark.slow
def test_mutated_specs_compile_or_are_refused_with_located_diagnostics():
    outcomes = []

    @INVALID_SETTINGS
    @given(invalid_specs())
    def compile_mutated(data):
        note(data.decode("utf-8", errors="backslashreplace"))
        outcomes.append(check_invalid_spec(data))

    compile_mutated()
    # The mutations must reach the checks: were most mutated specs still valid, the property would prove little.
    assert len(outcomes) >= 100 and sum(outcomes) > 0.8 * len(outcomes), f"{sum(outcomes)} of {len(outcomes)} refused"


# -- at the command line -----------------------------------------------------------------------

LOCATED = re.compile(r"spec\d+\.yaml:\d+:\d+: (error: .* \[[a-z0-9-]+\]|note: .*)")
COUNT = re.compile(r"\d+ errors?")
OK = re.compile(r"spec\d+\.yaml: ok \(.*\)")


@CLI_SETTINGS
@given(st.lists(invalid_specs(), min_size=4, max_size=8))
def test_netgen_check_refuses_mutated_specs_without_a_traceback(specs):
    with tempfile.TemporaryDirectory() as folder:
        names = []
        for index, data in enumerate(specs):
            names.append(f"spec{index}.yaml")
            (Path(folder) / names[-1]).write_bytes(data)
        env = {key: value for key, value in os.environ.items() if key != "NETGEN_TRACEBACK"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["PYTHONIOENCODING"] = "utf-8"
        run = subprocess.run(
            [sys.executable, "-m", "netgen", "check", *names],
            cwd=folder,
            env=env,
            capture_output=True,
            encoding="utf-8",
            errors="backslashreplace",
            timeout=120,
        )
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    assert run.returncode in (0, 1), run.stderr
    refused = [line for line in run.stderr.splitlines() if COUNT.fullmatch(line)]
    assert len(refused) + len(run.stdout.splitlines()) == len(names), run.stdout + run.stderr
    assert run.returncode == (1 if refused else 0)
    for line in run.stdout.splitlines():
        assert OK.fullmatch(line), line
    for line in run.stderr.splitlines():
        assert LOCATED.fullmatch(line) or COUNT.fullmatch(line), line
