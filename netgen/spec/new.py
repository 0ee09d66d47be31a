"""`netgen new`: the text of a spec to start from, every field commented, or a copy of another spec
with its name, its reference path and its schema line made right for where the copy goes.

It reads nothing but the spec it copies, the block libraries that spec uses and the reference
table it names, each as the other commands read them."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from string import Template

from netgen.diagnostics import SpecError, error
from netgen.files import read_regular
from netgen.spec.document import SCHEMA_FILE
from netgen.spec.model import Spec
from netgen.spec.yaml_source import MAX_BYTES, Source, load_yaml, read_source

SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=.*\n", re.MULTILINE)
NAME_LINE = re.compile(r"^name:.*$", re.MULTILINE)
REFERENCE_LINE = re.compile(r"""^reference:[ \t]*("(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'|[^\s#]+)""", re.MULTILINE)

STARTER = Template('''\
# yaml-language-server: $$schema=$schema
# A small Inception-style network to start from; `netgen check $path` checks it,
# `netgen summary $path --depth 2` shows it, `netgen build $path` writes its PyTorch and ONNX.
name: $name                       # the network's name; the generated class is its CamelCase form
description: A two-module Inception network for 32x32 images   # one line, for readers
input: [3, 32, 32]                # C, H, W of one input image
num_classes: 10                   # the classifier's outputs; blocks can use `num_classes` as a value
# width: 0.5                      # scales every channel count written as a number
# width_divisor: 8                # ...and rounds each scaled count to a multiple of 8 (timm's make_divisible)
# init: {weight: xavier_uniform, bias: 0.0}   # how weights start (default: PyTorch's)
# reference: reference/table.yaml # the paper's table, for `netgen verify`
# use: [blocks/inception.yaml]    # block libraries: their blocks join those under `blocks:`
# data: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], crop_pct: 0.875, interpolation: bilinear}
#                                 # how images are prepared: the module's pretrained_cfg, for timm

claims:                           # the design's targets; `netgen check` and `netgen verify` hold it to them
  params: ≈ 29K ± 5%            # within 5% (also an exact count, `≤ 1.5M` or `≥ ...`; K, M, G = 10^3, 10^6, 10^9)
  output: 1x1x10                  # the output size, HxWxC as sizes print

defaults:                         # arguments by op
  conv: {act: relu, bn: true, bias: false}   # every conv gets these unless it says otherwise (batch norm's shift replaces the bias)

blocks:                           # parameterised blocks the layers use by name
  inception:                      # a block: parameters, then branches that each read its input
    params: [n1x1, n3x3red, n3x3, pool_proj]   # channel counts, given in this order by each use
    concat:                       # the branches' outputs, concatenated (`add:` sums them)
      branch1x1:
        - conv: {out: n1x1, kernel: 1}
      branch3x3:
        - conv: {out: n3x3red, kernel: 1}
        - conv: {out: n3x3, kernel: 3, pad: same}
      branch_pool:
        - maxpool: {kernel: 3, stride: 1, pad: 1}
        - conv: {out: pool_proj, kernel: 1}

layers:                           # in order; each reads the previous layer unless `from:` says
  stem:         {conv: {out: 32, kernel: 3, pad: 1}}
  #                          1x1  3x3r  3x3  proj
  inception1:   {inception: [ 16,   24,  32,    8]}
  inception2:   {inception: [ 32,   32,  48,   16]}   # `stage: true` marks a feature map (feature_info)
  pool:         {global_avgpool: }
  flatten:      {flatten: }
  dropout:      {dropout: {p: 0.2}}
  fc:           {linear: {out: num_classes}}

# heads:                          # side classifiers for training, attached to a trunk layer
#   aux: {aux_block: [], from: inception1, loss_weight: 0.3}   # aux_block: a block of yours
#                                 # (or among the layers, with `head: true`: the module keeps it there)
# deviations:                     # where the spec departs from its reference on purpose
#   - {row: 3a, cell: params, reason: a wider 3x3 branch}
''')


def spec_name(name: str) -> str | None:
    """The network name for NAME (`my-net` -> my_net), or None when NAME cannot make one."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", name):
        return None
    return name.replace("-", "_")


def yaml_text(text: str) -> str:
    """`text` as a YAML value that reads back as that text: plain, or quoted where YAML would read
    another value (`null`, `true`) or pyyaml another than netgen (`yes`)."""
    try:
        plain = load_yaml(Source("", f"name: {text}\n")).get("name")
    except SpecError:
        plain = None
    return text if plain == text else json.dumps(text)


def new_spec(name: str, target: Path, source: str | None = None) -> tuple[str, dict[Path, bytes]]:
    """The text of the new spec at `target`: the starter, or `source` adapted to its new place, and
    the files it needs beside it: a copy of the source's reference table, when the copy's folder
    does not already hold it (a spec reads only tables in its folder or below), and of the block
    libraries it uses.

    `source` is read as `check` reads a spec (a regular file of at most 4 MiB of UTF-8 YAML, and
    the block libraries it uses, in its folder or below), and the table its `reference:` names as
    `verify` reads one: in the source's folder or below it, and a reference table. Nothing else is
    read, and nothing is copied that is not one of those; a source `check` cannot read is refused."""
    title = yaml_text(spec_name(name))
    if source is None:
        return STARTER.substitute(schema=SCHEMA_FILE, path=target.as_posix(), name=title), {}
    from netgen.spec.parse import parse_spec

    data = read_regular(source, "spec", MAX_BYTES)
    spec = parse_spec(source, data)
    text = SCHEMA_LINE.sub("", read_source(source, data).text)
    text = NAME_LINE.sub(f"name: {title}", text, count=1)
    beside: dict[Path, bytes] = {}
    if spec.reference is not None:
        span = spec.where("reference")
        match = REFERENCE_LINE.search(text)
        if match is None:
            raise SpecError(
                error(
                    "bad-reference",
                    "netgen new rewrites a reference written on a line of its own, `reference: path`; write it so, "
                    "or copy the spec by hand",
                    span,
                )
            )
        # The same rules as check and verify: a table outside the spec's folder is refused, not copied.
        from netgen.verify.reference import load_reference, named_reference

        found = Path(os.path.abspath(named_reference(source, spec.reference, span)))
        folder = Path(os.path.abspath(target.parent))
        if found.is_relative_to(folder):
            moved = found.relative_to(folder).as_posix()
        else:
            moved = f"reference/{found.name}"
            if os.path.lexists(found):
                load_reference(str(found))  # a table verify reads, or its diagnostics
                beside[target.parent / moved] = read_regular(str(found), "reference table", MAX_BYTES)
        text = text[: match.start(1)] + yaml_text(moved) + text[match.end(1) :]
    beside.update(_libraries(spec, target.parent))
    return f"# yaml-language-server: $schema={SCHEMA_FILE}\n{text}", beside


def _libraries(spec: Spec, folder: Path) -> dict[Path, bytes]:
    """The block libraries the spec uses (and those they use), as its loader found and read them
    (in the spec's folder or below, each a block library), placed where the copy in `folder`
    finds them: at the same paths relative to it, so the copy's `use:` entries need no change."""
    home = Path(os.path.realpath(os.path.dirname(spec.path) or os.curdir))
    if home == folder.resolve():
        return {}
    return {
        folder / Path(os.path.realpath(library.path)).relative_to(home): read_regular(library.path, "block library", MAX_BYTES)
        for library in spec.imports
    }
