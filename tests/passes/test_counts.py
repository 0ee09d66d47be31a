"""Parameters, multiply-adds and depth: small specs checked by hand, then GoogLeNet against the paper."""

SMALL = """\
name: Net
input: [3, 10, 10]
layers:
  conv: {conv: {out: 4, kernel: 3}}
  bn: {conv: {out: 6, kernel: 1, bias: false, bn: {eps: 0.001}}}
  grouped: {conv: {out: 6, kernel: 3, pad: 1, groups: 3}}
  pool: {maxpool: {kernel: 2}}
  flat: {flatten: }
  fc: {linear: {out: 5}}
"""


def test_params_and_macs_by_hand(compile_text):
    _, graph = compile_text(SMALL)
    conv, bn, grouped, fc = graph["conv"], graph["bn"], graph["grouped"], graph["fc"]
    assert (conv.weights, conv.biases) == (4 * 3 * 3 * 3, 4)
    assert conv.macs == 4 * 8 * 8 * 3 * 3 * 3
    # batch norm: scale as weights, shift as biases; no conv bias
    assert (bn.weights, bn.biases) == (6 * 4 + 6, 6)
    assert bn.macs == 6 * 8 * 8 * 4
    assert (grouped.weights, grouped.biases) == (6 * 2 * 3 * 3, 6)
    assert grouped.macs == 6 * 8 * 8 * 2 * 3 * 3
    assert graph["flat"].shape == (6 * 4 * 4,)
    assert (fc.weights, fc.biases, fc.macs) == (96 * 5, 5, 96 * 5)
    assert graph["pool"].weights == graph["pool"].macs == 0


def test_depth_counts_longest_weighted_path(compile_text):
    _, graph = compile_text(SMALL)
    assert (graph.depth, graph.depth_with_pooling) == (4, 5)


def test_depth_takes_the_longest_branch(compile_text):
    _, graph = compile_text(
        """\
        name: Net
        input: [3, 8, 8]
        blocks:
          uneven:
            params: []
            concat:
              short: [conv: {out: 2, kernel: 1}]
              long:
                - conv: {out: 2, kernel: 1}
                - conv: {out: 2, kernel: 1}
                - conv: {out: 2, kernel: 1}
              pooled:
                - maxpool: {kernel: 3, stride: 1, pad: 1}
                - maxpool: {kernel: 3, stride: 1, pad: 1}
                - maxpool: {kernel: 3, stride: 1, pad: 1}
                - conv: {out: 2, kernel: 1}
        layers:
          u: {uneven: []}
        """
    )
    assert graph.depth == 3
    assert graph.depth_with_pooling == 4
    assert graph.row_depth["u"] == (3, 4)


def test_googlenet_totals_are_the_papers(googlenet):
    _, graph = googlenet
    trunk = list(graph.trunk())
    assert sum(node.weights for node in trunk) == 6_990_272
    assert sum(node.biases for node in trunk) == 8_280
    assert sum(node.macs for node in trunk) == 1_582_671_872
    assert sum(node.weights + node.biases for node in graph.nodes()) == 13_378_280
    assert (graph.depth, graph.depth_with_pooling) == (22, 27)
    assert all(graph.row_depth[f"inception{m}"] == (2, 2) for m in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"))


def test_googlenet_aux_heads_match_the_reference(googlenet):
    _, graph = googlenet
    per_head = {head: sum(n.weights + n.biases for n in graph.nodes() if n.head == head) for head in graph.heads}
    assert per_head == {"aux1": 3_188_840, "aux2": 3_190_888}
