import pytest

from netgen.passes.shapes import window

NET = """\
name: Net
input: [3, {size}, {size}]
layers:
  conv: {{conv: {{out: 8, kernel: {kernel}, stride: {stride}, pad: {pad}}}}}
  pool: {{maxpool: {{kernel: 3, stride: 2, ceil: {ceil}}}}}
"""


@pytest.mark.parametrize(
    "size, kernel, stride, pad, ceil, conv_out, pool_out",
    [
        (224, 7, 2, 3, "true", 112, 56),  # GoogLeNet's stem
        (224, 7, 2, 3, "false", 112, 55),
        (32, 3, 1, 1, "true", 32, 16),
        (9, 3, 2, 0, "true", 4, 2),  # (4 - 3) / 2 rounds up to 1 window more
        (10, 3, 1, 0, "false", 8, 3),
    ],
)
def test_conv_floors_and_pool_rounds_as_asked(compile_text, size, kernel, stride, pad, ceil, conv_out, pool_out):
    _, graph = compile_text(NET.format(size=size, kernel=kernel, stride=stride, pad=pad, ceil=ceil))
    assert graph["conv"].shape == (8, conv_out, conv_out)
    assert graph["pool"].shape == (8, pool_out, pool_out)


def test_ceil_never_starts_a_window_in_the_right_padding():
    # PyTorch drops the last window when it would start past the input and left padding.
    assert window(5, 2, 2, 1, ceil=True) == 3
    assert window(6, 2, 2, 0, ceil=True) == 3
    assert window(7, 3, 3, 1, ceil=True) == 3


def test_rectangular_kernel_and_same_padding(compile_text):
    _, graph = compile_text(
        """\
        name: Net
        input: [3, 17, 17]
        layers:
          a: {conv: {out: 4, kernel: [1, 7], pad: same}}
          b: {conv: {out: 4, kernel: [7, 1], pad: [3, 0], stride: [2, 1]}}
        """
    )
    assert graph["a"].attrs.pad == (0, 3)
    assert graph["a"].shape == (4, 17, 17)
    assert graph["b"].shape == (4, 9, 17)


def test_concat_sums_channels_and_flatten_linear_chain(compile_text):
    _, graph = compile_text(
        """\
        name: Net
        input: [3, 8, 8]
        blocks:
          two:
            params: [a, b]
            concat:
              left: [conv: {out: a, kernel: 1}]
              right: [conv: {out: b, kernel: 3, pad: 1}]
        layers:
          mix: {two: [5, 7]}
          gap: {global_avgpool: }
          flat: {flatten: }
          fc: {linear: {out: num_classes}}
        num_classes: 3
        """
    )
    assert graph["mix"].shape == (12, 8, 8)
    assert graph["gap"].shape == (12, 1, 1)
    assert graph["fc"].shape == (3,)


def test_googlenet_rows_match_table_1(googlenet):
    # Table 1's output sizes, H x W x C as the paper prints them.
    printed = {
        "conv1": "112x112x64",
        "maxpool1": "56x56x64",
        "conv3": "56x56x192",
        "maxpool2": "28x28x192",
        "inception3a": "28x28x256",
        "inception3b": "28x28x480",
        "maxpool3": "14x14x480",
        "inception4a": "14x14x512",
        "inception4b": "14x14x512",
        "inception4c": "14x14x512",
        "inception4d": "14x14x528",
        "inception4e": "14x14x832",
        "maxpool4": "7x7x832",
        "inception5a": "7x7x832",
        "inception5b": "7x7x1024",
        "avgpool": "1x1x1024",
    }
    _, graph = googlenet
    for name, size in printed.items():
        c, h, w = graph[name].shape
        assert f"{h}x{w}x{c}" == size, name
    assert graph["fc"].shape == (1000,)
