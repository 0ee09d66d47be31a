"""The value types a spec's fields are declared with, and the base of every declaration.

`netgen.spec.schema` composes them into the spec's declarations and `netgen.ops` into each op's
arguments; a field's `description` says what values it takes (the diagnostics quote it: "'bias'
must be true or false"), its `title` what it means.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, StrictBool, StrictInt, StrictStr

# Limits that keep a typo (an extra zero, a pasted number) from becoming an absurd model.
MAX_CHANNELS = 1_000_000
MAX_KERNEL = 1024
MAX_SPATIAL = 65_536

Symbol = Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
_Count = Annotated[StrictInt, Field(ge=1, le=MAX_CHANNELS)]
_Extent = Annotated[StrictInt, Field(ge=1, le=MAX_KERNEL)]
_PadExtent = Annotated[StrictInt, Field(ge=0, le=MAX_KERNEL)]

Channels = Annotated[
    _Count | Symbol,
    Field(description=f"a channel count (1 to {MAX_CHANNELS}) or a block parameter name"),
]
Size2 = Annotated[
    _Extent | Annotated[list[_Extent], Field(min_length=2, max_length=2)],
    Field(description=f"an integer from 1 to {MAX_KERNEL} or a pair [h, w] of them"),
]
Pad = Annotated[
    _PadExtent | Annotated[list[_PadExtent], Field(min_length=2, max_length=2)] | Literal["same", "valid"],
    Field(description="an integer >= 0, a pair [h, w], 'same' or 'valid'"),
]
Flag = Annotated[StrictBool, Field(description="true or false")]
# YAML reads .inf and .nan as floats; no argument of a layer means anything with them.
Finite = Annotated[float, Field(allow_inf_nan=False)]
Probability = Annotated[Finite, Field(ge=0.0, lt=1.0, description="a number from 0 up to (not including) 1")]

# float32's range: the ONNX model keeps attributes such as epsilon in float32, and the weights that
# init constants start are float32 in both backends; beyond it a value becomes inf or 0.
FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 1.1754943508222875e-38  # the smallest normal float32


def _fits_float32(value: float) -> float:
    if value != 0 and not FLOAT32_TINY <= abs(value) <= FLOAT32_MAX:
        raise ValueError("outside float32's range")
    return value


Float32 = Annotated[Finite, AfterValidator(_fits_float32)]
Positive32 = Annotated[Float32, Field(gt=0.0, description="a number > 0 that float32 holds (1.2e-38 to 3.4e38)")]
Number32 = Annotated[
    Float32, Field(description="a number that float32 holds: 0, or 1.2e-38 to 3.4e38 either side of 0")
]
Groups = Annotated[
    StrictInt, Field(ge=1, le=MAX_CHANNELS, description="a positive integer that divides both channel counts")
]


class Strict(BaseModel):
    # Each declaration builds its validator when first used: `check` of one spec uses a few of them.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


def walked(declared: Any, container: type | None = None) -> PlainValidator:
    """A part of the document `parse` walks itself, each of its nodes validated by its own
    declaration so that every diagnostic is located at its node. Here at most its kind is checked
    (`container`); `declared` is the type the JSON Schema shows (`netgen.spec.document`)."""

    def kind_only(value: Any) -> Any:
        if container is not None and not isinstance(value, container):
            raise ValueError(f"expected a {container.__name__}")
        return value

    return PlainValidator(kind_only, json_schema_input_type=declared)
