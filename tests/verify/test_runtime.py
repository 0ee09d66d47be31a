"""`netgen verify --runtime`: the generated module, run for real, against the IR's shapes and counts."""

from __future__ import annotations

import pytest

from netgen.compile import compile_file
from netgen.verify.render import render_runtime
from netgen.verify.runtime import run_generated
from tests.conftest import SPECS

CIFAR = SPECS / "googlenet-cifar10.yaml"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def cifar():
    return compile_file(str(CIFAR))  # fresh each time: tests below edit the graph


def test_every_layer_and_head_is_observed(cifar):
    spec, graph = cifar
    result = run_generated(spec, graph)
    assert result.ok, render_runtime(result)
    assert [run.layer for run in result.layers] == [*(layer.name for layer in spec.layers), *(head.name for head in spec.heads)]
    assert all(run.real_shape is not None for run in result.layers)
    assert result.input_shape[1:] == spec.input
    by_name = {run.layer: run for run in result.layers}
    assert by_name["inception4e"].real_shape == (832, 16, 16)
    assert by_name["aux1"].real_shape == (10,)
    assert sum(run.real_params for run in result.layers) == result.real_params == result.ir_params


def test_a_shape_the_module_does_not_produce_is_a_mismatch_at_its_line(cifar):
    spec, graph = cifar
    exit_node = graph[graph.instances["inception4c"].exit]
    exit_node.shape = (512, 15, 16)  # the backend itself refuses a wrong channel count
    result = run_generated(spec, graph)
    assert not result.ok
    [failed] = [run for run in result.layers if not run.ok]
    assert (failed.layer, failed.row, failed.ir_shape, failed.real_shape) == ("inception4c", "4c", (512, 15, 16), (512, 16, 16))
    line = next(i for i, text in enumerate(CIFAR.read_text().splitlines(), 1) if text.startswith("  inception4c:"))
    text = render_runtime(result)
    assert f"{CIFAR}:{line}:3: error: inception4c: the generated module gives 16x16x512" in text
    assert text.endswith("FAILED: 1 difference between the generated module and the IR")


def test_a_parameter_count_the_module_does_not_have_is_a_mismatch(cifar):
    spec, graph = cifar
    conv = graph["conv1"]
    conv.weights += 1
    result = run_generated(spec, graph)
    [failed] = [run for run in result.layers if not run.ok]
    assert (failed.layer, failed.ir_params, failed.real_params) == ("conv1", failed.real_params + 1, failed.real_params)
    assert result.ir_params == result.real_params + 1


def test_a_layer_computed_inline_is_observed_where_it_is_used(compile_text):
    spec, graph = compile_text(
        """
        name: TwoPaths
        input: [3, 8, 8]
        layers:
          left:   {conv: {out: 4, kernel: 3, pad: 1}}
          right:  {conv: {out: 6, kernel: 1}, from: input}
          joined: {concat: , from: [left, right]}
          pool:   {global_avgpool: }
          flatten: {flatten: }
          fc:     {linear: {out: 5}}
        """
    )
    result = run_generated(spec, graph)
    assert result.ok, render_runtime(result)
    joined = next(run for run in result.layers if run.layer == "joined")
    assert (joined.module, joined.real_shape) == ("", (10, 8, 8))


def test_a_concat_inside_a_sequential_group_is_observed_where_it_is_computed(compile_text):
    # It has no item of the group: the item after it is another layer's, with another shape.
    spec, graph = compile_text("""\
        name: G
        input: [3, 16, 16]
        num_classes: 3
        layers:
          feats:
            sequential:
              a: {conv: {out: 4, kernel: 1}}
              b: {conv: {out: 5, kernel: 1}, from: a}
              c: {conv: {out: 6, kernel: 1}, from: a}
              m: {concat: , from: [b, c]}
              d: {conv: {out: 2, kernel: 1}}
          pool: {global_avgpool: }
          flat: {flatten: }
          fc: {linear: {out: num_classes}}
        """)
    result = run_generated(spec, graph)
    assert result.ok, render_runtime(result)
    merged = next(run for run in result.layers if run.layer == "m")
    assert (merged.module, merged.real_shape, merged.real_params) == ("", (11, 16, 16), 0)
