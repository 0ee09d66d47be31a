"""The shape of a spec's data, checked by pydantic; errors are mapped back to spans in `parse`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

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
Activation = Annotated[Literal["relu", "none"], Field(description="'relu' or 'none'")]
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
Number32 = Annotated[Float32, Field(description="a number that float32 holds: 0, or 1.2e-38 to 3.4e38 either side of 0")]
Groups = Annotated[StrictInt, Field(ge=1, le=MAX_CHANNELS, description="a positive integer that divides both channel counts")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BatchNormArgs(Strict):
    eps: Positive32 = 1e-5
    momentum: Annotated[Finite, Field(ge=0.0, le=1.0, description="a number from 0 to 1")] = 0.1


class ConvArgs(Strict):
    out: Channels
    kernel: Size2
    stride: Size2 = 1
    pad: Pad = 0
    groups: Groups = 1
    bias: Flag = True
    bn: Annotated[StrictBool | BatchNormArgs, Field(description="true, false or {eps: ..., momentum: ...}")] = False
    act: Activation = "none"
    # A plain nn.Conv2d attribute (keys <name>.weight, <name>.bias) rather than a BasicConv2d unit.
    bare: Flag = False


class PoolArgs(Strict):
    kernel: Size2
    stride: Annotated[Size2 | None, Field(description="an integer from 1 to 1024 or a pair [h, w] (default: the kernel)")] = None
    pad: Pad = 0
    ceil: Flag = False


class AvgPoolArgs(PoolArgs):
    count_include_pad: Flag = True


class AdaptiveAvgPoolArgs(Strict):
    out: Size2


class NoArgs(Strict):
    pass


class LRNArgs(Strict):
    size: Annotated[StrictInt, Field(ge=1, le=MAX_KERNEL, description=f"an integer from 1 to {MAX_KERNEL}")]
    # ONNX Runtime refuses alpha or beta <= 0; k <= 0 divides by zero where a window is all zeros.
    alpha: Positive32 = 1e-4
    beta: Positive32 = 0.75
    k: Positive32 = 1.0


class DropoutArgs(Strict):
    p: Probability


class LinearArgs(Strict):
    out: Channels
    bias: Flag = True
    act: Activation = "none"


OP_ARGS: dict[str, type[Strict]] = {
    "conv": ConvArgs,
    "maxpool": PoolArgs,
    "avgpool": AvgPoolArgs,
    "adaptive_avgpool": AdaptiveAvgPoolArgs,
    "global_avgpool": NoArgs,
    "lrn": LRNArgs,
    "batchnorm": BatchNormArgs,
    "relu": NoArgs,
    "dropout": DropoutArgs,
    "flatten": NoArgs,
    "linear": LinearArgs,
    "softmax": NoArgs,
    "concat": NoArgs,
    "add": NoArgs,
}

# Ops whose arguments may be given defaults in the spec's `defaults:` section.
DEFAULTABLE = ("conv", "linear", "maxpool", "avgpool", "batchnorm", "lrn")


class InitArgs(Strict):
    """How weights start: Caffe's xavier (uniform, +-sqrt(3/fan_in)), a truncated normal, or PyTorch's default."""

    weight: Literal["xavier_uniform", "trunc_normal", "torch_default"] = "torch_default"
    std: Positive32 = 0.01
    bias: Number32 = 0.0
    classifier_bias: Annotated[
        Float32 | None, Field(description="a number that float32 holds, or null for 'bias'")
    ] = None


class DeviationArgs(Strict):
    """A part of the reference table the spec departs from on purpose; `netgen verify` checks the names."""

    row: Annotated[
        StrictStr | Annotated[list[StrictStr], Field(min_length=1)],
        Field(description="a reference row id, 'total', '*' (every row) or a list of them"),
    ]
    cell: Annotated[
        StrictStr | Annotated[list[StrictStr], Field(min_length=1)],
        Field(description="a column of the reference table, '*' (every cell) or a list of them"),
    ]
    reason: Annotated[StrictStr, Field(min_length=1, description="a non-empty sentence saying why")]


class OutputsArgs(Strict):
    """What forward() returns in training mode: a NamedTuple class and its fields, in order."""

    class_name: Annotated[
        StrictStr | None,
        Field(alias="class", pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64, description="a class name such as GoogLeNetOutputs"),
    ] = None
    fields: Annotated[
        dict[str, StrictStr] | None,
        Field(description="a mapping from field name to the layer it returns: the logits layer or a head, each once"),
    ] = None


class SpecHeader(Strict):
    """Top-level keys; `blocks`, `layers`, `heads` and `deviations` are read by `parse` for their order and spans."""

    name: Annotated[
        StrictStr,
        Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64, description="an identifier such as GoogLeNet"),
    ]
    description: Annotated[StrictStr, Field(description="text")] = ""
    input: Annotated[
        list[Annotated[StrictInt, Field(ge=1, le=MAX_SPATIAL)]],
        Field(min_length=3, max_length=3, description=f"[channels, height, width], each from 1 to {MAX_SPATIAL}"),
    ]
    num_classes: Annotated[StrictInt, Field(ge=1, le=MAX_CHANNELS, description="a positive integer")] = 1000
    width: Annotated[Finite, Field(gt=0.0, le=16.0, description="a multiplier > 0 and <= 16")] = 1.0
    init: Annotated[InitArgs, Field(description="{weight: xavier_uniform | trunc_normal | torch_default, std, bias, classifier_bias}")] = InitArgs()
    transform_input: Annotated[
        StrictBool | None,
        Field(description="true or false: the default of the generated constructor's transform_input argument"),
    ] = None
    reference: Annotated[StrictStr | None, Field(min_length=1, description="a path to a reference table")] = None
    defaults: Annotated[dict[str, dict], Field(description="a mapping from op to default arguments")] = {}
    blocks: Annotated[dict, Field(description="a mapping of block definitions")] = {}
    layers: Annotated[dict, Field(description="a mapping of named layers")]
    heads: Annotated[dict, Field(description="a mapping of heads")] = {}
    deviations: Annotated[list, Field(description="a list of {row, cell, reason}")] = []
    outputs: Annotated[
        OutputsArgs | None,
        Field(description="{class: ..., fields: {field: layer or head, ...}}: the training outputs' names and order"),
    ] = None


LAYER_META_KEYS = ("from", "row", "times")
HEAD_KEYS = ("from", "loss_weight")
BLOCK_KEYS = ("params", "flat", "residual", "concat", "add", "layers")
RESIDUAL_KEYS = ("scale", "act")
MAX_TIMES = 1000
