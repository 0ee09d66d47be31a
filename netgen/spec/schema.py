"""The shape of a spec's data: one declaration per kind of mapping in a spec, checked by pydantic.
Each op's arguments are declared with the op (netgen.ops); this module composes them into layers.

`parse` walks the document and validates each mapping with its declaration, mapping pydantic's
errors back to the mapping's spans; `netgen.spec.document` composes the same declarations into the
JSON Schema that `netgen schema` prints. A field's `description` says what values it takes (the
diagnostics quote it: "'bias' must be true or false"); its `title` says what it means.

Parts of the document that `parse` walks node by node (the layers, blocks, heads) are declared
with `walked`: validating their parent checks only that they are there and of the right kind,
and the JSON Schema shows their full declared type.
"""

from __future__ import annotations

import functools
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, TypeAdapter, ValidationError, create_model
from pydantic.fields import FieldInfo
from typing_extensions import TypeAliasType

from netgen.ops import SPEC_OPS
from netgen.ops.activation import ACTIVATION_NAMES
from netgen.ops.activation import ActivationName as Activation
from netgen.ops.base import NoArgs, one_of
from netgen.ops.conv import ConvArgs
from netgen.ops.norm import BatchNormArgs
from netgen.ops.pool import POOL_TYPES
from netgen.spec.claims import COUNT_FORMS, SIZE_FORMS
from netgen.spec.fields import (
    FLOAT32_MAX,
    FLOAT32_TINY,
    MAX_CHANNELS,
    MAX_KERNEL,
    MAX_SPATIAL,
    Channels,
    Finite,
    Flag,
    Float32,
    Number32,
    Positive32,
    Probability,
    Strict,
    Symbol,
    fits_float32,
    float32,
    walked,
)

__all__ = [
    "FLOAT32_MAX", "FLOAT32_TINY", "MAX_CHANNELS", "MAX_KERNEL", "MAX_SPATIAL", "BatchNormArgs", "ConvArgs", "NoArgs",
    "fits_float32",
]  # fmt: skip

# Each op's arguments, declared with the op in netgen.ops: the spec's layers are checked against them.
OP_ARGS: dict[str, type[Strict]] = {name: op.args for name, op in SPEC_OPS.items()}

# Ops whose arguments may be given defaults in the spec's `defaults:` section.
DEFAULTABLE = tuple(name for name, op in SPEC_OPS.items() if op.defaultable)


class InitArgs(Strict):
    """How weights start: Caffe's xavier (uniform, +-sqrt(3/fan_in)), a truncated normal, or PyTorch's default."""

    weight: Annotated[
        Literal["xavier_uniform", "trunc_normal", "torch_default"],
        Field(title="how conv and linear weights start", description="xavier_uniform, trunc_normal or torch_default"),
    ] = "torch_default"
    std: Annotated[Positive32, Field(title="the truncated normal's standard deviation")] = 0.01
    bias: Annotated[
        Number32 | Literal["torch_default"],
        Field(title="the value every bias starts at", description="a number that float32 holds (0, or 1.2e-38 to 3.4e38 either side of 0), or torch_default: PyTorch's uniform +-1/sqrt(fan_in), where torchvision leaves its linear layers' biases"),
    ] = 0.0
    classifier_bias: Annotated[
        Float32 | None,
        Field(title="the last linear layer's starting bias", description="a number that float32 holds, or null for 'bias'"),
    ] = None


class LayerInitArgs(Strict):
    """A conv or linear layer that starts differently from the spec's `init:` (torchvision's per-module `stddev`)."""

    std: Annotated[Positive32, Field(title="the truncated normal's standard deviation for this layer's weight")]


Interpolation = Literal["bilinear", "bicubic", "nearest", "lanczos", "box", "hamming"]


