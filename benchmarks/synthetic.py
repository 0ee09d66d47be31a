"""A synthetic spec of N channel-preserving Inception modules (64 channels in, 64 out), to
measure how check and build grow with the size of a network. Each module holds 8,730
parameters and expands to 8 layers, so 10,000 of them (80,000 layers, 350 MB of float32 weights)
fit one ONNX file; their spec holds about 100,000 values, so it needs `--max-layers 200000`.

    python benchmarks/synthetic.py 1000 > /tmp/inception-1000.yaml
"""

from __future__ import annotations

import sys

HEADER = """\
name: synthetic_{count}
description: {count} channel-preserving Inception modules
input: [3, 32, 32]
num_classes: 10
blocks:
  inception:
    params: [n1x1, n3x3red, n3x3, n5x5red, n5x5, pool_proj]
    concat:
      branch1:
        - conv: {{out: n1x1, kernel: 1, act: relu}}
      branch2:
        - conv: {{out: n3x3red, kernel: 1, act: relu}}
        - conv: {{out: n3x3, kernel: 3, pad: 1, act: relu}}
      branch3:
        - conv: {{out: n5x5red, kernel: 1, act: relu}}
        - conv: {{out: n5x5, kernel: 5, pad: 2, act: relu}}
      branch4:
        - maxpool: {{kernel: 3, stride: 1, pad: 1}}
        - conv: {{out: pool_proj, kernel: 1, act: relu}}
layers:
  stem: {{conv: {{out: 64, kernel: 3, pad: 1, act: relu}}}}
"""

FOOTER = """\
  pool: {global_avgpool: }
  flatten: {flatten: }
  fc: {linear: {out: num_classes}}
"""


def synthetic_spec(count: int) -> str:
    """The text of a spec with `count` Inception modules, each 16+24+8+16 = 64 channels out."""
    modules = "".join(f"  inception{index}: {{inception: [16, 16, 24, 8, 8, 16]}}\n" for index in range(count))
    return HEADER.format(count=count) + modules + FOOTER


if __name__ == "__main__":
    sys.stdout.write(synthetic_spec(int(sys.argv[1])))
