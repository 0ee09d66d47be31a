import re
from typing import Annotated

import pytest
from pydantic import Field

from netgen.ir.ops import OpKind
from netgen.passes.expand import scale
from netgen.spec.schema import PARAM_KINDS, block_argument, param_kind_description

BLOCKY = """\
name: Net
input: [3, 16, 16]
width: {width}
blocks:
  pair:
    params: [a, b]
    concat:
      one: [conv: {{out: a, kernel: 1}}]
      two:
        - conv: {{out: b, kernel: 1}}
        - conv: {{out: 6, kernel: 3, pad: 1}}
  outer:
    params: [c]
    layers:
      inner: {{pair: [c, 4]}}
      squeeze: {{conv: {{out: c, kernel: 1}}}}
layers:
  stem: {{conv: {{out: 8, kernel: 3, pad: 1}}}}
  body: {{outer: [10]}}
"""


def test_blocks_expand_to_hierarchical_primitive_nodes(compile_text):
    _, graph = compile_text(BLOCKY.format(width=1.0))
    names = [node.name for node in graph.nodes()]
    assert names == [
        "input",
        "stem",
        "body.inner.one.conv",
        "body.inner.two.conv1",
        "body.inner.two.conv2",
        "body.inner",
        "body.squeeze",
    ]
    assert all(node.kind is not OpKind.BLOCK for node in graph.nodes())
    assert graph["body.inner"].kind is OpKind.CONCAT
    assert graph.inputs("body.inner") == ["body.inner.one.conv", "body.inner.two.conv2"]
    assert graph["body.inner"].shape == (16, 16, 16)  # 10 + 6
    assert graph["body.squeeze"].shape == (10, 16, 16)
    assert graph.output == "body.squeeze"
    assert graph.instances["body"].args == (10,)
    assert graph.instances["body.inner"].args == (10, 4)
    assert all(graph[name].row == "body" for name in names[2:])


def test_width_scales_written_channel_counts_once(compile_text):
    _, graph = compile_text(BLOCKY.format(width=0.5))
    assert graph["stem"].attrs.out == 4
    # 10 is scaled where written (top level); c is passed on as 5, not halved again.
    assert graph.instances["body"].args == (5,)
    assert graph["body.inner.one.conv"].attrs.out == 5
    assert graph["body.inner.two.conv1"].attrs.out == 2
    assert graph["body.inner.two.conv2"].attrs.out == 3


def test_block_node_edges_survive_expansion(compile_text):
    _, graph = compile_text(
        """\
        name: Net
        input: [3, 8, 8]
        blocks:
          res:
            params: [c]
            add:
              identity: []
              body: [conv: {out: c, kernel: 3, pad: 1}]
        layers:
          stem: {conv: {out: 4, kernel: 1}}
          r1: {res: [4]}
          r2: {res: [4]}
          out: {add: , from: [stem, r2]}
        """
    )
    assert graph.inputs("r1") == ["stem", "r1.body.conv"]
    assert graph.inputs("r2") == ["r1", "r2.body.conv"]
    assert graph.inputs("out") == ["stem", "r2"]
    assert graph["out"].shape == (4, 8, 8)


def test_heads_hang_off_the_trunk_and_keep_their_name(googlenet):
    _, graph = googlenet
    assert set(graph.heads) == {"aux1", "aux2"}
    assert graph.heads["aux1"] == "aux1.fc2"
    assert graph.inputs("aux1.avgpool") == ["inception4a"]
    assert graph["aux1.conv"].shape == (128, 4, 4)
    assert graph["aux2.avgpool"].shape == (528, 4, 4)
    assert all(node.head == "aux1" for node in graph.nodes() if node.row == "aux1")


def test_times_copies_a_layer_and_from_input_names_the_block_input(compile_text):
    spec, graph = compile_text("""\
        name: T
        input: [3, 8, 8]
        blocks:
          res:
            params: [scale: float]
            residual: {scale: scale, act: relu}
            layers:
              a: {conv: {out: 4, kernel: 1}}
              b: {conv: {out: 4, kernel: 1}, from: input}
              both: {concat: , from: [a, b]}
              proj: {conv: {out: 3, kernel: 1}}
        layers:
          body: {res: [0.5], times: 2}
          convs: {conv: {out: 3, kernel: 3, pad: 1}, times: 2}
        """)
    # Each copy reads the one before; `from: input` is the copy's own input.
    assert graph.inputs("body.0.b") == ["input"]
    assert graph.inputs("body.1.a") == graph.inputs("body.1.b") == ["body.0.act"]
    assert graph.inputs("body.1.residual") == ["body.0.act", "body.1.proj"]
    assert graph.instances["body.1"].args == (0.5,)
    assert graph.inputs("convs.0") == ["body.1.act"] and graph.inputs("convs.1") == ["convs.0"]
    assert graph.exit_of("body") == "body.1.act" and graph.output == "convs.1"
    assert sum(node.weights for node in graph.nodes() if node.row == "convs") == 2 * 3 * 3 * 3 * 3