class DataArgs(Strict):
    """How images are prepared for the network: timm's data config (resolve_data_config reads it)."""

    mean: Annotated[list[Finite], Field(min_length=1, max_length=4096, title="the mean subtracted from each channel, in [0, 1] units", description="one number per input channel")] = None
    std: Annotated[list[Annotated[Finite, Field(gt=0.0)]], Field(min_length=1, max_length=4096, title="the standard deviation each channel is divided by", description="one positive number per input channel")] = None
    crop_pct: Annotated[Finite, Field(gt=0.0, le=1.0, title="the centre crop's share of the resized image (224 of 256 is 0.875)", description="a number > 0 and <= 1")] = None
    interpolation: Annotated[Interpolation, Field(title="how images are resized", description="bilinear, bicubic, nearest, lanczos, box or hamming")] = None
    crop_mode: Annotated[Literal["center", "squash", "border"], Field(title="how the crop is taken", description="center, squash or border")] = None


class DeviationArgs(Strict):
    """A part of the reference table the spec departs from on purpose; `netgen verify` checks the names."""

    row: Annotated[
        StrictStr | Annotated[list[StrictStr], Field(min_length=1)],
        Field(title="the rows it covers", description="a reference row id, 'total', '*' (every row) or a list of them"),
    ]
    cell: Annotated[
        StrictStr | Annotated[list[StrictStr], Field(min_length=1)],
        Field(title="the cells it covers", description="a column of the reference table, '*' (every cell) or a list of them"),
    ]
    reason: Annotated[StrictStr, Field(min_length=1, title="why the spec departs from the paper", description="a non-empty sentence saying why")]


class OutputsArgs(Strict):
    """What forward() returns in training mode: a NamedTuple class and its fields, in order."""

    class_name: Annotated[
        StrictStr | None,
        Field(alias="class", pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64, title="the NamedTuple's name", description="a class name such as GoogLeNetOutputs"),
    ] = None
    fields: Annotated[
        dict[str, StrictStr] | None,
        Field(title="its fields, in order", description="a mapping from field name to the layer it returns: the logits layer or a head, each once"),
    ] = None
    when: Annotated[
        Literal["training", "always"],
        Field(title="when forward() returns them: in training mode only (torchvision), or in eval mode too (timm's inception_v3 with aux_logits)", description="training or always"),
    ] = "training"


def keys_of(model: type[Strict]) -> tuple[str, ...]:
    """The keys a spec writes for a declaration: the alias where there is one (`from`, `class`)."""
    return tuple(info.alias or name for name, info in model.model_fields.items())


MAX_TIMES = 1000
ParamType = Literal["channels", "int", "float", "activation", "pool"]
# What an argument of each parameter type may be, declared once. Every argument a block use
# writes goes through `block_argument`, which checks it against its type's declaration and keeps
# any number it holds in float32's range, so a type added here inherits both checks.
FloatArgument = Annotated[Number32, Field(description="a number that float32 holds (0, or 1.2e-38 to 3.4e38 either side of 0)")]
PARAM_KINDS: dict[str, Any] = {
    "channels": Annotated[StrictInt, Field(ge=1, le=MAX_CHANNELS, description=f"a channel count (1 to {MAX_CHANNELS})")],
    "int": Annotated[StrictInt, Field(ge=0, le=MAX_KERNEL, description=f"a whole number from 0 to {MAX_KERNEL}")],
    "float": FloatArgument,
    "activation": Activation,
    "pool": Annotated[Literal[POOL_TYPES], Field(description=one_of(POOL_TYPES))],  # type: ignore[valid-type]
}
assert tuple(PARAM_KINDS) == typing.get_args(ParamType)


def block_argument(kind: str, value: Any) -> Any:
    """`value` as a parameter of type `kind` holds it; a ValueError says what the type takes."""
    try:
        checked = _argument_adapter(kind).validate_python(value)
    except ValidationError:
        raise ValueError(param_kind_description(kind)) from None
    if isinstance(checked, float) and not fits_float32(checked):
        raise ValueError(f"{param_kind_description(kind)}; float32 holds 0, or 1.2e-38 to 3.4e38 either side of 0")
    return checked


