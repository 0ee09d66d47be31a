"""Block libraries: `use:` brings the blocks of another YAML file into a spec as if they were written
under its `blocks:`. Paths are relative to the file naming them and stay in the spec's folder; a
library read twice is read once; what is wrong inside one is located there, with the `use:` that
brought it in as a note. (The refused cases are files in tests/specs/bad/, library-*.yaml.)"""

from __future__ import annotations

import textwrap

import pytest

from netgen.build import produce
from netgen.compile import compile_file
from netgen.diagnostics import SpecError
from netgen.spec.document import document_schema
from tests.conftest import ROOT, SPECS, netgen_cli

UNIT = """\
blocks:
  unit:
    params: [n]
    layers:
      conv: {conv: {out: n, kernel: 3, pad: 1}}
"""


def _write(folder, files: dict[str, str]):
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder


def _spec(uses: str, layers: str = "  unit1: {unit: [8]}\n", defaults: str = "") -> str:
    return f"name: Net\ninput: [3, 16, 16]\nuse: {uses}\n{defaults}layers:\n{layers}"


def test_a_used_block_expands_as_if_written_in_the_spec_and_takes_its_defaults(tmp_path):
    _write(
        tmp_path,
        {
            "blocks/units.yaml": UNIT,
            "net.yaml": _spec("[blocks/units.yaml]", defaults="defaults:\n  conv: {bn: true, act: relu}\n"),
        },
    )
    spec, graph = compile_file(str(tmp_path / "net.yaml"))
    assert list(spec.blocks) == ["unit"]
    assert spec.blocks["unit"].span.file == str(tmp_path / "blocks" / "units.yaml")
    conv = graph["unit1.conv"]
    assert conv.shape == (8, 16, 16) and conv.attrs.bn_eps is not None and conv.attrs.relu
    assert [(used.path, used.span.line) for used in spec.imports] == [(str(tmp_path / "blocks" / "units.yaml"), 3)]


def test_libraries_use_libraries_relative_to_themselves_and_one_used_twice_is_read_once(tmp_path):
    _write(
        tmp_path,
        {
            "blocks/base.yaml": UNIT,
            "blocks/pair.yaml": """\
                use: [base.yaml]
                blocks:
                  pair:
                    params: [n]
                    layers:
                      a: {unit: [n]}
                      b: {unit: [n]}
                """,
            "blocks/more.yaml": "use: [base.yaml]\nblocks:\n  single:\n    params: [n]\n    layers:\n      a: {unit: [n]}\n",
            "net.yaml": _spec(
                "[blocks/pair.yaml, blocks/more.yaml]", "  pair1: {pair: [8]}\n  single1: {single: [4]}\n"
            ),
        },
    )
    spec, graph = compile_file(str(tmp_path / "net.yaml"))
    assert list(spec.blocks) == ["unit", "pair", "single"]  # a library's own uses come first
    assert [used.path.rpartition("/")[2] for used in spec.imports] == ["pair.yaml", "base.yaml", "more.yaml"]
    assert graph["single1.a.conv"].shape == (4, 16, 16)


def test_an_error_in_a_library_points_into_it_with_each_use_that_led_there(tmp_path):
    _write(
        tmp_path,
        {
            "blocks/base.yaml": UNIT.replace("kernel: 3, pad: 1", "kernel: 3, pad: 1, act: gelu"),
            "blocks/pair.yaml": "use: [base.yaml]\nblocks:\n  pair:\n    params: [n]\n    layers:\n      a: {unit: [n]}\n",
            "net.yaml": _spec("[blocks/pair.yaml]", "  pair1: {pair: [8]}\n"),
        },
    )
    with pytest.raises(SpecError) as refused:
        compile_file(str(tmp_path / "net.yaml"))
    (diagnostic,) = refused.value.diagnostics
    lines = diagnostic.render().replace(f"{tmp_path}/", "").splitlines()
    assert lines == [
        "blocks/base.yaml:5:53: error: block 'unit', layer 'conv': conv: 'act' must be 'relu' or 'none', got 'gelu'; did you mean 'relu'? [bad-value]",
        "blocks/pair.yaml:1:7: note: in block library blocks/base.yaml, used here",
        "net.yaml:3:7: note: in block library blocks/pair.yaml, used here",
    ]


def test_shipped_specs_share_the_inception_library_and_build_as_when_they_wrote_it_out(tmp_path):
    users = [path.name for path in sorted(SPECS.glob("*.yaml")) if "blocks/inception.yaml" in path.read_text()]
    assert len(users) >= 2
    # GoogLeNet writes the same two blocks out: its variant with them inlined builds byte for byte as with `use:`.
    blocks = (SPECS / "googlenet.yaml").read_text().partition("\nblocks:\n")[2].partition("\nlayers:\n")[0]
    variant = (SPECS / "googlenet-w05.yaml").read_text()
    inlined = variant.replace("use: [blocks/inception.yaml]", "blocks:\n" + blocks)
    (tmp_path / "googlenet-w05.yaml").write_text(inlined)
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "googlenet-table1.yaml").write_bytes(
        (SPECS / "reference" / "googlenet-table1.yaml").read_bytes()
    )
    written_out = produce(str(tmp_path / "googlenet-w05.yaml"))
    used = produce(str(SPECS / "googlenet-w05.yaml"))
    assert [(a.name, a.data) for a in written_out] == [(a.name, a.data) for a in used]


def test_a_library_names_the_schema_and_validates_against_it():
    import jsonschema
    import yaml

    library = SPECS / "blocks" / "inception.yaml"
    assert library.read_text().splitlines()[0] == "# yaml-language-server: $schema=../netgen.schema.json"
    validator = jsonschema.Draft202012Validator(document_schema())
    assert list(validator.iter_errors(yaml.safe_load(library.read_text()))) == []
    # A library is blocks only: a library with a layer is neither a spec nor a library.
    mixed = {**yaml.safe_load(library.read_text()), "name": "Mixed"}
    assert list(validator.iter_errors(mixed))


def test_a_copy_made_elsewhere_brings_the_libraries_along(tmp_path):
    run = netgen_cli("new", "variant", "--from", "specs/googlenet-w05.yaml", "--out", str(tmp_path / "mine"), cwd=ROOT)
    assert run.returncode == 0, run.stderr
    copied = tmp_path / "mine" / "blocks" / "inception.yaml"
    assert copied.read_bytes() == (SPECS / "blocks" / "inception.yaml").read_bytes()
    assert f"wrote {copied}" in run.stdout
    checked = netgen_cli("check", str(tmp_path / "mine" / "variant.yaml"), cwd=ROOT)
    assert checked.returncode == 0, checked.stderr
