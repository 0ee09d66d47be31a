"""The names pass: Python keywords are fine as spec names; names that collide once made Python-safe are not."""

from __future__ import annotations

import pytest

from netgen.backends.layout import make_layout
from netgen.ir.names import sanitize

KEYWORDS = """\
name: Net
input: [3, 8, 8]
blocks:
  pair:
    params: [class, def]
    concat:
      if:
        - conv: {out: class, kernel: 1}
      lambda:
        - conv: {out: def, kernel: 1}
layers:
  class: {conv: {out: 4, kernel: 1}}
  pair1: {pair: [2, 3]}
"""


def test_python_keywords_work_as_spec_names(compile_text):
    spec, graph = compile_text(KEYWORDS)
    layout = make_layout(spec, graph)
    assert layout.top["class"] == sanitize("class") != "class"
    assert layout.blocks["pair"].params == [sanitize("class"), sanitize("def")]
    assert set(layout.blocks["pair"].attrs.values()) == {sanitize("if"), sanitize("lambda")}
    assert graph["pair1"].shape[0] == 2 + 3


def test_layer_names_that_collide_after_sanitising_are_reported_with_both_places(diagnostics_of):
    (rendered,) = diagnostics_of(
        """\
        name: Net
        input: [3, 8, 8]
        layers:
          forward: {conv: {out: 4, kernel: 1}}
          forward_: {conv: {out: 4, kernel: 1}}
        """
    )
    error, note = rendered.splitlines()
    assert error.startswith("net.yaml:5:3: error: layer 'forward_' and layer 'forward' both become the Python name 'forward_'")
    assert error.endswith("[name-collision]")
    assert note == "net.yaml:4:3: note: 'forward' is here"


CLASS_CLASH = """\
name: {network}
input: [3, 8, 8]
blocks:
  {block}:
    params: [width]
    layers:
      conv: {{conv: {{out: width, kernel: 1}}}}
layers:
  block: {{{block}: [4]}}
heads:
  aux: {{global_avgpool: , from: block}}
"""


@pytest.mark.parametrize(
    ("network", "block", "message"),
    [
        ("Inception", "inception", "block 'inception' and network 'Inception' both become the Python name 'Inception'"),
        ("Inception", "Inception", "block 'Inception' and network 'Inception' both become the Python name 'Inception'"),
        ("Net", "net_outputs", "block 'net_outputs' and outputs class 'NetOutputs' both become the Python name 'NetOutputs'"),
    ],
)
def test_a_block_class_spelled_like_another_class_is_reported(diagnostics_of, network, block, message):
    """The network, its training outputs and each block are classes of one generated file."""
    (rendered,) = diagnostics_of(CLASS_CLASH.format(network=network, block=block))
    error, note = rendered.splitlines()
    assert error == f"net.yaml:4:3: error: {message}; rename one [name-collision]"
    assert note.startswith("net.yaml:1:1: note: ")