def param_kind_description(kind: str) -> str:
    """What an argument of type `kind` may be, as its declaration says."""
    described = [meta.description for meta in typing.get_args(PARAM_KINDS[kind])[1:] if isinstance(meta, FieldInfo) and meta.description]
    return described[-1] if described else kind


@functools.cache
def _argument_adapter(kind: str) -> TypeAdapter:
    return TypeAdapter(PARAM_KINDS[kind], config=ConfigDict(strict=True))

BlockArgument = Annotated[
    float | StrictStr, Field(description="a number, relu, none, or a parameter of the enclosing block")
]


class LayerMeta(Strict):
    """The keys a layer may have beside its op."""

    from_: Annotated[
        StrictStr | Annotated[list[StrictStr], Field(min_length=1, max_length=64)],
        Field(
            alias="from",
            title="what the layer reads (default: the previous layer); `input` names the network's input, or in a block the block's",
            description="a layer name or a list of layer names",
        ),
    ] = None
    row: Annotated[
        StrictStr, Field(title="the row of the reference table the layer is counted in", description="the id of a reference row")
    ] = None
    times: Annotated[
        StrictInt,
        Field(ge=1, le=MAX_TIMES, title="repeat the layer this many times in a row", description=f"a whole number from 1 to {MAX_TIMES}"),
    ] = 1
    init: Annotated[
        LayerInitArgs | None,
        Field(title="how this conv or linear layer's weight starts, where it differs from the spec's init", description="{std: ...}"),
    ] = None
    stage: Annotated[
        Flag,
        Field(title="a stage: one of the feature maps a backbone takes (timm's feature_info); without any, netgen takes the last layer at each stride"),
    ] = False


class HeadMeta(Strict):
    """The keys a head has beside its op (usually a block): where it attaches and its loss's weight."""

    from_: Annotated[
        StrictStr, Field(alias="from", title="the trunk layer it reads", description="the name of the layer it attaches to")
    ]
    loss_weight: Annotated[
        float32(ge=0.0, le=1000.0),
        Field(title="its loss's weight in training_loss()", description="a number from 0 to 1000 that float32 holds (0, or 1.2e-38 and above)"),
    ] = 1.0


class InlineHeadMeta(HeadMeta):
    """A head written among the layers: the generated module registers it there, as torchvision
    registers InceptionAux between Mixed_6e and Mixed_7a."""

    head: Annotated[
        Literal[True],
        Field(title="this entry is a side head, not a trunk layer: it sits in the generated module where it is written", description="true"),
    ]


class ResidualArgs(Strict):
    """`residual:`: the block computes act(input + scale * body)."""

    scale: Annotated[
        FloatArgument | Symbol,
        Field(title="the body's scale", description="a number that float32 holds (0, or 1.2e-38 to 3.4e38 either side of 0) or a float parameter"),
    ] = 1.0
    act: Annotated[
        Activation | Symbol,
        Field(title="the activation after the sum", description=f"{one_of(ACTIVATION_NAMES)}, or an activation parameter"),
    ] = "none"
    drop_path: Annotated[
        Flag,
        Field(title="stochastic depth on the body (timm's DropPath), at the rate the spec's drop_path_rate gives this block"),
    ] = False


Param = Annotated[
    Symbol | Annotated[dict[Symbol, ParamType], Field(min_length=1, max_length=1)],
    Field(description="a name (a channel count), or {name: channels | int | float | activation | pool}"),
]


