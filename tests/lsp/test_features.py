"""The editor's features, computed in process from the shipped specs: hover, inlay hints, go to
definition, references, completion, the outline view. tests/lsp/test_server.py runs the same
features through a real client; these tests reach every corner cheaply."""

from __future__ import annotations

from lsprotocol import types

from netgen.lsp.analysis import is_spec
from netgen.lsp.complete import completions
from netgen.lsp.hover import hover, inlay_hints
from netgen.lsp.navigate import definition, document_symbols, references
from netgen.spec.parse import ACTIVATIONS
from netgen.spec.schema import OP_ARGS
from tests.conftest import GOOGLENET, SPECS
from tests.lsp.helpers import offset, view_of

GOOGLENET_BN = SPECS / "googlenet-bn.yaml"
INCEPTION_V4 = SPECS / "inception-v4.yaml"
RESNET_V2 = SPECS / "inception-resnet-v2.yaml"
INCEPTION_V3 = SPECS / "inception-v3.yaml"


def _hover(view, fragment, at=None, nth=0) -> str:
    found = hover(view, offset(view, fragment, at, nth))
    assert found is not None, fragment
    return found.contents.value


def _labels(result) -> list[str]:
    items = result.items if isinstance(result, types.CompletionList) else result
    return [item.label for item in items]


# -- hover ---------------------------------------------------------------------------------------


def test_hover_on_a_block_use_gives_its_size_counts_and_arguments():
    view = view_of(GOOGLENET)
    text = _hover(view, "inception3a:")
    assert "**inception3a**: inception(n1x1=64, n3x3red=96, n3x3=128, n5x5red=16, n5x5=32, pool_proj=32)" in text
    assert "output **28x28x256**" in text
    assert "163,696 params, 128,049,152 multiply-adds" in text
    assert "reference row `3a`" in text
    # on the block's name in the use, the same and the block's body
    assert "concatenation of branches branch_1x1, branch_3x3, branch_5x5, branch_pool" in _hover(
        view, "{inception: [ 64", "inception"
    )


def test_hover_on_an_op_gives_the_layer_and_the_op_documentation_of_the_schema():
    text = _hover(view_of(GOOGLENET), "conv1:        {conv", "conv")
    assert "output **112x112x64**" in text
    assert "**conv**: A 2-D convolution" in text
    assert "- `kernel`: Kernel size: an integer from 1 to 1024, an int parameter, or a pair [h, w] of them (required)" in text


def test_hover_on_a_block_lists_its_uses():
    text = _hover(view_of(GOOGLENET), "  inception:\n", "inception")
    assert text.startswith("block **inception(n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_proj)**")
    assert "9 uses:" in text
    assert (
        "- inception(n1x1=384, n3x3red=192, n3x3=384, n5x5red=48, n5x5=128, pool_proj=128): `inception5b`: 7x7x1024"
        in text
    )


def test_hover_on_a_parameter_gives_its_value_at_each_use():
    view = view_of(GOOGLENET)
    declared = _hover(view, "n3x3red, n3x3,")
    used = _hover(view, "{out: n3x3red", "n3x3red")
    assert declared == used
    assert "96 in `inception3a`, 128 in `inception3b`" in used


def test_hover_inside_a_block_gives_each_use_of_the_layer():
    text = _hover(view_of(GOOGLENET), "- maxpool: {kernel: 3, stride: 1", "maxpool")
    assert "9 uses:" in text
    assert "- `inception3a.branch_pool.maxpool`: 28x28x192" in text
    assert "**maxpool**: Max pooling over a window." in text


def test_hover_on_arguments_values_and_rows():
    view = view_of(GOOGLENET)
    assert _hover(view, "kernel: 7") == "`kernel`: Kernel size: an integer from 1 to 1024, an int parameter, or a pair [h, w] of them"
    assert _hover(view, "act: relu", "relu") == "`act`: The activation after it: 'relu', 'relu6', 'gelu', 'gelu_tanh', 'silu', 'sigmoid', 'hardswish', 'hardsigmoid' or 'none'"
    assert _hover(view, "loss_weight: 0.3", "loss_weight").startswith("`loss_weight`: Its loss's weight")
    assert _hover(view, "num_classes: 1000").startswith("`num_classes`: The classifier's outputs")
    row = _hover(view, "row: 3a}", "3a")
    assert row.startswith("row `3a` of Table 1")
    assert "output_size 28x28x256" in row


