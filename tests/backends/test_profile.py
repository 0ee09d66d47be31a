"""`netgen build --profile`: forward() runs each of the spec's rows inside a profiler range named
after it, and otherwise the module is the plain one (same state_dict, same logits); without the
option there is no range at all."""

from __future__ import annotations

import ast

import pytest
import torch
from torch.profiler import profile

from netgen.backends.layout import make_layout
from netgen.backends.pytorch import render_pytorch
from netgen.bench.subject import randomize
from netgen.compile import compile_file
from netgen.verify.runtime import load_generated
from tests.conftest import GOOGLENET, ROOT

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ROOT / "tests" / "bench" / "tiny.yaml"


def ranges_in(source: str) -> list[str]:
    """The names of the record_function ranges in the network's forward(), in order."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.With):
            call = node.items[0].context_expr
            if isinstance(call, ast.Call) and ast.unparse(call.func) == "torch.profiler.record_function":
                names.append(call.args[0].value)
    return names


@pytest.mark.parametrize(
    "path", [GOOGLENET, TINY, ROOT / "specs" / "bn-inception.yaml"], ids=["googlenet", "tiny", "caffe"]
)
def test_every_row_and_head_has_a_range_and_only_when_asked(path):
    spec, graph = compile_file(str(path))
    layout = make_layout(spec, graph)
    plain = render_pytorch(spec, graph, layout)
    profiled = render_pytorch(spec, graph, layout, profile=True)
    assert ranges_in(plain) == [] and "record_function" not in plain
    rows = [layer.name for layer in spec.layers]
    if graph.logits() != graph.output:
        rows.pop()  # the final softmax is predict()'s, not forward()'s
    expected = [f"{layout.network_class}.{name}" for name in [*rows, *(head.name for head in spec.heads)]]
    # One range per row, holding all of its statements (a conv and its batch norm, an inline block's).
    assert sorted(ranges_in(profiled)) == sorted(expected)


def test_profiled_module_computes_the_plain_one_and_its_ranges_are_recorded():
    spec, graph = compile_file(str(TINY))
    layout = make_layout(spec, graph)
    plain = load_generated(render_pytorch(spec, graph, layout), "netgen_test_tiny_plain").Tiny()
    profiled = load_generated(render_pytorch(spec, graph, layout, profile=True), "netgen_test_tiny_profiled").Tiny()
    randomize(plain)
    profiled.load_state_dict(plain.state_dict(), strict=True)
    x = torch.randn(2, 3, 16, 16)
    plain.eval(), profiled.eval()
    with torch.no_grad(), profile() as profiler:
        expected, got = plain(x), profiled(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    recorded = {event.name for event in profiler.events()}
    assert {"Tiny.stem", "Tiny.mixed1", "Tiny.gap", "Tiny.fc"} <= recorded
    assert "Tiny.aux" in recorded  # the head's statement runs, returning None in eval mode