class BlockDecl(Strict):
    """A parameterised block: its parameters and one body, `concat`, `add` or `mul` of branches, or `layers` in sequence."""

    params: Annotated[
        Any, walked(list[Param]), Field(title="the block's parameters, in the order its uses give them", description="a list of names")
    ] = []
    flat: Annotated[
        Flag, Field(title="layers of a branch written as a mapping are attributes of the block itself")
    ] = False
    inline: Annotated[
        Flag,
        Field(title="a use has no module of its own: the block's attributes belong to the module that uses it, named <use>_<attribute>"),
    ] = False
    residual: Annotated[
        Any, walked(ResidualArgs), Field(title="add the block's input to its body", description="{scale: ..., act: ...}")
    ] = None
    concat: Annotated[
        Any, walked(dict[Symbol, Branch]), Field(title="branches that each read the block's input, concatenated", description="a mapping of named branches")
    ] = None
    add: Annotated[
        Any, walked(dict[Symbol, Branch]), Field(title="branches that each read the block's input, summed; an empty branch is the identity", description="a mapping of named branches")
    ] = None
    mul: Annotated[
        Any,
        walked(dict[Symbol, Branch]),
        Field(
            title="branches that each read the block's input, multiplied elementwise (a 1x1 map, such as a gate, broadcast over the others); an empty branch is the identity",
            description="a mapping of named branches",
        ),
    ] = None
    split: Annotated[
        Any,
        walked(list[Channels]),
        Field(
            title="cut the block's input along channels into one part per branch, in order (torch.split), instead of giving each branch all of it; an empty branch passes its part on",
            description="a list of channel counts, block parameters or expressions of them (`in - 3 * g`), one per branch",
        ),
    ] = None
    layers: Annotated[
        Any, walked("Layers"), Field(title="layers in sequence", description="a list or a mapping of layers")
    ] = None


CountClaim = Annotated[StrictInt | StrictStr, Field(description=COUNT_FORMS + "; K = 10^3, M = 10^6, G = 10^9")]
SizeClaim = Annotated[
    StrictStr | Annotated[list[StrictInt], Field(min_length=3, max_length=3)], Field(description=SIZE_FORMS)
]


class ClaimsArgs(Strict):
    """Targets the design states for itself; `netgen check` and `netgen verify` hold the network to them."""

    params: Annotated[
        CountClaim, Field(title="parameters without the heads (weights and biases, batch norm's scale and shift), as `netgen summary` counts them")
    ] = None
    params_with_heads: Annotated[CountClaim, Field(title="parameters with the auxiliary heads")] = None
    macs: Annotated[CountClaim, Field(title="multiply-adds for one image at the spec's input size, without the heads")] = None
    macs_with_heads: Annotated[CountClaim, Field(title="multiply-adds for one image with the auxiliary heads")] = None
    depth: Annotated[CountClaim, Field(title="layers with weights (conv, linear) on the longest path from input to output")] = None
    depth_with_pooling: Annotated[CountClaim, Field(title="the depth counting pooling layers too")] = None
    output: Annotated[SizeClaim, Field(title="the network's output size")] = None
    sizes: Annotated[
        dict[StrictStr, SizeClaim],
        Field(
            title="output sizes of named layers and heads, or of parts of them by path (inception3a.branch_3x3)",
            description=f"a mapping from a layer's name to {SIZE_FORMS}",
        ),
    ] = None


LibraryPaths = Annotated[
    list[Annotated[StrictStr, Field(min_length=1)]],
    Field(
        title="block libraries whose blocks this file uses, as if written under its `blocks:`",
        description="a list of paths to YAML files of blocks, relative to this file, in the spec's folder or below it (blocks/inception.yaml)",
    ),
]


