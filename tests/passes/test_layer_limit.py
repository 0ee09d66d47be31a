"""The safety limit on the expanded network, and `--max-layers`, which raises it."""

from __future__ import annotations

import pytest

from netgen.compile import compile_file
from netgen.diagnostics import SpecError
from netgen.passes.expand import MAX_LAYERS, MAX_LAYERS_CEILING
from netgen.spec.yaml_source import MAX_VALUES
from tests.conftest import netgen_cli

REPEATED = """\
name: Deep
input: [3, 8, 8]
layers:
  stem: {conv: {out: 4, kernel: 3, pad: 1, act: relu}}
  body: {conv: {out: 4, kernel: 3, pad: 1, act: relu}, times: 40}
  pool: {global_avgpool: }
"""


def _limit_error(path, max_layers):
    with pytest.raises(SpecError) as caught:
        compile_file(str(path), max_layers=max_layers)
    (diagnostic,) = caught.value.diagnostics
    return diagnostic


def test_a_network_over_the_limit_is_refused_at_the_layer_that_passes_it(write_spec):
    path = write_spec(REPEATED)
    diagnostic = _limit_error(path, max_layers=20)
    assert diagnostic.code == "too-large"
    assert diagnostic.message == "the network expands to more than 20 layers; --max-layers N raises the limit"
    assert diagnostic.span.line == 5  # the repeated layer, not the file
    assert len(compile_file(str(path), max_layers=43)[1].g) == 43  # input, stem, 40 copies, pool


def test_the_default_limit_is_fifty_thousand_layers(write_spec):
    assert MAX_LAYERS == 50_000
    # `times` stops at 1,000; a block of 1,000 layers used 60 times makes 60,000.
    deep = "blocks:\n  deep:\n    layers:\n      c: {conv: {out: 4, kernel: 3, pad: 1}, times: 1000}\nlayers:"
    path = write_spec(REPEATED.replace("layers:", deep, 1).replace("{conv: {out: 4, kernel: 3, pad: 1, act: relu}, times: 40}", "{deep: [], times: 60}"))
    assert "more than 50,000 layers" in _limit_error(path, max_layers=None).message


def _listed(count: int) -> str:
    """A spec that writes out every one of `count` layers, about 6 values each."""
    lines = [f"  conv{index}: {{conv: {{out: 4, kernel: 1}}}}" for index in range(count)]
    return "name: Long\ninput: [4, 2, 2]\nlayers:\n" + "\n".join(lines) + "\n"


def test_max_layers_also_raises_the_limit_on_the_values_a_spec_file_holds(write_spec):
    count = MAX_VALUES // 5  # about 60,000 values: over the default, as a spec of 10,000 layers is
    path = write_spec(_listed(count))
    diagnostic = _limit_error(path, max_layers=None)
    assert diagnostic.code == "too-large"
    assert diagnostic.message.endswith(f"a spec may hold at most {MAX_VALUES:,}, unless --max-layers raises the limit")
    _, graph = compile_file(str(path), max_layers=2 * MAX_VALUES)
    assert len(graph.g) == count + 1


def test_every_command_that_compiles_takes_max_layers(tmp_path, write_spec):
    path = write_spec(REPEATED)
    refused = netgen_cli("check", str(path), "--max-layers", "20", cwd=tmp_path)
    assert refused.returncode == 1
    assert "more than 20 layers; --max-layers N raises the limit [too-large]" in refused.stderr
    for command in ("check", "summary", "graph", "verify"):
        assert netgen_cli(command, str(path), "--max-layers", "20", cwd=tmp_path).returncode == 1, command
    assert netgen_cli("check", str(path), "--max-layers", "43", cwd=tmp_path).returncode == 0
    assert netgen_cli("build", str(path), "--max-layers", "20", "--out", str(tmp_path / "out"), cwd=tmp_path).returncode == 1
    assert not (tmp_path / "out" / "net.py").exists()
    assert netgen_cli("report", str(path), "--max-layers", "20", "--out", str(tmp_path / "out"), cwd=tmp_path).returncode == 1
    bad = netgen_cli("check", str(path), "--max-layers", "0", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_the_highest_max_layers_still_bounds_what_aliases_expand_to(write_spec):
    # Nine levels of ten aliases: 10**9 values. At the ceiling of --max-layers the limit on values
    # is 1,000,000, so the file is refused before anything is expanded.
    levels = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    path = write_spec("name: Bomb\ninput: [3, 8, 8]\n" + "\n".join(levels) + "\nlayers:\n  c: {conv: {out: 4, kernel: 1}}\n")
    diagnostic = _limit_error(path, max_layers=MAX_LAYERS_CEILING)
    assert diagnostic.code == "too-large"
    assert diagnostic.message.endswith(f"a spec may hold at most {MAX_LAYERS_CEILING:,}")
    with pytest.raises(ValueError, match="max_layers must be from 1 to 1,000,000"):
        compile_file(str(path), max_layers=MAX_LAYERS_CEILING + 1)
