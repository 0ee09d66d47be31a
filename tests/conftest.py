"""Shared helpers: compile a spec written inline in a test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from netgen.compile import compile_file
from netgen.diagnostics import SpecError

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
GOOGLENET = SPECS / "googlenet.yaml"

# A network that builds in a moment, for tests of the command line.
SMALL_SPEC = """\
name: Small
input: [3, 16, 16]
num_classes: 3
layers:
  conv: {conv: {out: 4, kernel: 3, pad: 1, act: relu}}
  pool: {global_avgpool: }
  flat: {flatten: }
  fc: {linear: {out: num_classes}}
"""


def netgen_cli(*args: str, cwd, umask: int = -1) -> subprocess.CompletedProcess:
    """`netgen ARGS` run from `cwd` as a user runs it, without NETGEN_TRACEBACK."""
    env = {key: value for key, value in os.environ.items() if key != "NETGEN_TRACEBACK"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "netgen", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, umask=umask
    )


@pytest.fixture
def write_spec(tmp_path):
    def write(text: str, name: str = "net.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def compile_text(write_spec):
    """Compile a spec given as text; returns (spec, graph)."""

    def run(text: str):
        return compile_file(str(write_spec(text)))

    return run


@pytest.fixture
def diagnostics_of(write_spec):
    """The rendered diagnostics of a spec that must fail, with the tmp directory left out."""

    def run(text: str) -> list[str]:
        path = write_spec(text)
        with pytest.raises(SpecError) as caught:
            compile_file(str(path))
        return [d.render().replace(str(path), "net.yaml") for d in caught.value.diagnostics]

    return run


@pytest.fixture(scope="module")
def one_torch_thread():
    """The suite runs one worker per core; more torch threads per worker only contend.
    Modules that run models use it with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch  # here, so that tests of `netgen check` never import it

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def googlenet():
    return compile_file(str(GOOGLENET))
