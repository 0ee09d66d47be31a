"""The JSON Schema of a spec, for editors: exported from the declarations the loader validates with
(netgen/spec/schema.py), so the two cannot disagree about a key or a value.

`netgen schema` prints it; specs/netgen.schema.json is its committed copy, and every spec in specs/
names it on its first line (`# yaml-language-server: $schema=netgen.schema.json`)."""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from netgen.spec.schema import OP_ARGS, BlockLibrary, SpecHeader

SCHEMA_FILE = "netgen.schema.json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _Generator(GenerateJsonSchema):
    def field_title_should_be_set(self, schema) -> bool:
        return False  # a field's title is what it means, given by hand or not at all


def document_schema() -> dict[str, Any]:
    """A network spec, or a block library (a file of `blocks:` that specs `use:`): both start with
    the line naming this schema, and a library's keys are a spec's too."""
    schema = SpecHeader.model_json_schema(by_alias=True, schema_generator=_Generator)
    library = BlockLibrary.model_json_schema(by_alias=True, schema_generator=_Generator)
    schema["$defs"].update(library.pop("$defs"))
    schema["$defs"]["BlockLibrary"] = library
    schema["anyOf"] = [
        {"description": "A network spec", "required": schema.pop("required")},
        {"$ref": "#/$defs/BlockLibrary"},
    ]
    for args in OP_ARGS.values():
        # `defaults:` may give any argument, so neither a default nor a layer must give all of them.
        schema["$defs"].get(args.__name__, {}).pop("required", None)
    _describe(schema)
    return {"$schema": DIALECT, "title": "netgen network spec", **{k: v for k, v in schema.items() if k != "title"}}


def _describe(node: Any) -> None:
    """Each field's description, for an editor's hover: what it means, then what values it takes;
    and names (of layers, blocks, branches) that must be identifiers."""
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)  # a key that is not a name is an error, as `check` says
        for field in node.get("properties", {}).values():
            if "title" in field:
                field["description"] = describe(field.pop("title"), field.get("description"))
        for value in node.values():
            _describe(value)
    elif isinstance(node, list):
        for value in node:
            _describe(value)


def describe(meaning: str, values: str | None) -> str:
    """A field's description as the schema and the editor's hover give it: 'Kernel size: an integer ...'."""
    return f"{meaning[:1].upper()}{meaning[1:]}" + (f": {values}" if values else "")


def schema_text() -> str:
    return json.dumps(document_schema(), indent=2) + "\n"
