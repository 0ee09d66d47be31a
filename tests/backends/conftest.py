"""Fixtures for backend tests: a spec compiled, rendered to PyTorch source and imported from a tmp dir."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from netgen.backends.layout import Layout, make_layout
from netgen.backends.pytorch import render_pytorch
from netgen.compile import compile_file
from netgen.ir.graph import Graph
from netgen.spec.model import Spec
from tests.conftest import GOOGLENET

_module_numbers = itertools.count()


@dataclass
class Generated:
    spec: Spec
    graph: Graph
    layout: Layout
    source: str
    path: Path
    module: ModuleType

    def network(self, **kwargs):
        """A fresh instance of the generated network class."""
        return getattr(self.module, self.layout.network_class)(**kwargs)


def import_source(source: str, folder: Path, stem: str) -> tuple[Path, ModuleType]:
    """Write generated source to folder/<stem>.py and import it under a name of its own."""
    path = folder / f"{stem}.py"
    path.write_text(source, encoding="utf-8")
    name = f"netgen_generated_{stem}_{next(_module_numbers)}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # torch.compile and torch.export look classes up through their module
    module_spec.loader.exec_module(module)
    return path, module


def compile_text(folder: Path, stem: str, text: str) -> tuple[Spec, Graph, Layout, str]:
    """A spec's text written to folder/<stem>.yaml, compiled, laid out and rendered to PyTorch source."""
    path = folder / f"{stem}.yaml"
    path.write_text(text)
    spec, graph = compile_file(str(path))
    layout = make_layout(spec, graph)
    return spec, graph, layout, render_pytorch(spec, graph, layout)


@pytest.fixture(scope="session")
def generate(tmp_path_factory):
    """generate(spec_path) -> Generated: compile, lay out, render and import one spec."""

    def run(spec_path: Path | str) -> Generated:
        spec, graph = compile_file(str(spec_path))
        layout = make_layout(spec, graph)
        source = render_pytorch(spec, graph, layout)
        stem = Path(spec_path).stem.replace("-", "_")
        path, module = import_source(source, tmp_path_factory.mktemp(stem), stem)
        return Generated(spec, graph, layout, source, path, module)

    return run


@pytest.fixture(scope="session")
def generated_googlenet(generate) -> Generated:
    return generate(GOOGLENET)
