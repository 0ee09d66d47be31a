def test_googlenet_with_5x5_pad_1_names_branch_shapes_and_fix(diagnostics_of):
    from tests.conftest import GOOGLENET

    text = GOOGLENET.read_text().replace("conv: {out: n5x5, kernel: 5, pad: same}", "conv: {out: n5x5, kernel: 5, pad: 1}")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "kernel: 5, pad: 1" in row)
    use = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("  inception3a:"))
    assert diagnostics_of(text) == [
        f"net.yaml:{line}:11: error: inception3a: branch branch_5x5 gives 26x26 but branch branch_1x1 gives 28x28; "
        f"a 5x5 kernel at stride 1 needs pad 2 [concat-misaligned]\n"
        f"net.yaml:{use}:18: note: in inception3a, used here"
    ]


def test_googlenet_with_floor_pooling_no_longer_fits_the_average_pool(diagnostics_of):
    from tests.conftest import GOOGLENET

    text = GOOGLENET.read_text().replace("{maxpool: {kernel: 3, stride: 2, ceil: true}", "{maxpool: {kernel: 3, stride: 2}")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("  avgpool:"))
    assert diagnostics_of(text) == [
        f"net.yaml:{line}:3: error: avgpool: a 7x7 kernel is larger than its 6x6 input; a kernel of at most 6x6 fits, or pad 1 [kernel-too-large]"
    ]


def test_unused_layer_is_reported(diagnostics_of):
    assert diagnostics_of(
        """\
        name: Net
        input: [3, 8, 8]
        layers:
          a: {conv: {out: 4, kernel: 1}}
          side: {conv: {out: 4, kernel: 1}}
          b: {conv: {out: 4, kernel: 1}, from: a}
        """
    ) == [
        "net.yaml:5:3: error: side: its output reaches neither the network's output (b) nor a head; check 'from' [unused-layer]"
    ]


def test_add_with_different_channels(diagnostics_of):
    assert diagnostics_of(
        """\
        name: Net
        input: [3, 8, 8]
        layers:
          a: {conv: {out: 4, kernel: 1}}
          b: {conv: {out: 5, kernel: 1}}
          sum: {add: , from: [a, b]}
        """
    ) == ["net.yaml:6:3: error: sum: add needs equal channels, but a has 4, b has 5 [channel-mismatch]"]


def test_a_strided_pool_before_the_classifier_is_no_mistake(compile_text):
    """VGG pools 2x2/2 and flattens the 7x7 map on purpose: no warning."""
    _, graph = compile_text(
        """\
        name: Net
        input: [3, 28, 28]
        num_classes: 10
        layers:
          conv: {conv: {out: 8, kernel: 3, pad: 1}}
          pool: {maxpool: {kernel: 2, stride: 2}}
          flat: {flatten: }
          fc:   {linear: {out: num_classes}}
        """
    )
    assert graph.warnings == []


def test_googlenet_warns_only_away_from_its_input_size():
    from netgen.compile import compile_file
    from tests.conftest import GOOGLENET

    assert compile_file(str(GOOGLENET))[1].warnings == []
    for size, out in [(256, 2), (299, 3)]:
        (warning,) = compile_file(str(GOOGLENET), (3, size, size))[1].warnings
        assert warning.code == "pool-not-global"
        assert f"gives {out}x{out}, not 1x1, so flatten passes on {1024 * out * out} values" in warning.message
