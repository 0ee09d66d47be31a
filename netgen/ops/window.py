"""Sliding windows (convolutions and pooling): output sizes as PyTorch computes them, and padding."""

from __future__ import annotations

import math

from netgen.ops.base import Pair, ShapeContext


def window(size: int, kernel: int, stride: int, pad: int, ceil: bool) -> int:
    """Output extent of a sliding window, as PyTorch computes it: rounded down, or up (`ceil`)
    with the last window starting inside the input or its left padding."""
    span = size + 2 * pad - kernel
    out = (math.ceil(span / stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def spatial(ctx: ShapeContext, kernel: Pair, stride: Pair, pad: Pair, ceil: bool) -> Pair:
    """The output's height and width, or a located error when the kernel does not fit."""
    _, height, width = ctx.shapes[0]
    (kh, kw), (ph, pw) = kernel, pad
    if height + 2 * ph < kh or width + 2 * pw < kw:
        padded = f" (padded: {height + 2 * ph}x{width + 2 * pw})" if ph or pw else ""
        fits = f"a kernel of at most {height + 2 * ph}x{width + 2 * pw} fits"
        # The padding that would make this kernel fit, when it stays within half the kernel.
        need = (max(ph, -(-(kh - height) // 2)), max(pw, -(-(kw - width) // 2)))
        if need[0] <= kh // 2 and need[1] <= kw // 2:
            fits += f", or pad {need[0]}" if need[0] == need[1] else f", or pad [{need[0]}, {need[1]}]"
        ctx.fail("kernel-too-large", f"a {kh}x{kw} kernel is larger than its {height}x{width} input{padded}; {fits}")
    return window(height, kh, stride[0], ph, ceil), window(width, kw, stride[1], pw, ceil)


def padding(ctx, pad, kernel: Pair) -> Pair:
    """`pad` as written (a number, a pair, `same` or `valid`) for this kernel; `same` keeps the size
    at stride 1, so it needs an odd kernel. Where block parameters give the kernel, the generated
    code computes the same from them (`ctx.symbolic`)."""
    if pad == "valid":
        return (0, 0)
    if pad == "same":
        if not ctx.symbolic and (kernel[0] % 2 == 0 or kernel[1] % 2 == 0):
            ctx.fail(
                "bad-value",
                f"pad 'same' needs an odd kernel, got {kernel[0]}x{kernel[1]}; use an odd kernel or give the padding as numbers",
                "pad",
            )
        return ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
    return ctx.size(pad, "pad", 0)