class SpecHeader(Strict):
    """A network spec: its header, defaults, blocks, layers, heads and what verify may expect."""

    name: Annotated[
        StrictStr,
        Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64, title="the network's name, the generated class's", description="an identifier such as GoogLeNet"),
    ]
    description: Annotated[StrictStr, Field(title="one line on what the network is", description="text")] = ""
    input: Annotated[
        list[Annotated[StrictInt, Field(ge=1, le=MAX_SPATIAL)]],
        Field(min_length=3, max_length=3, title="the input's size, channels first", description=f"[channels, height, width], each from 1 to {MAX_SPATIAL}"),
    ]
    num_classes: Annotated[StrictInt, Field(ge=1, le=MAX_CHANNELS, title="the classifier's outputs; blocks may use it as a name", description="a positive integer")] = 1000
    width: Annotated[Finite, Field(gt=0.0, le=16.0, title="multiplies every channel count written as a number", description="a multiplier > 0 and <= 16")] = 1.0
    drop_path_rate: Annotated[
        Probability,
        Field(
            title="the stochastic depth rate of the last residual with drop_path; timm's rule spreads it linearly from 0 over them all, in order"
        ),
    ] = 0.0
    width_divisor: Annotated[
        StrictInt | None,
        Field(
            ge=1,
            le=MAX_KERNEL,
            title="round every channel count `width` scales to a multiple of this, never below it and never more than 10% down (timm's make_divisible)",
            description=f"a whole number from 1 to {MAX_KERNEL}, such as 8",
        ),
    ] = None
    init: Annotated[InitArgs, Field(title="how weights start", description="{weight: xavier_uniform | trunc_normal | torch_default, std, bias, classifier_bias}")] = InitArgs()
    transform_input: Annotated[
        StrictBool | None,
        Field(title="give the generated constructor torchvision's transform_input argument", description="true or false: the default of the generated constructor's transform_input argument"),
    ] = None
    reference: Annotated[StrictStr | None, Field(min_length=1, title="the paper's table, relative to the spec, for netgen verify", description="a path to a reference table")] = None
    claims: Annotated[
        Any,
        walked(ClaimsArgs, dict),
        Field(title="targets the design states for itself, held by netgen check and netgen verify", description="{params, macs, depth, output, sizes, ...}"),
    ] = None
    use: LibraryPaths = []
    defaults: Annotated[Any, walked("Defaults", dict), Field(title="arguments every layer of an op gets unless it says otherwise", description="a mapping from op to default arguments")] = {}
    blocks: Annotated[Any, walked(dict[Symbol, BlockDecl], dict), Field(title="parameterised blocks the layers use by name", description="a mapping of block definitions")] = {}
    layers: Annotated[Any, walked(dict[Symbol, TopLayer], dict), Field(title="the network, in order; each layer reads the previous one unless it says `from`", description="a mapping of named layers")]
    heads: Annotated[Any, walked(dict[Symbol, Head], dict), Field(title="side heads for training, each attached to a trunk layer", description="a mapping of heads")] = {}
    deviations: Annotated[Any, walked(list[DeviationArgs], list), Field(title="where the spec departs from its reference on purpose", description="a list of {row, cell, reason}")] = []
    data: Annotated[
        DataArgs | None,
        Field(title="how images are prepared for the network (timm's data config)", description="{mean, std, crop_pct, interpolation, crop_mode}"),
    ] = None
    outputs: Annotated[
        OutputsArgs | None,
        Field(title="what forward() returns in training mode", description="{class: ..., fields: {field: layer or head, ...}, when: training | always}: the outputs' names and order"),
    ] = None


class BlockLibrary(Strict):
    """A file of blocks that specs (and other libraries) bring in with `use:`."""

    description: Annotated[StrictStr, Field(title="one line on what the blocks are", description="text")] = ""
    use: LibraryPaths = []
    blocks: Annotated[Any, walked(dict[Symbol, BlockDecl], dict), Field(title="parameterised blocks, as a spec's `blocks:` defines them", description="a mapping of block definitions")]


LAYER_META_KEYS = keys_of(LayerMeta)
HEAD_KEYS = keys_of(HeadMeta)
INLINE_HEAD_KEY = "head"
INLINE_HEAD_KEYS = keys_of(InlineHeadMeta)
BLOCK_KEYS = keys_of(BlockDecl)
RESIDUAL_KEYS = keys_of(ResidualArgs)


