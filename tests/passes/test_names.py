"""The names pass: Python keywords are fine as spec names; names that collide once made Python-safe are not."""

from __future__ import annotations

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


def test_a_block_spelled_like_the_network_is_reported(diagnostics_of):
    """Both are classes of the generated file; the same spelling must not make them one."""
    (rendered,) = diagnostics_of(
        """\
        name: Inception
        input: [3, 8, 8]
        blocks:
          Inception:
            params: [width]
            layers:
              conv: {conv: {out: width, kernel: 1}}
        layers:
          block: {Inception: [4]}
        """
    )
    error, _ = rendered.splitlines()
    assert error == (
        "net.yaml:4:3: error: block 'Inception' and network 'Inception' both become the Python name 'Inception'; "
        "rename one [name-collision]"
    )
