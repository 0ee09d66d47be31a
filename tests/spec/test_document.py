"""The JSON Schema editors validate specs with: exported from the loader's own declarations,
committed as specs/netgen.schema.json, named on the first line of every spec, and agreeing with
the loader on every spec in specs/."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from netgen.spec.document import SCHEMA_FILE, document_schema, schema_text
from netgen.spec.schema import OP_ARGS
from tests.conftest import ROOT, SPECS

SPEC_FILES = sorted(SPECS.glob("*.yaml"))
FIRST_LINE = f"# yaml-language-server: $schema={SCHEMA_FILE}"


@pytest.fixture(scope="module")
def validator():
    schema = document_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_committed_schema_is_fresh():
    committed = (SPECS / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == schema_text(), f"specs/{SCHEMA_FILE} is stale; run: netgen schema > specs/{SCHEMA_FILE}"


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda path: path.name)
def test_every_spec_names_the_schema_and_validates_against_it(spec, validator):
    text = spec.read_text(encoding="utf-8")
    assert text.splitlines()[0] == FIRST_LINE
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(yaml.safe_load(text))]
    assert errors == []


def test_the_schema_refuses_what_the_loader_refuses(validator):
    spec = yaml.safe_load((SPECS / "googlenet.yaml").read_text(encoding="utf-8"))
    spec["layers"]["conv1"]["conv"]["kernal"] = 7  # an unknown argument
    spec["layers"]["pool-1"] = {"maxpool": {"kernel": 3}}  # a name that is not an identifier
    spec["layers"]["drop"] = {"dropout": {"p": 1.5}}  # out of range
    spec["blocks"]["inception"]["flat"] = "yes"
    spec["heads"]["aux1"]["loss_weight"] = -1
    paths = sorted("/".join(map(str, error.absolute_path)) for error in validator.iter_errors(spec))
    assert paths == ["blocks/inception/flat", "heads/aux1", "layers", "layers/conv1", "layers/drop"]


def test_an_op_written_without_arguments_is_valid_where_every_argument_has_a_default(validator, diagnostics_of):
    """`bn1: {batchnorm: }` takes batch norm's defaults in the loader, and so in the schema; `conv: `
    lacks its `out` and `dropout: ` its `p` in both."""
    spec = {"name": "n", "input": [3, 8, 8], "layers": {"c": {"conv": {"out": 4, "kernel": 1}}}}
    for op in ("batchnorm", "layernorm", "layer_scale", "global_avgpool", "relu"):
        assert list(validator.iter_errors({**spec, "layers": {**spec["layers"], "x": {op: None}}})) == [], op
    for op in ("conv", "dropout"):
        assert list(validator.iter_errors({**spec, "layers": {op: {op: None}}})) != [], op
        assert diagnostics_of(f"name: n\ninput: [3, 8, 8]\nlayers:\n  {op}: {{{op}: }}\n") != [], op


def test_every_field_has_a_description_and_every_op_a_layer():
    schema = document_schema()
    undescribed = []

    def walk(node, path):
        if isinstance(node, dict):
            undescribed.extend(f"{path}/{key}" for key, field in node.get("properties", {}).items() if not field.get("description"))
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}/{index}")

    walk(schema, "")
    assert undescribed == []
    layer_ops = {key for ref in schema["$defs"]["Layer"]["anyOf"] for key in schema["$defs"][ref["$ref"].split("/")[-1]].get("required", [])}
    assert layer_ops == set(OP_ARGS)
    conv = schema["$defs"]["ConvArgs"]["properties"]
    assert conv["out"]["description"].startswith("Output channels: a channel count")


def test_netgen_schema_prints_the_committed_file():
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "netgen", "schema"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout == (SPECS / SCHEMA_FILE).read_text(encoding="utf-8")
    assert json.loads(run.stdout)["$schema"].endswith("2020-12/schema")


def test_an_op_written_without_arguments_validates_where_the_loader_takes_it(validator, tmp_path):
    """`{batchnorm: }` is batch norm with every argument at its default, for the loader and the schema alike;
    `{conv: }` lacks `out` for both."""
    from netgen.compile import compile_file
    from netgen.diagnostics import SpecError

    def spec(layer: dict) -> dict:
        return {"name": "N", "input": [3, 8, 8], "num_classes": 2, "layers": {"conv": {"conv": {"out": 4, "kernel": 1}}, "x": layer}}

    for op, accepted in (("batchnorm", True), ("layernorm", True), ("gelu", True), ("conv", False)):
        errors = list(validator.iter_errors(spec({op: None})))
        assert (errors == []) == accepted, op
        path = tmp_path / f"{op}.yaml"
        path.write_text(f"name: N\ninput: [3, 8, 8]\nnum_classes: 2\nlayers:\n  conv: {{conv: {{out: 4, kernel: 1}}}}\n  x: {{{op}: }}\n")
        try:
            compile_file(str(path))
            loaded = True
        except SpecError:
            loaded = False
        assert loaded == accepted, op