# -- how the declarations compose into layers, branches and heads ------------------------------
# A layer is a mapping of one op (or block) to its arguments, beside the keys of LayerMeta. `parse`
# reads the op key itself and validates the two parts with their declarations; these models say
# the same for the JSON Schema, one alternative per op.


def op_title(op: str) -> str:
    """What an op does, in one line: the schema's title of a layer of that op, and the editor's."""
    args = OP_ARGS[op]
    if op in ("concat", "add"):
        return f"{op} of the layers `from` names, or (in a block) of branches that each read the layer's input"
    if args is NoArgs:
        return f"{op}, which takes no arguments"
    return (args.__doc__ or op).strip().splitlines()[0]


def _layer_model(op: str, meta: type[Strict]) -> type[Strict]:
    args = OP_ARGS[op]
    if SPEC_OPS[op].several_inputs:
        takes: Any = dict[Symbol, "Branch"] | None
    elif args is NoArgs:
        takes = None
    elif not any(field.is_required() for field in args.model_fields.values()):
        takes = args | None  # `batchnorm: ` takes every default, as the loader reads it
    else:
        takes = args
    what = op_title(op)
    field = (Annotated[takes, Field(title=what, description=f"{op}'s arguments")], ...)
    kind = "InlineHead" if meta is InlineHeadMeta else "Head" if meta is HeadMeta else "Layer"
    return create_model(f"{op.title().replace('_', '')}{kind}", __base__=meta, __doc__=what, **{op: field})


class BlockUse(LayerMeta):
    """A use of a block defined under `blocks:`, its arguments in the order of its parameters."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[Symbol, list[BlockArgument]]


class BlockHead(HeadMeta):
    """A head that uses a block defined under `blocks:`."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[Symbol, list[BlockArgument]]


class BlockInlineHead(InlineHeadMeta):
    """A head among the layers that uses a block defined under `blocks:`."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[Symbol, list[BlockArgument]]


_LAYERS = tuple(_layer_model(op, LayerMeta) for op in OP_ARGS)
_HEADS = tuple(_layer_model(op, HeadMeta) for op in OP_ARGS)
_INLINE_HEADS = tuple(_layer_model(op, InlineHeadMeta) for op in OP_ARGS)

Layer = TypeAliasType("Layer", Union[(*_LAYERS, BlockUse)])  # noqa: UP007 - a union built from a tuple
# The name of a layer inside a block. In a block with `inline: true` it may start with a digit
# (`1x1`: its attribute is `<use>_1x1`); elsewhere the loader refuses that, which a schema of the
# layer alone cannot say.
LayerName = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_]+$")]
Layers = TypeAliasType("Layers", list[Layer] | dict[LayerName, Layer])
Branch = TypeAliasType("Branch", list[Layer] | dict[LayerName, Layer] | None)
Head = TypeAliasType("Head", Union[(*_HEADS, BlockHead)])  # noqa: UP007
InlineHead = TypeAliasType("InlineHead", Union[(*_INLINE_HEADS, BlockInlineHead)])  # noqa: UP007


class Group(Strict):
    """`sequential:` top-level layers kept as the numbered items of one nn.Sequential attribute."""

    sequential: Annotated[dict[Symbol, Layer], Field(title="the group's layers, in order", description="a mapping of named layers")]


TopLayer = TypeAliasType("TopLayer", Layer | Group | InlineHead)
Defaults = create_model(
    "Defaults",
    __base__=Strict,
    __doc__="Default arguments, by op.",
    **{op: (Annotated[OP_ARGS[op] | None, Field(title=f"arguments every {op} gets unless it gives its own", description=f"{op} arguments")], None) for op in DEFAULTABLE},
)
for _model in (BlockDecl, SpecHeader, BlockLibrary):
    _model.model_rebuild()