ODD_NUMBERS = (1e300, 3.5e38, -3.5e38, 1e-50, -1e-45, float("inf"), float("nan"))


@pytest.mark.parametrize("kind", list(PARAM_KINDS))
def test_no_parameter_type_lets_a_number_outside_float32_through(kind):
    # Whatever a type takes, a number it accepts reaches the backends as float32 can hold it.
    for value in ODD_NUMBERS:
        with pytest.raises(ValueError, match=re.escape(param_kind_description(kind))):
            block_argument(kind, value)


def test_a_parameter_type_added_later_inherits_the_float32_range(monkeypatch):
    # Declared as a bare float, with no range of its own: block_argument still keeps it in float32.
    monkeypatch.setitem(PARAM_KINDS, "gain", Annotated[float, Field(description="a gain")])
    assert block_argument("gain", 2.5) == 2.5
    for value in (1e300, 1e-50):
        with pytest.raises(ValueError, match=r"^a gain; float32 holds 0, or 1.2e-38 to 3.4e38 either side of 0$"):
            block_argument("gain", value)


def test_a_float_argument_at_float32s_limit_builds(compile_text):
    from netgen.backends.layout import make_layout
    from netgen.backends.onnx_backend import build_onnx

    spec, graph = compile_text("""\
        name: T
        input: [3, 8, 8]
        blocks:
          res:
            params: [scale: float]
            residual: {scale: scale}
            layers:
              a: {conv: {out: 3, kernel: 1}}
        layers:
          big: {res: [3.4e+38]}
          small: {res: [1.2e-38]}
        """)
    assert [graph.instances[name].args for name in ("big", "small")] == [(3.4e38,), (1.2e-38,)]
    build_onnx(spec, graph, make_layout(spec, graph))


def _make_divisible(v, divisor=8, min_value=None, round_limit=0.9):
    """timm's rounding of a scaled channel count (timm/layers/helpers.py), as timm writes it."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


@pytest.mark.parametrize("divisor", [1, 4, 8, 16])
@pytest.mark.parametrize("width", [0.25, 0.35, 0.5, 0.75, 1.0, 1.3, 2.0])
def test_width_divisor_rounds_as_timms_make_divisible(width, divisor):
    for channels in [*range(1, 130), 160, 192, 208, 320, 384, 1000, 1024]:
        assert scale(channels, width, divisor) == _make_divisible(channels * width, divisor), channels


def test_width_divisor_rounds_every_scaled_count_and_only_those(compile_text):
    """At 0.75 and 8: 16 -> 12 rounds up to 16 (never below the divisor), 208 -> 156 to 160, and
    a linear layer's width, which `width` leaves alone, stays as written."""
    _, graph = compile_text(
        """\
        name: Net
        input: [3, 8, 8]
        width: 0.75
        width_divisor: 8
        blocks:
          unit:
            params: [n]
            layers:
              conv: {conv: {out: n, kernel: 1}}
        layers:
          stem: {conv: {out: 16, kernel: 3, pad: 1}}
          body: {unit: [208]}
          pool: {global_avgpool: }
          flat: {flatten: }
          fc: {linear: {out: 10}}
        """
    )
    assert graph["stem"].attrs.out == 16
    assert graph.instances["body"].args == (160,)
    assert graph["fc"].attrs.out == 10
    # Without a divisor the count is rounded to the nearest whole number, as before.
    assert scale(16, 0.75) == 12 and scale(208, 0.75) == 156


def test_a_width_divisor_out_of_range_is_refused(diagnostics_of):
    (message,) = diagnostics_of("name: Net\ninput: [3, 8, 8]\nwidth_divisor: 0\nlayers:\n  c: {conv: {out: 4, kernel: 1}}\n")
    assert message == "net.yaml:3:16: error: spec: 'width_divisor' must be a whole number from 1 to 1024, such as 8, got 0 [bad-value]"


def test_a_residual_s_activation_word_is_the_activation_where_a_parameter_shares_its_name(compile_text):
    """`act: relu` is ReLU, as in every argument that takes a word, even in a block with a parameter
    named `relu`; the IR and the backends agree on it."""
    from netgen.build import check_backends

    spec, graph = compile_text(
        "name: R\ninput: [4, 8, 8]\nnum_classes: 3\nblocks:\n  res:\n    params: [relu, s: float]\n"
        "    residual: {scale: s, act: relu}\n    layers:\n      x: {conv: {out: relu, kernel: 1}}\n"
        "layers:\n  a: {res: [4, 0.5]}\n  p: {global_avgpool: }\n  f: {flatten: }\n  fc: {linear: {out: num_classes}}\n"
    )
    assert graph["a.act"].kind is OpKind.RELU
    check_backends(spec, graph)
