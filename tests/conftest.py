"""Shared helpers: compile a spec written inline in a test."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netgen.compile import compile_file
from netgen.diagnostics import SpecError

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
GOOGLENET = SPECS / "googlenet.yaml"


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