def test_hover_on_a_block_argument_names_its_parameter_and_the_width_scales_it():
    assert (
        _hover(view_of(GOOGLENET), "[ 64,   96", "96")
        == "`n3x3red` = 96 in **inception(n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_proj)**: a channel count"
    )
    text = _hover(view_of(SPECS / "googlenet-w05.yaml"), "inception3a:  {inception: [ 64,   96", "96")
    assert text.endswith("; 48 once the width 0.5 scales it")


def test_hover_on_a_from_target_and_a_head():
    view = view_of(GOOGLENET)
    assert "output **14x14x512**" in _hover(view, "from: inception4a", "inception4a")
    head = _hover(view, "aux1:")
    assert "head on `inception4a`, loss weight 0.3; not in the network's totals" in head
    assert "output **1x1x1000**" in head


def test_hover_and_completion_know_a_head_written_among_the_layers():
    view = view_of(INCEPTION_V3)
    assert "side head" in _hover(view, "head: true", "head")
    assert "loss weight 0.4" in _hover(view, "AuxLogits:")
    source = INCEPTION_V3.read_text(encoding="utf-8")
    head = source.replace("head: true, from: Mixed_6e, loss_weight: 0.4}", "head: true, from: Mixed_6e, |}")
    assert _complete(head, path=INCEPTION_V3) == ["loss_weight"]  # a head's keys, not a layer's
    layer = source.replace("  Mixed_7a:      {inception_d: []}", "  Mixed_7a:      {inception_d: [], |}")
    assert {"head", "init", "stage", "row"} <= set(_complete(layer, path=INCEPTION_V3))
    outputs = source.replace("  class: InceptionOutputs\n", "  class: InceptionOutputs\n  when: |\n")
    assert _complete(outputs, path=INCEPTION_V3) == ["training", "always"]


# -- inlay hints -----------------------------------------------------------------------------------


def test_inlay_hints_give_every_layer_and_head_its_size_and_block_uses_their_counts():
    view = view_of(GOOGLENET)
    hints = inlay_hints(view, 0, len(view.text.source))
    lines = view.text.source.splitlines()
    by_line = {hint.position.line: hint.label for hint in hints}
    assert len(hints) == 25  # 23 layers and 2 heads
    conv1 = next(number for number, line in enumerate(lines) if line.startswith("  conv1:"))
    assert by_line[conv1] == "112x112x64"
    inception = next(number for number, line in enumerate(lines) if line.startswith("  inception3a:"))
    assert by_line[inception] == "28x28x256 · 163,696 params · 128,049,152 MACs"
    hint = next(hint for hint in hints if hint.position.line == inception)
    assert hint.position.character == len(lines[inception])  # after the layer's closing brace


def test_inlay_hints_cover_grouped_layers_and_repeats():
    view = view_of(INCEPTION_V4)
    labels = {hint.label.split(" ")[0] for hint in inlay_hints(view, 0, len(view.text.source))}
    assert "35x35x384" in labels and "1x1x1000" in labels
    view = view_of(RESNET_V2)
    repeat = next(
        hint
        for hint in inlay_hints(view, 0, len(view.text.source))
        if "params" in hint.label and hint.label.startswith("17x17")
    )
    assert "MACs" in repeat.label


def test_inlay_hints_of_a_range_only():
    view = view_of(GOOGLENET)
    start = offset(view, "  inception3a:")
    end = offset(view, "  maxpool3:")
    assert [hint.label.split(" ")[0] for hint in inlay_hints(view, start, end)] == ["28x28x256", "28x28x480"]


# -- definition and references ------------------------------------------------------------------------


def _target(view, fragment, at=None):
    (location,) = definition(view, offset(view, fragment, at))
    return location


def _text_at(view, location) -> str:
    return view.text.source[view.text.offset(location.range.start) : view.text.offset(location.range.end)]


def test_definition_of_a_block_use_a_from_and_a_parameter():
    view = view_of(GOOGLENET)
    block = _target(view, "inception4e:  {inception:", "inception:")
    assert view.text.offset(block.range.start) == offset(view, "  inception:\n", "inception")
    layer = _target(view, "from: inception4d", "inception4d")
    assert view.text.offset(layer.range.start) == offset(view, "  inception4d:", "inception4d")
    param = _target(view, "{out: pool_proj", "pool_proj")
    assert (
        _text_at(view, param) == "pool_proj"
        and param.range.start.line == view.text.position(offset(view, "params: [n1x1")).line
    )


