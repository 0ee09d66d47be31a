"""`netgen new`: the text of a spec to start from, every field commented, or a copy of another spec
with its name, its reference path and its schema line made right for where the copy goes.

It reads nothing but the spec it copies and the reference table that spec names, each as the
other commands read them."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from string import Template

from netgen.diagnostics import SpecError, error
from netgen.files import read_regular
from netgen.spec.document import SCHEMA_FILE
from netgen.spec.yaml_source import MAX_BYTES, Source, load_yaml, read_source

SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=.*\n", re.MULTILINE)
NAME_LINE = re.compile(r"^name:.*$", re.MULTILINE)
REFERENCE_LINE = re.compile(r"""^reference:[ \t]*("(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'|[^\s#]+)""", re.MULTILINE)

STARTER = Template('''\
# yaml-language-server: $$schema=$schema
# A small Inception-style network to start from; `netgen check $path` checks it,
# `netgen summary $path --depth 2` shows it, `netgen build $path` writes its PyTorch and ONNX.
name: $name                       # the generated class's name
description: A two-module Inception network for 32x32 images   # one line, for readers
input: [3, 32, 32]                # C, H, W of one input image
num_classes: 10                   # the classifier's outputs; blocks can use `num_classes` as a value
# width: 0.5                      # scales every channel count written as a number
# init: {weight: xavier_uniform, bias: 0.0}   # how weights start (default: PyTorch's)
# reference: reference/table.yaml # the paper's table, for `netgen verify`

defaults:                         # arguments by op
  conv: {act: relu, bn: true}     # every conv gets these unless it says otherwise

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
  inception2:   {inception: [ 32,   32,  48,   16]}
  pool:         {global_avgpool: }
  flatten:      {flatten: }
  dropout:      {dropout: {p: 0.2}}
  fc:           {linear: {out: num_classes}}

# heads:                          # side classifiers for training, attached to a trunk layer
#   aux: {aux_block: [], from: inception1, loss_weight: 0.3}   # aux_block: a block of yours
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
    the files it needs beside it (a copy of the source's reference table, when the copy's folder
    does not already hold it: a spec reads only tables in its folder or below).

    `source` is read as `check` reads a spec (a regular file of at most 4 MiB, UTF-8 YAML), and
    the table its `reference:` names as `verify` reads one: in the source's folder or below it,
    and a reference table; nothing else is read, and nothing is copied that is not such a table."""
    title = yaml_text(spec_name(name))
    if source is None:
        return STARTER.substitute(schema=SCHEMA_FILE, path=target.as_posix(), name=title), {}
    loaded = read_source(source, read_regular(source, "spec", MAX_BYTES))
    top = load_yaml(loaded)
    text = SCHEMA_LINE.sub("", loaded.text)
    text = NAME_LINE.sub(f"name: {title}", text, count=1)
    beside: dict[Path, bytes] = {}
    reference = top.get("reference")
    if isinstance(reference, str):
        span = top.value_spans["reference"]
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

        found = Path(os.path.abspath(named_reference(source, reference, span)))
        folder = Path(os.path.abspath(target.parent))
        if found.is_relative_to(folder):
            moved = found.relative_to(folder).as_posix()
        else:
            moved = f"reference/{found.name}"
            if os.path.lexists(found):
                load_reference(str(found))  # a table verify reads, or its diagnostics
                beside[target.parent / moved] = read_regular(str(found), "reference table", MAX_BYTES)
        text = text[: match.start(1)] + yaml_text(moved) + text[match.end(1) :]
    return f"# yaml-language-server: $schema={SCHEMA_FILE}\n{text}", beside
