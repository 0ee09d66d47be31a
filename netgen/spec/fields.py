"""The value types a spec's fields are declared with, and the base of every declaration.

`netgen.spec.schema` composes them into the spec's declarations and `netgen.ops` into each op's
arguments; a field's `description` says what values it takes (the diagnostics quote it: "'bias'
must be true or false"), its `title` what it means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic_core import PydanticCustomError, core_schema

# Limits that keep a typo (an extra zero, a pasted number) from becoming an absurd model.
MAX_CHANNELS = 1_000_000
MAX_KERNEL = 1024
MAX_SPATIAL = 65_536

Symbol = Annotated[StrictStr, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
_Count = Annotated[StrictInt, Field(ge=1, le=MAX_CHANNELS)]
_Extent = Annotated[StrictInt, Field(ge=1, le=MAX_KERNEL)]
_PadExtent = Annotated[StrictInt, Field(ge=0, le=MAX_KERNEL)]


@dataclass(frozen=True)
class Takes:
    """Marks an argument that may name a block parameter, and the parameter types it takes
    (channels, int, float, activation, pool); the expand pass checks the type at each use."""

    types: tuple[str, ...]


def takes(model: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """The arguments of a declaration that may name a block parameter, with the types they take."""
    out = {}
    for name, info in model.model_fields.items():
        for item in info.metadata:
            if isinstance(item, Takes):
                out[info.alias or name] = item.types
    return out


def _expression(text: str) -> str:
    from netgen.ops.expr import ExprError, parse_expr  # the expression language lives with the ops that use it

    if text.strip().isdigit():
        raise PydanticCustomError("expression", "write the number without quotes")
    try:
        parse_expr(text)
    except ExprError as exc:
        raise PydanticCustomError("expression", str(exc)) from None
    return text


# The pattern is the editor's hint; the reader says what is wrong with an expression that does not read.
_Expression = Annotated[
    StrictStr, Field(max_length=200, json_schema_extra={"pattern": r"^[A-Za-z0-9_ +\-*/()]+$"}), AfterValidator(_expression)
]
_IntParam = _Extent | Symbol

CHANNELS_DESCRIPTION = f"a channel count (1 to {MAX_CHANNELS}), a block parameter, or an expression of them (`in - 3 * g`)"
Channels = Annotated[_Count | _Expression, Takes(("channels",)), Field(description=CHANNELS_DESCRIPTION)]


def channel_count_problem(value: Any) -> str | None:
    """Why `value` is no channel count, a block parameter or an expression (None: it is one); a
    reason that follows the description, such as "; write the number without quotes"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None if 1 <= value <= MAX_CHANNELS else ""
    if not isinstance(value, str) or len(value) > 200:
        return ""
    try:
        _expression(value)
    except PydanticCustomError as exc:
        return f"; {exc.message()}"
    return None
Size2 = Annotated[
    _Extent | Annotated[list[_Extent], Field(min_length=2, max_length=2)],
    Field(description=f"an integer from 1 to {MAX_KERNEL} or a pair [h, w] of them"),
]
SizeParam = Annotated[
    _IntParam | Annotated[list[_IntParam], Field(min_length=2, max_length=2)],
    Takes(("int",)),
    Field(description=f"an integer from 1 to {MAX_KERNEL}, an int parameter, or a pair [h, w] of them"),
]
Pad = Annotated[
    _PadExtent | Annotated[list[_PadExtent | Symbol], Field(min_length=2, max_length=2)] | Literal["same", "valid"] | Symbol,
    Takes(("int",)),
    Field(description="an integer >= 0, an int parameter, a pair [h, w] of them, 'same' or 'valid'"),
]
Flag = Annotated[StrictBool, Field(description="true or false")]
# YAML reads .inf and .nan as floats; no argument of a layer means anything with them.
Finite = Annotated[float, Field(allow_inf_nan=False)]

# float32's range: the ONNX model keeps attributes such as epsilon in float32, and the weights that
# init constants start are float32 in both backends; beyond it a value becomes inf or 0.
FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 1.1754943508222875e-38  # the smallest normal float32


def fits_float32(value: float) -> bool:
    """Whether float32 holds `value` as a normal number or 0: neither inf nor, below 1.2e-38, 0 or a denormal."""
    return value == 0 or FLOAT32_TINY <= abs(value) <= FLOAT32_MAX


def _fits_float32(value: float) -> float:
    if not fits_float32(value):
        raise ValueError("outside float32's range")
    return value


def float32(**bounds: float) -> Any:
    """A number float32 holds (see `fits_float32`) within `bounds` (ge, gt, le, lt), which come before
    the float32 check so that the JSON Schema shows them as its minimum and maximum."""
    return Annotated[float, Field(allow_inf_nan=False, **bounds), AfterValidator(_fits_float32)]


Float32 = float32()
Positive32 = Annotated[float32(gt=0.0), Field(description="a number > 0 that float32 holds (1.2e-38 to 3.4e38)")]
Number32 = Annotated[
    Float32, Field(description="a number that float32 holds: 0, or 1.2e-38 to 3.4e38 either side of 0")
]
Probability = Annotated[
    float32(ge=0.0, lt=1.0),
    Field(description="a number from 0 up to (not including) 1 that float32 holds (0, or 1.2e-38 and above)"),
]
Groups = Annotated[
    _Count | _Expression,
    Takes(("channels", "int")),
    Field(
        description="a positive integer that divides both channel counts, a channels or int parameter, or an "
        "expression such as `in` (depthwise)"
    ),
]


class Strict(BaseModel):
    # Each declaration builds its validator when first used: `check` of one spec uses a few of them.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


@dataclass(frozen=True)
class _Walked:
    declared: Any
    container: type | None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        container = self.container

        def kind_only(value: Any) -> Any:
            if container is not None and not isinstance(value, container):
                raise ValueError(f"expected a {container.__name__}")
            return value

        return core_schema.no_info_plain_validator_function(kind_only)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: Any) -> dict:
        # The declared type's schema is generated here, for `netgen schema` alone: validation never
        # builds it, so `check` does not pay for a union of every op's layer.
        return handler(_core_schema_of(self.declared))


def _core_schema_of(declared: Any) -> core_schema.CoreSchema:
    import sys

    from pydantic import TypeAdapter

    if isinstance(declared, str):  # a declaration of netgen.spec.schema's, named before it is defined
        declared = getattr(sys.modules["netgen.spec.schema"], declared)
    return TypeAdapter(declared).core_schema


def walked(declared: Any, container: type | None = None) -> _Walked:
    """A part of the document `parse` walks itself, each of its nodes validated by its own
    declaration so that every diagnostic is located at its node. Here at most its kind is checked
    (`container`); `declared` is the type the JSON Schema shows (`netgen.spec.document`)."""
    return _Walked(declared, container)