def test_definition_of_a_row_is_the_reference_tables_row():
    view = view_of(GOOGLENET)
    location = _target(view, "row: 4c}", "4c")
    assert location.uri.endswith("specs/reference/googlenet-table1.yaml")
    table = (SPECS / "reference" / "googlenet-table1.yaml").read_text(encoding="utf-8").splitlines()
    assert "4c" in table[location.range.start.line]


BLOCK_WITH_FROM = """\
name: Net
input: [3, 16, 16]
blocks:
  mix:
    params: [c]
    layers:
      a: {conv: {out: c, kernel: 1}}
      b: {conv: {out: c, kernel: 3, pad: 1}}
      side: {conv: {out: c, kernel: 1}, from: input}
      sum: {add: , from: [b, side]}
layers:
  stem: {conv: {out: 8, kernel: 3, pad: 1}}
  m1: {mix: [8]}
  pool: {global_avgpool: }
"""


def test_definition_and_references_inside_a_block(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(BLOCK_WITH_FROM)
    view = view_of(path)
    assert _text_at(view, _target(view, "from: input", "input")) == "mix"
    target = _target(view, "from: [b, side]", "b")
    assert view.text.offset(target.range.start) == offset(view, "      b:", "b")
    (use,) = references(view, offset(view, "      side:", "side"), include_declaration=False)
    assert view.text.offset(use.range.start) == offset(view, "[b, side]", "side")
    assert "side" in _complete(BLOCK_WITH_FROM.replace("from: [b, side]", "from: [b, |]"), path=path)
    assert "sum" not in _complete(BLOCK_WITH_FROM.replace("from: [b, side]", "from: [b, |]"), path=path)
    assert "layer `b` of block `mix`" in _hover(view, "from: [b, side]", "b")


def test_definition_of_an_output_field():
    view = view_of(GOOGLENET_BN)
    location = _target(view, "aux_logits2: aux2", "aux2")
    assert _text_at(view, location) == "aux2"


def test_references_of_a_block_a_layer_and_a_parameter():
    view = view_of(GOOGLENET)
    uses = references(view, offset(view, "  inception:\n", "inception"), include_declaration=False)
    assert len(uses) == 9 and all(_text_at(view, use) == "inception" for use in uses)
    assert len(references(view, offset(view, "  inception:\n", "inception"), include_declaration=True)) == 10
    layer = references(view, offset(view, "  inception4a:", "inception4a"), include_declaration=False)
    assert [_text_at(view, use) for use in layer] == ["inception4a"]  # aux1's from
    param = references(view, offset(view, "params: [n1x1", "n1x1"), include_declaration=False)
    assert [_text_at(view, use) for use in param] == ["n1x1"]


# -- completion ----------------------------------------------------------------------------------------


def _complete(source: str, marker: str = "|", path=GOOGLENET) -> list[str]:
    at = source.index(marker)
    view = view_of(path, source.replace(marker, "", 1), good=view_of(path).good)
    return _labels(completions(view, at) or [])


def _googlenet_with(line: str, after: str = "  softmax:      {softmax: , row: softmax}\n") -> str:
    source = GOOGLENET.read_text(encoding="utf-8")
    return source.replace(after, after + line, 1)


def test_completion_of_an_op_or_block_in_a_new_layer():
    labels = _complete(_googlenet_with("  extra: {|\n"))
    assert set(OP_ARGS) <= set(labels)  # every declared op, whoever added it
    assert "inception" in labels and "inception_aux" in labels
    assert {"from", "row", "times"} <= set(labels)


def test_completion_of_arguments_values_and_activations():
    labels = _complete(_googlenet_with("  extra: {conv: {out: 64, k|\n"))
    assert "kernel" in labels and "out" not in labels and "act" in labels
    assert set(_complete(_googlenet_with("  extra: {conv: {out: 64, act: |\n"))) >= set(ACTIVATIONS)
    assert {"same", "valid"} <= set(_complete(_googlenet_with("  extra: {conv: {out: 64, pad: |\n")))
    assert {"true", "false"} <= set(_complete(_googlenet_with("  extra: {conv: {out: 64, bias: |\n")))


def test_completion_of_from_targets_lists_earlier_layers_only():
    labels = _complete(
        GOOGLENET.read_text(encoding="utf-8").replace("inception3b:  {inception:", "inception3b:  {from: |, inception:")
    )
    assert labels[:1] == ["input"]
    assert "inception3a" in labels and "conv1" in labels
    assert "inception3b" not in labels and "inception5b" not in labels


def test_completion_inside_a_block_offers_its_parameters():
    source = GOOGLENET.read_text(encoding="utf-8").replace(
        "- conv: {out: n1x1, kernel: 1}", "- conv: {out: |, kernel: 1}"
    )
    labels = _complete(source)
    assert labels[:6] == ["n1x1", "n3x3red", "n3x3", "n5x5red", "n5x5", "pool_proj"] or set(labels) >= {
        "n1x1",
        "pool_proj",
    }


def test_completion_inside_a_block_offers_the_parameters_of_the_types_an_argument_takes():
    source = GOOGLENET.read_text(encoding="utf-8").replace(
        "- conv: {out: n1x1, kernel: 1}", "- conv: {out: n1x1, kernel: |}"
    )
    source = source.replace("params: [n1x1, n3x3red", "params: [k: int, n1x1, n3x3red", 1)
    labels = _complete(source)
    assert "k" in labels and "n1x1" not in labels  # a kernel takes whole numbers, not channel counts
    eps = _complete(source.replace("kernel: |}", "kernel: 1, bn: {eps: |}}"))
    assert "k" not in eps and "n1x1" not in eps  # no parameter there


def test_completion_of_rows_keys_and_block_style_lines():
    assert {"3a", "4e", "pool1"} <= set(_complete(_googlenet_with("  extra: {flatten: , row: |\n")))
    top = _complete(GOOGLENET.read_text(encoding="utf-8").replace("\ndefaults:", "\n|\ndefaults:"))
    assert "width" in top and "outputs" in top and "name" not in top  # only keys not written yet
    block_style = _googlenet_with("  extra:\n    conv:\n      out: 64\n      |\n")
    assert "kernel" in _complete(block_style) and "out" not in _complete(block_style)
    item = GOOGLENET.read_text(encoding="utf-8").replace(
        "        - conv: {out: n1x1, kernel: 1}\n", "        - conv: {out: n1x1, kernel: 1}\n        - |\n"
    )
    assert "maxpool" in _complete(item)


def test_completion_in_defaults_residuals_and_param_types():
    defaults = GOOGLENET.read_text(encoding="utf-8").replace("  conv: {act: relu}", "  conv: {act: relu}\n  |")
    assert set(_complete(defaults)) <= set(OP_ARGS) and "lrn" in _complete(defaults)
    source = RESNET_V2.read_text(encoding="utf-8")
    residual = source.replace("residual: {scale: scale, act: act}", "residual: {scale: |, act: act}", 1)
    assert _complete(residual, path=RESNET_V2) == ["scale"]


# -- the outline view --------------------------------------------------------------------------------


def test_document_symbols_list_blocks_layers_groups_and_heads():
    symbols = {symbol.name: symbol for symbol in document_symbols(view_of(GOOGLENET))}
    assert [child.name for child in symbols["blocks"].children] == ["inception", "inception_aux"]
    assert symbols["blocks"].children[0].detail == "(n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_proj)"
    layers = symbols["layers"].children
    assert len(layers) == 23 and layers[7].name == "inception3a" and layers[7].detail == "inception · 28x28x256"
    assert [child.name for child in symbols["heads"].children] == ["aux1", "aux2"]
    v4 = {symbol.name: symbol for symbol in document_symbols(view_of(INCEPTION_V4))}
    features = v4["layers"].children[0]
    assert features.name == "features" and len(features.children) == 22


def test_a_block_from_a_library_is_found_in_its_file():
    view = view_of(SPECS / "inception-fact7-cifar10.yaml")
    (block,) = definition(view, offset(view, "  inception3a:  {inception", "inception"))
    assert block.uri == (SPECS / "blocks" / "inception.yaml").resolve().as_uri()
    library = (SPECS / "blocks" / "inception.yaml").read_text(encoding="utf-8").splitlines()
    assert library[block.range.start.line].strip() == "inception:"
    (file,) = definition(view, offset(view, "use: [blocks/inception.yaml", "blocks"))
    assert file.uri == block.uri and file.range.start.line == 0
    assert "inception(n1x1=48" in _hover(
        view, "  inception3a:  {inception", "inception3a"
    )  # widths as the block gets them


def test_only_specs_are_checked():
    assert is_spec(GOOGLENET.read_text(encoding="utf-8"))
    assert is_spec("name: New\nlayers:\n")
    assert is_spec("# yaml-language-server: $schema=netgen.schema.json\nname: New\n")  # a spec being started
    assert not is_spec((SPECS / "blocks" / "inception.yaml").read_text(encoding="utf-8"))  # a block library
    assert not is_spec("on: [push]\njobs: {}\n")
