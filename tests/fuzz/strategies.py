"""Hypothesis strategies that write spec files for fuzzing netgen.

`valid_specs()` gives Inception-style specs that are valid by construction: each layer is drawn
knowing the channels and the spatial size it receives, so nothing shrinks below 1x1, a branch
that must keep its size keeps it, and tensors that are added have equal channels. Models stay
tiny (inputs up to 96x96, at most 32 channels before the width multiplier), so one example
builds and runs in a fraction of a second. They use every construct that makes one value feed
several places, where PyTorch and ONNX could come to disagree: `add` blocks with one or more
identity shortcuts (or nothing else), merges that read one layer several times (`from: [a, a]`,
at the top and inside blocks, directly or through a dropout), several heads on one layer or on
a block's output, and blocks nested in blocks whose inner names repeat the outer ones and the
names the ONNX functions use for their own values (`x`, `y`, `output`, `concat`). Caffe's layout
too: inline blocks whose bare convolutions keep their batch norm beside them, used at the top
level and inside other blocks. For `build --optimize`, whose rewrites fold batch norms into
convolutions and fuse 1x1 convolutions, they chain batch norms (activations between some) after
bare and batch-normed convolutions, fan grouped, strided and plain 1x1 convolutions out of one
layer, end residual bodies in a bare convolution and a batch norm, and name layers as the
rewrite names what it adds (`fused1x1`); `inference_specs()` draws every stem from those.

`invalid_specs()` mutates a valid spec, as data (a key deleted, a value of the wrong type or
size, an unknown key or op, a branch that no longer keeps its size, a reference to nothing)
and as text (characters edited, lines moved or repeated, the file cut short), and gives the
bytes of the file, which need not be UTF-8. Most are invalid; a few happen to be valid.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import yaml
from hypothesis import strategies as st

from netgen.ops.activation import ACTIVATION_NAMES
from netgen.spec.schema import OP_ARGS

MAX_CHANNELS = 32
ACTIVATION_OPS = tuple(name for name in ACTIVATION_NAMES if name != "none")
BARE = {"bare": True, "bn": False, "act": "none"}  # a lone nn.Conv2d, whatever `defaults:` give a conv
ODD_KERNELS = (1, 3, 5, 7)
WIDTHS = (0.25, 0.5, 0.75, 1.5, 2.0)
# Names that generated code must rename or keep apart: keywords, builtins, nn.Module's own
# attributes, and the names the generated file itself binds.
AWKWARD_NAMES = (
    "forward", "to", "cuda", "eval", "modules", "training", "type", "x", "self", "nn", "torch",
    "class", "if", "match", "super", "int", "outputs", "layer", "block", "conv", "concat",
    "math", "PARAMS", "MACS", "OrderedDict", "BasicConv2d",
)  # fmt: skip
# Names the ONNX backend gives values of its own: a function's input and output, a merge, the
# graph's output, and the steps of a layer lowered to several ops (`conv.bn`, `fc.gemm`).
ONNX_NAMES = ("x", "y", "output", "concat", "add", "bn", "relu", "gemm", "weight", "bias", "running_mean")
# Names `build --optimize` gives what it adds: the fused convolution and its parts.
INFERENCE_NAMES = ("fused1x1", "sizes", "split")


def to_yaml(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=1_000_000, allow_unicode=True)


def out_size(size: int, kernel: int, stride: int, pad: int, ceil: bool) -> int:
    """PyTorch's output extent for a sliding window; with ceil, the last window must start
    inside the input or its left padding."""
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pair_or_int(values: list[int]):
    return values[0] if values[0] == values[1] else list(values)


_NAME = st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True)
# The layers of an inline block are named as Caffe's are (`1x1`, `3x3_reduce`): only ever after
# `<use>_`, where no name drawn for another layer can follow. (With a digit first, a name must
# still be no YAML 1.2 number: `08`, `1e3` and `0x1` are.)
_CAFFE_NAME = st.from_regex(r"[1-9]x[1-9][a-z0-9_]{0,5}", fullmatch=True)
NAMES = st.one_of(_NAME, st.sampled_from(AWKWARD_NAMES), st.sampled_from(ONNX_NAMES), st.sampled_from(INFERENCE_NAMES))


# -- valid specs -----------------------------------------------------------------------------


@dataclass
class _BlockPlan:
    """A block definition, and how its output channels and size follow from its arguments."""

    name: str
    kind: str  # inception (also a flat or a Caffe one), reduction, residual, twin, scaled, shortcuts, aliased, stage, se, mixer, metanext or pooled
    params: list[str]
    types: dict[str, str] = field(default_factory=dict)  # typed parameters (float, activation); others count channels
    ends: list[tuple] = field(default_factory=list)  # per concat branch: ("param", i), ("literal", c) or ("input",)
    stride: int = 1  # reduction blocks: every branch ends with this stride and a centred odd window
    inner: _BlockPlan | None = None  # stage: the block it wraps
    post: int | None = None  # stage: channels of its closing 1x1 convolution, if it has one
    with_input: bool = False  # stage: its output is concatenated with its input (`from: input`)
    copies: int = 1  # aliased: how many channel blocks its concat of one value gives (1 for add)

    def declared(self) -> list:
        """`params:` as written: a channel count by name, a typed parameter as {name: type}."""
        return [{name: self.types[name]} if name in self.types else name for name in self.params]

    def channels(self, args: list[int], channels_in: int) -> int:
        if self.kind == "stage":
            inner = self.inner.channels(args, channels_in)
            if self.with_input:
                return inner + channels_in
            return self.post if self.post is not None else inner
        if self.kind in ("residual", "twin", "scaled", "metanext"):
            return args[0]
        if self.kind in ("shortcuts", "se", "mixer", "pooled"):
            return channels_in
        if self.kind == "aliased":
            (kind, value), = self.ends
            return self.copies * (args[value] if kind == "param" else value)
        total = 0
        for kind, *value in self.ends:
            if kind == "param":
                total += args[value[0]]
            elif kind == "literal":
                total += value[0]
            else:
                total += channels_in
        return total

    def size(self, extent: int) -> int:
        if self.kind == "stage":
            return self.inner.size(extent)
        # k odd, pad (k - 1) / 2, stride s: floor((n - 1) / s) + 1 whatever k is.
        return (extent - 1) // self.stride + 1

    def needs_equal_channels(self) -> bool:
        """Its first argument must be the channels it receives (a residual's body ends with them, a
        squeeze-and-excitation gate multiplies them)."""
        return self.kind in ("residual", "scaled", "se", "metanext") or (self.kind == "stage" and self.inner.needs_equal_channels())

    def repeatable(self) -> bool:
        """Keeps channels and size, so `times: N` copies can follow one another."""
        return self.kind in ("residual", "scaled", "metanext")


class _Builder:
    """Draws one valid spec as plain data, tracking the channels and size each layer receives."""

    def __init__(self, draw, inference: bool = False):
        self.draw = draw
        # Aimed at `build --optimize`: smaller inputs, and stems of what its rewrites touch.
        self.inference = inference
        self.width = 1.0
        self.defaults: dict = {}
        self.layers: dict = {}
        self.blocks: dict = {}
        self.plans: list[_BlockPlan] = []
        self.top_names: set[str] = {"input"}
        self.maps: list[str] = []  # top-level layers with a C x H x W output, where a head can attach
        self.last = "input"
        self.channels = self.height = self.width_px = 0

    # -- drawing helpers ---------------------------------------------------------------------

    def flag(self) -> bool:
        return self.draw(st.booleans())

    def pick(self, choices):
        return self.draw(st.sampled_from(choices))

    def number(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def fresh(self, taken: set[str]) -> str:
        name = self.draw(st.sampled_from(INFERENCE_NAMES) if self.inference and self.flag() else NAMES)
        while name in taken:
            name += str(len(taken) % 10)
        taken.add(name)
        return name

    def scaled(self, channels: int) -> int:
        """The width multiplier applied to a channel count written as a number."""
        return max(1, int(channels * self.width + 0.5))

    def literal_for(self, channels: int) -> int | None:
        """A number that the width multiplier turns into `channels`, if there is one."""
        return next((n for n in range(1, 4 * MAX_CHANNELS + 1) if self.scaled(n) == channels), None)

    # -- the spec ----------------------------------------------------------------------------

    def spec(self) -> dict:
        self.channels = self.number(1, 4)
        largest = 32 if self.inference else 96
        self.height = self.number(8, largest)
        self.width_px = self.height if self.flag() else self.number(8, largest)
        data: dict = {"name": "FuzzNet", "input": [self.channels, self.height, self.width_px]}
        num_classes = self.number(1, 20) if self.flag() else None
        if num_classes is not None:
            data["num_classes"] = num_classes
        if self.flag():
            self.width = self.pick(WIDTHS)
            data["width"] = self.width
        if self.channels == 3 and self.flag():
            data["transform_input"] = True
        if self.flag():
            data["init"] = self.init()
        if self.flag():
            data["drop_path_rate"] = self.pick((0.0, 0.1, 0.5))
        self.draw_defaults()
        if self.defaults:
            data["defaults"] = self.defaults

        for _ in range(self.number(2, 4) if self.inference else self.number(1, 4)):
            self.stem_layer()
        # An nn.Parameter (layer scale) cannot be an item of the group's nn.Sequential.
        if self.flag() and not any("layer_scale" in layer for layer in self.layers.values()):
            self.group_stem(list(self.layers))
        self.define_blocks()
        self.use_blocks()
        if self.flag():
            self.side_branch()
        heads = self.heads() if self.flag() else {}
        self.classifier()

        if self.blocks:
            data["blocks"] = self.blocks
        data["layers"] = self.layers
        if heads:
            data["heads"] = heads
        return data

    def init(self) -> dict:
        init: dict = {"weight": self.pick(("xavier_uniform", "trunc_normal", "torch_default"))}
        if self.flag():
            init["bias"] = self.pick((0.0, 0.2))
        if self.flag():
            init["classifier_bias"] = self.pick((0.0, None))
        return init

    def draw_defaults(self) -> None:
        conv: dict = {}
        if self.flag():
            conv["act"] = self.pick(("relu", "none"))
        if self.flag():
            conv["bn"] = self.pick((True, False, {"eps": 0.001}))
        if self.flag():
            conv["bias"] = self.flag()
        if conv:
            self.defaults["conv"] = conv
        for pool in ("maxpool", "avgpool"):
            if self.flag():
                self.defaults[pool] = {"ceil": self.flag()}
        if self.flag():
            self.defaults["linear"] = {"bias": self.flag()}

    def ceil_of(self, op: str, args: dict) -> bool:
        return args.get("ceil", self.defaults.get(op, {}).get("ceil", False))

    def add(self, layer: dict) -> str:
        name = self.fresh(self.top_names)
        self.layers[name] = layer
        self.last = name
        return name

    # -- layers with a window ----------------------------------------------------------------

    def window(self, pool: bool) -> tuple[dict, list[int], list[int], list[int]]:
        """Kernel, stride and pad of a conv or pool that fits the current size: (args, kernel, stride, pad)."""
        sizes = (self.height, self.width_px)
        mode = self.pick(("number", "pair", "same", "valid"))
        if mode == "same":
            kernel = [self.pick(ODD_KERNELS)] * 2 if self.flag() else [self.pick(ODD_KERNELS) for _ in sizes]
            pad = [(k - 1) // 2 for k in kernel]
            written = "same"
        elif mode == "valid":
            kernel = [self.number(1, min(7, n)) for n in sizes]
            pad, written = [0, 0], "valid"
        elif pool:
            # Pooling pads at most half the kernel; a kernel larger than the input needs that much pad.
            kernel = [self.number(1, 7) for _ in sizes]
            low = [max(0, math.ceil((k - n) / 2)) for k, n in zip(kernel, sizes, strict=True)]
            high = [k // 2 for k in kernel]
            if mode == "number" and max(low) <= min(high):
                pad = [self.number(max(low), min(high))] * 2
                written = pad[0]
            else:
                pad = [self.number(lo, hi) for lo, hi in zip(low, high, strict=True)]
                written = list(pad)
        else:
            pad = [self.number(0, 3)] * 2 if mode == "number" else [self.number(0, 3) for _ in sizes]
            kernel = [self.number(1, min(7, n + 2 * p)) for n, p in zip(sizes, pad, strict=True)]
            written = pad[0] if mode == "number" else list(pad)
        args: dict = {"kernel": _pair_or_int(kernel) if self.flag() else list(kernel)}
        if pool and self.flag():
            stride = kernel  # a pool's stride defaults to its kernel
        else:
            stride = [self.number(1, 3)] * 2 if self.flag() else [self.number(1, 3) for _ in sizes]
            args["stride"] = _pair_or_int(stride)
        if written != 0 or self.flag():
            args["pad"] = written
        return args, kernel, stride, pad

    def move(self, kernel, stride, pad, ceil: bool) -> None:
        self.height = out_size(self.height, kernel[0], stride[0], pad[0], ceil)
        self.width_px = out_size(self.width_px, kernel[1], stride[1], pad[1], ceil)

    def conv_args(self, out, **fixed) -> dict:
        """A conv's arguments with its shape-free options drawn: bias, batch norm, activation."""
        args = {"out": out, **fixed}
        if self.flag():
            args["act"] = self.pick(("relu", "none", *ACTIVATION_OPS))
        if self.flag():
            args["bn"] = self.pick((True, False, {"eps": 0.001}, {"eps": 1e-5, "momentum": 0.2}))
        if self.flag():
            args["bias"] = self.flag()
        return args

    def conv(self) -> dict:
        window, kernel, stride, pad = self.window(pool=False)
        out = self.number(1, MAX_CHANNELS)
        fixed = {**window, **self.groups(out)}
        self.move(kernel, stride, pad, ceil=False)
        self.channels = self.scaled(out)
        return {"conv": self.bare_conv(out, **fixed) if self.flag() else self.conv_args(out, **fixed)}

    def groups(self, out: int) -> dict:
        """`groups:` for a conv of `out` channels (before width) from the current ones, or nothing."""
        common = math.gcd(self.channels, self.scaled(out))
        groups = self.pick([g for g in range(1, common + 1) if common % g == 0])
        return {"groups": groups} if groups > 1 else {}

    def bare_conv(self, out, **fixed) -> dict:
        """A plain nn.Conv2d: no batch norm, no activation, whatever `defaults:` says."""
        return {"out": out, **fixed, "bias": self.flag(), "bn": False, "act": "none", "bare": True}

    def pool(self) -> dict:
        op = self.pick(("maxpool", "avgpool"))
        args, kernel, stride, pad = self.window(pool=True)
        if self.flag():
            args["ceil"] = self.flag()
        if op == "avgpool" and self.flag():
            args["count_include_pad"] = self.flag()
        self.move(kernel, stride, pad, ceil=self.ceil_of(op, args))
        return {op: args}

    def stem_layer(self) -> None:
        kinds = ("conv", "conv", "pool", "lrn", "batchnorm", "activation", "layernorm", "layer_scale", "norms", "pointwise")
        kind = self.pick(("norms", "norms", "pointwise", "pointwise", "conv", "batchnorm") if self.inference else kinds)
        if kind == "norms":
            self.norm_chain()
            return
        if kind == "pointwise":
            self.pointwise_fan()
            return
        if kind == "conv":
            layer = self.conv()
        elif kind == "pool":
            layer = self.pool()
        elif kind == "lrn":
            # ONNX Runtime runs odd sizes only.
            layer = {"lrn": {"size": self.pick((1, 3, 5)), "alpha": 0.0001, "beta": 0.75, "k": self.pick((1.0, 2.0))}}
        elif kind == "activation":
            layer = {self.pick(ACTIVATION_OPS): None}
        elif kind == "layernorm":
            layer = {"layernorm": {"eps": self.pick((1e-5, 1e-6))} if self.flag() else None}
        elif kind == "layer_scale":
            layer = {"layer_scale": {"init": self.pick((1e-6, 0.5, 1.0))}}
        else:
            layer = {kind: None}
        self.maps.append(self.add(layer))

    def norm_chain(self) -> None:
        """A conv (bare, or a unit with its own batch norm) and one to three batch norms after it,
        activations between some of them: what the inference build folds, one fold on another."""
        self.maps.append(self.add(self.conv()))
        for _ in range(self.number(1, 3)):
            if self.flag():
                self.maps.append(self.add({"relu": None}))
            norm = self.pick((None, {"eps": 0.001}, {"eps": 0.1, "momentum": 0.3}))
            self.maps.append(self.add({"batchnorm": norm}))

    def pointwise_fan(self) -> None:
        """Two to four 1x1 convolutions that read one layer, grouped or not, all at one stride (a
        branch at stride 1 pools to the others' size), concatenated: what the inference build fuses,
        and what it must leave alone."""
        source, channels_in = self.last, self.channels
        stride = self.pick((1, 1, 2))
        height, width = self.height, self.width_px
        ends, total = [], 0
        for _ in range(self.number(2, 4)):
            self.channels = channels_in
            out = self.number(1, MAX_CHANNELS)
            strided = stride > 1 and self.flag()
            fixed = {"kernel": 1, **self.groups(out), **({"stride": stride} if strided else {})}
            args = self.bare_conv(out, **fixed) if self.flag() else self.conv_args(out, **fixed)
            ends.append(self.add({"conv": args, "from": source}))
            if stride > 1 and not strided:
                ends[-1] = self.add({"maxpool": {"kernel": 1, "stride": stride, "ceil": False}})
            if self.flag():
                ends[-1] = self.add({"batchnorm": None})
            total += self.scaled(out)
        self.channels = total
        self.height, self.width_px = (height - 1) // stride + 1, (width - 1) // stride + 1
        self.maps.append(self.add({"concat": None, "from": ends}))

    # -- blocks ------------------------------------------------------------------------------

    def define_blocks(self) -> None:
        taken = set(OP_ARGS) | {"input"}
        kinds = (
            "inception", "inception", "flat", "caffe", "reduction", "residual", "residual", "scaled", "twin", "shortcuts",
            "aliased", "se", "mixer", "metanext", "pooled",
        )  # fmt: skip
        for _ in range(self.number(1, 2)):
            kind = self.pick(kinds)
            name = self.fresh(taken)
            plan = _BlockPlan(name, "inception" if kind in ("flat", "caffe") else kind, [])
            body = getattr(self, f"{kind}_block")(plan)
            self.blocks[name] = {"params": plan.declared(), **body}
            self.plans.append(plan)
        # Stages wrap blocks, and a second may wrap the first: blocks two deep in a block.
        for _ in range(self.number(0, 2)):
            inner = self.pick(self.plans)
            self.plans.append(self.stage_block(self.fresh(taken), inner))

    def param(self, plan: _BlockPlan) -> tuple[str, int]:
        name = self.fresh(set(plan.params))
        plan.params.append(name)
        return name, len(plan.params) - 1

    def channel_count(self, plan: _BlockPlan) -> tuple[str | int, tuple]:
        """A block's conv `out`: a new parameter or a number written in the block."""
        if self.flag():
            name, index = self.param(plan)
            return name, ("param", index)
        out = self.number(1, MAX_CHANNELS)
        return out, ("literal", self.scaled(out))

    def branch(self, layers: list[dict]):
        """A branch as a list (an indexed nn.Sequential) or a mapping of named layers."""
        if self.flag():
            return layers
        names: set[str] = set()
        return {self.fresh(names): layer for layer in layers}

    def centred(self, kernel: int):
        return "same" if self.flag() else (kernel - 1) // 2

    def inception_block(self, plan: _BlockPlan) -> dict:
        branches: dict = {}
        names: set[str] = set()
        for _ in range(self.number(2, 4)):
            kind = self.pick(("1x1", "kxk", "factorised", "double", "pool_proj", "pool"))
            end, plan_end = self.channel_count(plan) if kind != "pool" else (None, ("input",))
            kernel = self.pick((3, 5, 7))
            if kind == "1x1":
                layers = [{"conv": self.conv_args(end, kernel=1)}]
            elif kind in ("kxk", "double", "factorised"):
                reduce, _ = self.channel_count(plan)
                layers = [{"conv": self.conv_args(reduce, kernel=1)}]
                if kind == "factorised":
                    half = (kernel - 1) // 2
                    layers.append({"conv": self.conv_args(end, kernel=[1, kernel], pad=[0, half])})
                    layers.append({"conv": self.conv_args(end, kernel=[kernel, 1], pad=[half, 0])})
                else:
                    for _ in range(2 if kind == "double" else 1):
                        layers.append({"conv": self.conv_args(end, kernel=kernel, pad=self.centred(kernel))})
            else:
                op = self.pick(("maxpool", "avgpool"))
                pool = {"kernel": 3, "stride": 1, "pad": 1}
                if self.flag():
                    pool["ceil"] = self.flag()  # at stride 1 the rounding changes nothing
                layers = [{op: pool}]
                if kind == "pool_proj":
                    layers.append({"conv": self.conv_args(end, kernel=1)})
            plan.ends.append(plan_end)
            branches[self.fresh(names)] = self.branch(layers)
        return {"concat": branches}

    def caffe_block(self, plan: _BlockPlan) -> dict:
        """BN-Inception's module as its Caffe port lays it out: inline and flat, so that its layers
        are `<use>_<layer>`, each convolution a bare nn.Conv2d whose batch norm is `<conv>_bn`."""
        branches: dict = {}
        names: set[str] = set()
        layer_names: set[str] = set()
        for _ in range(self.number(2, 4)):
            kind = self.pick(("1x1", "kxk", "double", "pool_proj", "pool"))
            end, plan_end = self.channel_count(plan) if kind != "pool" else (None, ("input",))
            kernel = self.pick((3, 5))
            if kind == "1x1":
                layers = [{"conv": self.conv_args(end, kernel=1, bare=True)}]
            elif kind in ("kxk", "double"):
                reduce, _ = self.channel_count(plan)
                layers = [{"conv": self.conv_args(reduce, kernel=1, bare=True)}]
                for _ in range(2 if kind == "double" else 1):
                    layers.append({"conv": self.conv_args(end, kernel=kernel, pad=self.centred(kernel), bare=True)})
            else:
                op = self.pick(("maxpool", "avgpool"))
                layers = [{op: {"kernel": 3, "stride": 1, "pad": 1, "ceil": self.flag()}}]
                if kind == "pool_proj":
                    layers.append({"conv": self.conv_args(end, kernel=1, bare=True)})
            plan.ends.append(plan_end)
            branch: dict = {}
            for layer in layers:
                name = self.draw(_CAFFE_NAME)
                while name in layer_names:
                    name += str(len(layer_names) % 10)
                layer_names.add(name)
                branch[name] = layer
            branches[self.fresh(names)] = branch
        return {"inline": True, "flat": True, "concat": branches}

    def flat_block(self, plan: _BlockPlan) -> dict:
        """torchvision's InceptionE: a flat block whose branch splits into a 1xk and a kx1 convolution."""
        names: set[str] = set()  # layers of a flat block are attributes of the block: one namespace
        end, plan_end = self.channel_count(plan)
        plan.ends.append(plan_end)
        branches: dict = {self.fresh(names): [{"conv": self.conv_args(end, kernel=1)}]}
        reduce, _ = self.channel_count(plan)
        kernel = self.pick((3, 5))
        half = (kernel - 1) // 2
        split: dict = {}
        for shape, pad in (([1, kernel], [0, half]), ([kernel, 1], [half, 0])):
            out, out_end = self.channel_count(plan)
            plan.ends.append(out_end)
            split[self.fresh(names)] = [{"conv": self.conv_args(out, kernel=shape, pad=pad)}]
        first, merge = self.fresh(names), self.fresh(names)
        branches[self.fresh(names)] = {first: {"conv": self.conv_args(reduce, kernel=1)}, merge: {"concat": split}}
        return {"flat": True, "concat": branches}

    def scaled_block(self, plan: _BlockPlan) -> dict:
        """timm's Block35: act(x + scale * body), the body a concat of branches and a bare 1x1 conv."""
        out, _ = self.param(plan)
        scale, act = self.param(plan)[0], self.param(plan)[0]
        plan.types.update({scale: "float", act: "activation"})
        names: set[str] = set(plan.params)  # a parameter the residual reads is an attribute too
        branches: dict = {}
        for _ in range(self.number(1, 3)):
            width, _ = self.channel_count(plan)
            kernel = self.pick(ODD_KERNELS)
            branches[self.fresh(names)] = self.branch([{"conv": self.conv_args(width, kernel=kernel, pad=self.centred(kernel))}])
        mixed, project = self.fresh(names), self.fresh(names)
        bare = {"out": out, "kernel": 1, "bias": self.flag(), "bn": False, "act": "none", "bare": True}
        residual = {"scale": scale, "act": act} if self.flag() else {"scale": self.pick((0.1, 0.2, 1.0)), "act": "relu"}
        layers = {mixed: {"concat": branches}, project: {"conv": bare}}
        if self.flag():
            layers[self.fresh(names)] = {"batchnorm": None}  # folded into the bare conv before the sum
        return {"residual": residual, "layers": layers}

    def reduction_block(self, plan: _BlockPlan) -> dict:
        plan.stride = self.pick((2, 3))
        branches: dict = {}
        names: set[str] = set()
        for _ in range(self.number(2, 3)):
            kernel = self.pick(ODD_KERNELS)
            kind = self.pick(("conv", "reduce_conv", "pool"))
            if kind == "pool":
                op = self.pick(("maxpool", "avgpool"))
                # Rounding up would give a different size from the convolutions.
                layers = [{op: {"kernel": kernel, "stride": plan.stride, "pad": (kernel - 1) // 2, "ceil": False}}]
                plan.ends.append(("input",))
            else:
                end, plan_end = self.channel_count(plan)
                layers = []
                if kind == "reduce_conv":
                    reduce, _ = self.channel_count(plan)
                    layers.append({"conv": self.conv_args(reduce, kernel=1)})
                strided = self.conv_args(end, kernel=kernel, stride=plan.stride, pad=self.centred(kernel))
                layers.append({"conv": strided})
                plan.ends.append(plan_end)
            branches[self.fresh(names)] = self.branch(layers)
        return {"concat": branches}

    def residual_block(self, plan: _BlockPlan) -> dict:
        """One to three identity shortcuts added to a body that ends with the block's first parameter."""
        out, _ = self.param(plan)
        body = []
        if self.flag():
            reduce, _ = self.channel_count(plan)
            body.append({"conv": self.conv_args(reduce, kernel=1)})
        kernel = self.pick(ODD_KERNELS)
        body.append({"conv": self.conv_args(out, kernel=kernel, pad=self.centred(kernel))})
        names: set[str] = set()
        branches = {self.fresh(names): self.shortcut() for _ in range(self.number(1, 3))}
        branches[self.fresh(names)] = self.branch(body)
        return {"add": self.shuffled(branches)}

    def shortcuts_block(self, plan: _BlockPlan) -> dict:
        """Identity shortcuts only: the block's input added to itself two to four times."""
        names: set[str] = set()
        return {"add": {self.fresh(names): self.shortcut() for _ in range(self.number(2, 4))}}

    def shortcut(self):
        return [] if self.flag() else None

    def shuffled(self, mapping: dict) -> dict:
        return dict(self.draw(st.permutations(list(mapping.items()))))

    def aliased_block(self, plan: _BlockPlan) -> dict:
        """A `layers` block whose merge reads one layer several times, directly or through a dropout."""
        out, end = self.channel_count(plan)
        plan.ends.append(end)
        names: set[str] = set()
        conv = self.fresh(names)
        kernel = self.pick(ODD_KERNELS)
        layers = {conv: {"conv": self.conv_args(out, kernel=kernel, pad=self.centred(kernel))}}
        sources = [conv]
        if self.flag():
            dropped = self.fresh(names)
            layers[dropped] = {"dropout": {"p": self.pick((0.0, 0.5))}}  # in ONNX, the same value as conv
            sources.append(dropped)
        merge = self.pick(("concat", "add"))
        # Each source at least once (a dropout nothing reads would be dead), two inputs or more.
        inputs = sources + [self.pick(sources) for _ in range(self.number(2 - len(sources), 2))]
        inputs = self.draw(st.permutations(inputs))
        plan.copies = len(inputs) if merge == "concat" else 1
        layers[self.fresh(names)] = {merge: None, "from": inputs}
        if self.flag():
            layers[self.fresh(names)] = {"relu": None}
        return {"layers": layers}

    def twin_block(self, plan: _BlockPlan) -> dict:
        """Two convolution branches that both end with the block's first parameter, added."""
        out, _ = self.param(plan)
        names: set[str] = set()
        branches = {}
        for _ in range(2):
            kernel = self.pick(ODD_KERNELS)
            layers = [{"conv": self.conv_args(out, kernel=kernel, pad=self.centred(kernel))}]
            if self.flag():
                reduce, _ = self.channel_count(plan)
                layers.insert(0, {"conv": self.conv_args(reduce, kernel=1)})
            branches[self.fresh(names)] = self.branch(layers)
        return {"add": branches}

    def se_block(self, plan: _BlockPlan) -> dict:
        """Squeeze and excitation: a gate of pooled, reduced and expanded channels multiplies the
        block's input, with `mul` of `from: [input, gate]` or as a product of branches."""
        channels, _ = self.param(plan)
        reduction = self.param(plan)[0]
        plan.types[reduction] = "int"
        gate = [
            {"global_avgpool": None},
            # at least one channel: rounded up, or half and one
            {"conv": {"out": f"({channels} + {reduction} - 1) // {reduction}" if self.flag() else f"{channels} // 2 + 1", "kernel": 1, **BARE}},
            {self.pick(("relu", "silu")): None},
            {"conv": {"out": channels, "kernel": 1, **(BARE if self.flag() else {})}},
            {self.pick(("sigmoid", "hardsigmoid")): None},
        ]
        if self.flag():
            names: set[str] = set()
            layers = {self.fresh(names): layer for layer in gate}
            last = list(layers)[-1]
            layers[self.fresh(names)] = {"mul": None, "from": self.pick((["input", last], [last, "input"]))}
            return {"layers": layers}
        names = set()
        return {"mul": {self.fresh(names): [], self.fresh(names): self.branch(gate)}}

    def mixer_block(self, plan: _BlockPlan) -> dict:
        """timm's InceptionDWConv2d: the input split by channels into an identity part and parts for
        depthwise square and band (1xk, kx1) kernels, concatenated again."""
        gc, band = self.param(plan)[0], self.param(plan)[0]
        plan.types[band] = "int"
        names: set[str] = set()
        dw = {"out": gc, "kernel": 3, "pad": 1, "groups": self.pick((gc, "in")), **(BARE if self.flag() else {})}
        wide = {"out": gc, "kernel": [1, band], "pad": "same", "groups": gc}
        tall = {"out": "in", "kernel": [band, 1], "pad": "same", "groups": "in", "bias": self.flag()}
        branches = {
            self.fresh(names): [],
            self.fresh(names): [{"conv": dw}],
            self.fresh(names): [{"conv": wide}],
            self.fresh(names): [{"conv": tall}],
        }
        order = self.draw(st.permutations(range(4)))
        parts = [f"in - 3 * {gc}" if index == 0 else gc for index in order]
        return {"split": parts, "concat": dict(list(branches.items())[index] for index in order)}

    def metanext_block(self, plan: _BlockPlan) -> dict:
        """timm's MetaNeXtBlock: a depthwise mixer, a norm, a 1x1 MLP, layer scale, drop path, the shortcut."""
        dim, _ = self.param(plan)
        names: set[str] = set(plan.params)
        layers = {
            self.fresh(names): {"conv": {"out": "in", "kernel": self.pick((3, [1, 5])), "pad": "same", "groups": "in", **BARE}},
            self.fresh(names): {self.pick(("batchnorm", "layernorm")): None},
            self.fresh(names): {"conv": {"out": f"{self.pick((2, 4))} * {dim}", "kernel": 1, **BARE}},
            self.fresh(names): {self.pick(("gelu", "gelu_tanh", "hardswish")): None},
            self.fresh(names): {"conv": {"out": dim, "kernel": 1, **BARE}},
            self.fresh(names): {"layer_scale": {"init": self.pick((1e-6, 0.5))}},
        }
        return {"residual": {"drop_path": True, "act": self.pick(("none", "gelu"))}, "layers": layers}

    def pooled_block(self, plan: _BlockPlan) -> dict:
        """Block parameters in op arguments: the pool type, a kernel size and a dropout rate."""
        kind, kernel, rate = self.param(plan)[0], self.param(plan)[0], self.param(plan)[0]
        plan.types.update({kind: "pool", kernel: "int", rate: "float"})
        names: set[str] = set()
        return {
            "layers": {
                self.fresh(names): {"pool": {"type": kind, "kernel": kernel, "stride": 1, "pad": "same"}},
                self.fresh(names): {"dropout": {"p": rate}},
            }
        }

    def stage_block(self, name: str, inner: _BlockPlan) -> _BlockPlan:
        """A `layers` block that uses another block, passing its own parameters on. Written as a
        mapping, its layers take names the block it wraps uses inside, or the ONNX backend's own."""
        plan = _BlockPlan(name, "stage", list(inner.params), dict(inner.types), inner=inner)
        layers: list[dict] = [{inner.name: list(inner.params)}]
        closings = ("none", "conv", "relu", "dropout", "batchnorm")
        closing = self.pick(closings if inner.kind == "reduction" else (*closings, "with_input"))
        if closing == "with_input":
            # The inner block's output beside the stage's own input, named with `from: input`.
            plan.with_input = True
            names: set[str] = set()
            used, joined = self.fresh(names), self.fresh(names)
            body = {used: layers[0], joined: {"concat": None, "from": [used, "input"] if self.flag() else ["input", used]}}
            self.blocks[name] = {"params": plan.declared(), "layers": body}
            return plan
        if closing == "conv":
            out = self.number(1, MAX_CHANNELS)
            plan.post = self.scaled(out)
            layers.append({"conv": self.conv_args(out, kernel=1)})
        elif closing == "dropout":
            layers.append({"dropout": {"p": self.pick((0.0, 0.2, 0.5))}})
        elif closing != "none":
            layers.append({closing: None})
        if self.flag():
            body = self.branch(layers)
        else:
            # A name with a digit first is an inline block's alone.
            inner_names = sorted(
                {name for name in _names_in(self.blocks[inner.name]) if isinstance(name, str) and not name[:1].isdigit()}
            )
            pool = sorted({*inner_names, *ONNX_NAMES, *inner.params})
            names = self.draw(st.lists(st.sampled_from(pool), min_size=len(layers), max_size=len(layers), unique=True))
            body = dict(zip(names, layers, strict=True))
        self.blocks[name] = {"params": plan.declared(), "layers": body}
        return plan

    def use_blocks(self) -> None:
        uses = list(self.plans) + [self.pick(self.plans) for _ in range(self.number(0, 2))]
        for index, plan in enumerate(uses):
            if index and self.flag():
                self.maps.append(self.add(self.pool()))
            args = [self.argument(plan, param) for param in plan.params]
            if _kind_of(plan) == "mixer":
                # Three parts of gc channels and an identity part of at least one.
                # A number the width scales to at most a third of the channels, less one.
                fits = [n for n in range(1, 4 * MAX_CHANNELS) if 3 * self.scaled(n) < self.channels]
                if not fits:  # too few channels: 16, at any width drawn, are more than 3 of the smallest part
                    self.maps.append(self.add({"conv": self.conv_args(16, kernel=1)}))
                    self.channels = self.scaled(16)
                    fits = [n for n in range(1, 4 * MAX_CHANNELS) if 3 * self.scaled(n) < self.channels]
                args[0] = self.pick(fits[: self.channels])
            if plan.needs_equal_channels():
                literal = self.literal_for(self.channels)
                if literal is None:
                    # No number scales to these channels: a 1x1 convolution first makes some that one does.
                    literal = self.number(1, MAX_CHANNELS)
                    self.maps.append(self.add({"conv": self.conv_args(literal, kernel=1)}))
                    self.channels = self.scaled(literal)
                args[0] = literal
            self.channels = plan.channels([self.scaled(arg) if isinstance(arg, int) else arg for arg in args], self.channels)
            self.height, self.width_px = plan.size(self.height), plan.size(self.width_px)
            use = {plan.name: args}
            if plan.repeatable() and self.flag():
                use["times"] = self.number(2, 3)
            self.maps.append(self.add(use))

    def argument(self, plan: _BlockPlan, param: str):
        kind = plan.types.get(param)
        if kind == "float":
            return self.pick((0.1, 0.17, 0.5, 1.0) if _kind_of(plan) != "pooled" else (0.0, 0.1, 0.5))
        if kind == "activation":
            return self.pick(("relu", "none", *ACTIVATION_OPS))
        if kind == "pool":
            return self.pick(("max", "avg"))
        if kind == "int":
            return self.pick((1, 3, 5)) if _kind_of(plan) != "se" else self.pick((1, 2, 4))
        return self.number(1, MAX_CHANNELS)

    def group_stem(self, stem: list[str]) -> None:
        """timm's `features`: the stem's layers as items of one nn.Sequential, keeping their names."""
        group = self.fresh(self.top_names)
        items = {name: self.layers.pop(name) for name in stem}
        self.layers = {group: {"sequential": items}, **self.layers}

    def side_branch(self) -> None:
        """A top-level branch beside the last layer, joined to it with `from:`; the merge may read
        either of them more than once, or read the last layer alone, twice or more."""
        source = self.last
        merge = self.pick(("concat", "add"))
        literal = self.literal_for(self.channels)
        shape = self.pick(("pool", "conv", "dropout", "none"))
        if shape == "conv" and (merge == "concat" or literal is not None):
            kernel = self.pick(ODD_KERNELS)
            out = literal if merge == "add" else self.number(1, MAX_CHANNELS)
            side = {"conv": self.conv_args(out, kernel=kernel, pad=self.centred(kernel)), "from": source}
            side_channels = self.scaled(out)
        elif shape == "dropout":
            side = {"dropout": {"p": self.pick((0.0, 0.5))}, "from": source}  # one value with source in ONNX
            side_channels = self.channels
        else:
            side = {"maxpool": {"kernel": 3, "stride": 1, "pad": 1}, "from": source}
            side_channels = self.channels
        channels_of = {source: self.channels}
        if shape != "none":
            channels_of[self.add(side)] = side_channels
        inputs = list(channels_of) + [self.pick(list(channels_of)) for _ in range(self.number(0, 2))]
        if len(inputs) == 1:
            inputs.append(source)
        inputs = self.draw(st.permutations(inputs))
        self.channels = sum(channels_of[name] for name in inputs) if merge == "concat" else self.channels
        self.maps.append(self.add({merge: None, "from": inputs}))

    def heads(self) -> dict:
        """One or two heads of one block, on any layer with a feature map (a block's output among
        them), two heads on the same layer at times."""
        taken = set(OP_ARGS) | set(self.blocks) | {"input"}
        name = self.fresh(taken)
        layers = {}
        names: set[str] = set()
        if self.flag():
            layers[self.fresh(names)] = {"conv": self.conv_args(self.number(1, MAX_CHANNELS), kernel=1)}
        layers[self.fresh(names)] = {"global_avgpool": None}
        layers[self.fresh(names)] = {"flatten": None}
        layers[self.fresh(names)] = {"linear": {"out": "num_classes"}}
        self.blocks[name] = {"params": [], "layers": layers}
        sources = [self.pick(self.maps)]
        if self.flag():
            sources.append(sources[0] if self.flag() else self.pick(self.maps))
        return {
            self.fresh(self.top_names): {name: [], "from": source, "loss_weight": self.pick((0.3, 1.0))}
            for source in sources
        }

    def classifier(self) -> None:
        features = self.channels * self.height * self.width_px
        ending = self.pick(
            ("global", "adaptive", "avgpool", "flatten") if features <= 4096 else ("global", "adaptive", "avgpool")
        )
        if ending == "global":
            self.add({"global_avgpool": None})
            features = self.channels
        elif ending == "adaptive":
            # ONNX pools adaptively only where the output size divides the input size.
            out = [self.pick([d for d in (1, 2, 3) if n % d == 0]) for n in (self.height, self.width_px)]
            self.add({"adaptive_avgpool": {"out": _pair_or_int(out)}})
            features = self.channels * out[0] * out[1]
        elif ending == "avgpool":
            self.add({"avgpool": {"kernel": [self.height, self.width_px]}})
            features = self.channels
        self.add({"flatten": None})
        for _ in range(self.number(0, 2)):
            extra = self.pick(("relu", "dropout", "batchnorm", "hidden", "layernorm", "activation", "layer_scale"))  # lrn needs a feature map
            if extra == "hidden":
                features = self.number(1, MAX_CHANNELS)
                self.add({"linear": {"out": features, "act": self.pick(("relu", *ACTIVATION_OPS))}})
            elif extra == "activation":
                self.add({self.pick(ACTIVATION_OPS): None})
            elif extra == "layer_scale":
                self.add({"layer_scale": {"init": 0.5}})
            elif extra == "dropout":
                self.add({"dropout": {"p": self.pick((0.0, 0.3, 0.7))}})
            else:
                self.add({extra: None})
        self.add({"linear": {"out": "num_classes"} if self.flag() else {"out": "num_classes", "bias": self.flag()}})
        if self.flag():
            self.add({"softmax": None})


def _kind_of(plan: _BlockPlan) -> str:
    """The kind of block a stage wraps, at any depth."""
    return _kind_of(plan.inner) if plan.kind == "stage" else plan.kind


def _names_in(node) -> list:
    """Every key of every mapping below `node`: the names a block definition uses inside."""
    if isinstance(node, dict):
        return [name for key, value in node.items() for name in (key, *_names_in(value))]
    return [name for item in node for name in _names_in(item)] if isinstance(node, list) else []


@st.composite
def spec_data(draw, inference: bool = False) -> dict:
    """A valid spec as plain data (what `to_yaml` writes); `inference` aims it at what `build
    --optimize` rewrites: every stem chains normalisations or fans out 1x1 convolutions."""
    return _Builder(draw, inference).spec()


def valid_specs() -> st.SearchStrategy[str]:
    return spec_data().map(to_yaml)


def inference_specs() -> st.SearchStrategy[str]:
    return spec_data(inference=True).map(to_yaml)


# -- mutations of the data -------------------------------------------------------------------

KNOWN_KEYS = (
    "name", "input", "num_classes", "width", "init", "defaults", "blocks", "layers", "heads", "deviations",
    "reference", "transform_input", "params", "concat", "add", "from", "row", "loss_weight", "out", "kernel",
    "stride", "pad", "groups", "bias", "bn", "act", "ceil", "count_include_pad", "p", "size", "eps",
    "momentum", "conv", "maxpool", "avgpool", "linear", "flatten", "softmax", "dropout", "global_avgpool",
    "mul", "split", "residual", "drop_path", "drop_path_rate", "layer_scale", "layernorm", "init", "type", "pool",
    "gelu", "sigmoid", "in - 3 * g",
)  # fmt: skip
ODD_NUMBERS = (0, -1, -7, 2, 1023, 1024, 1025, 65_536, 65_537, 1_000_000, 1_000_001, 2**31, 2**63, 10**40)
ODD_TEXT = ("", " ", "same", "valid", "relu", "none", "num_classes", "input", "x", "1", "3.0", "[1, 2]", "-", "é", "\t")

_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)
ODD_VALUES = st.one_of(
    st.sampled_from(ODD_NUMBERS),
    st.integers(-5, 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.sampled_from(ODD_TEXT),
    _TEXT,
    st.lists(st.integers(-2, 9), max_size=4),
    st.dictionaries(st.sampled_from(KNOWN_KEYS), st.integers(-2, 9), max_size=2),
)


def _paths(node, prefix=()) -> list[tuple]:
    """The path of every value below `node`: keys of mappings, indices of lists."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    out = []
    for key, value in items:
        out.append((*prefix, key))
        out += _paths(value, (*prefix, key))
    return out


def _at(data, path):
    for part in path:
        data = data[part]
    return data


def _typo(draw, word: str) -> str:
    position = draw(st.integers(0, len(word)))
    edit = draw(st.sampled_from(("drop", "insert", "swap", "case", "digit")))
    if edit == "drop" and word:
        return word[: max(0, position - 1)] + word[position:]
    if edit == "insert":
        return word[:position] + draw(st.sampled_from("abz_-. 9é")) + word[position:]
    if edit == "swap" and len(word) > 1:
        i = min(position, len(word) - 2)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if edit == "case":
        return word.swapcase()
    return word + "2"


def delete_entry(draw, data) -> None:
    path = draw(st.sampled_from(_paths(data)))
    del _at(data, path[:-1])[path[-1]]


def replace_value(draw, data) -> None:
    path = draw(st.sampled_from(_paths(data)))
    _at(data, path[:-1])[path[-1]] = draw(ODD_VALUES)


def change_number(draw, data) -> None:
    numbers = [path for path in _paths(data) if type(_at(data, path)) is int]
    if not numbers:
        return replace_value(draw, data)
    path = draw(st.sampled_from(numbers))
    value = _at(data, path)
    new = draw(
        st.one_of(
            st.sampled_from(ODD_NUMBERS), st.sampled_from((-value, value + 1, value * 1000, value + 0.5, str(value)))
        )
    )
    _at(data, path[:-1])[path[-1]] = new


def insert_key(draw, data) -> None:
    mappings = [()] + [path for path in _paths(data) if isinstance(_at(data, path), dict)]
    target = _at(data, draw(st.sampled_from(mappings)))
    key = draw(st.one_of(st.sampled_from(KNOWN_KEYS), NAMES, _TEXT, st.integers(0, 3)))
    target[key] = draw(ODD_VALUES)


def rename_key(draw, data) -> None:
    keyed = [path for path in _paths(data) if isinstance(_at(data, path[:-1]), dict)]
    path = draw(st.sampled_from(keyed))
    parent, old = _at(data, path[:-1]), path[-1]
    new = (
        _typo(draw, old)
        if isinstance(old, str) and draw(st.booleans())
        else draw(st.one_of(st.sampled_from(KNOWN_KEYS), NAMES))
    )
    items = list(parent.items())
    parent.clear()
    parent.update((new if key == old else key, value) for key, value in items)


def _layer_maps(data) -> list[dict]:
    """Every layer written as {op: args, ...} anywhere in the spec."""
    found = []
    for path in _paths(data):
        value = _at(data, path)
        if isinstance(value, dict) and any(
            op in value for op in ("conv", "maxpool", "avgpool", "linear", "lrn", "dropout")
        ):
            found.append(value)
    return found


def break_reference(draw, data) -> None:
    layers = data.get("layers")
    if not isinstance(layers, dict) or not layers:
        return replace_value(draw, data)
    names = list(layers)
    target = draw(st.sampled_from(names))
    if not isinstance(layers[target], dict):
        return
    later = names[names.index(target) :]
    unknown = _typo(draw, target)
    pair = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True)) if len(names) > 1 else [unknown]
    layers[target]["from"] = draw(
        st.sampled_from([unknown, target, later[-1], "input", pair, [], [unknown, target], 5])
    )


def misalign_branch(draw, data) -> None:
    """A layer in a block's branch that changes the spatial size, where its siblings do not."""
    blocks = data.get("blocks")
    windows = [
        layer
        for layer in _layer_maps(blocks or {})
        for op in ("conv", "maxpool", "avgpool")
        if isinstance(layer.get(op), dict)
    ]
    if not windows:
        return replace_value(draw, data)
    layer = draw(st.sampled_from(windows))
    args = next(layer[op] for op in ("conv", "maxpool", "avgpool") if isinstance(layer.get(op), dict))
    change = draw(st.sampled_from(("stride", "pad", "kernel", "valid")))
    if change == "stride":
        args["stride"] = draw(st.sampled_from((2, [1, 2], 3)))
    elif change == "pad":
        args["pad"] = draw(st.sampled_from((0, 3, [0, 1])))
    elif change == "kernel":
        args["kernel"] = draw(st.sampled_from((2, 4, [3, 2], 9)))
    else:
        args["pad"] = "valid"


def break_block_call(draw, data) -> None:
    blocks = data.get("blocks") or {}
    calls = [layer for layer in _all_dicts(data) if any(isinstance(layer.get(name), list) for name in blocks)]
    if not calls:
        return replace_value(draw, data)
    layer = draw(st.sampled_from(calls))
    name = next(name for name in blocks if isinstance(layer.get(name), list))
    args = layer[name]
    change = draw(st.sampled_from(("drop", "extra", "symbol", "negative", "mapping", "self")))
    if change == "drop" and args:
        args.pop()
    elif change == "extra":
        args.append(draw(st.integers(1, 9)))
    elif change == "symbol":
        args[:1] = ["nosuchparam"]
    elif change == "negative":
        args[:1] = [draw(st.sampled_from((-1, 0, True, 1.5, 2_000_000)))]
    elif change == "mapping":
        layer[name] = {"out": 3}
    else:
        # A block that uses itself.
        body = blocks[name]
        if isinstance(body, dict):
            body["layers"] = [{name: list(args)}]
            for key in ("concat", "add"):
                body.pop(key, None)


def _all_dicts(node) -> list[dict]:
    found = [node] if isinstance(node, dict) else []
    values = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for value in values:
        found += _all_dicts(value)
    return found


def undefined_param(draw, data) -> None:
    convs = [layer["conv"] for layer in _layer_maps(data.get("blocks") or {}) if isinstance(layer.get("conv"), dict)]
    if not convs:
        return replace_value(draw, data)
    conv = draw(st.sampled_from(convs))
    out = conv.get("out")
    conv["out"] = _typo(draw, out) if isinstance(out, str) else "undefined"


def rename_layer(draw, data) -> None:
    layers = data.get("layers")
    if not isinstance(layers, dict) or not layers:
        return replace_value(draw, data)
    old = draw(st.sampled_from(list(layers)))
    new = draw(st.sampled_from(("input", "conv", "1abc", "a-b", "a b", "é", "_x", "", "x.y", "num_classes", *layers)))
    items = list(layers.items())
    layers.clear()
    layers.update((new if key == old else key, value) for key, value in items)


def drop_flatten(draw, data) -> None:
    layers = data.get("layers")
    if not isinstance(layers, dict):
        return replace_value(draw, data)
    for name, layer in list(layers.items()):
        if isinstance(layer, dict) and "flatten" in layer:
            del layers[name]


def merge_mismatched(draw, data) -> None:
    """A top-level concat or add of two earlier layers whose shapes need not agree."""
    layers = data.get("layers")
    if not isinstance(layers, dict) or len(layers) < 2:
        return replace_value(draw, data)
    names = list(layers)
    pair = draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
    position = draw(st.integers(0, len(names)))
    merged = {draw(st.sampled_from(("concat", "add"))): None, "from": pair}
    items = list(layers.items())
    items.insert(position, ("merged", merged))
    layers.clear()
    layers.update(items)


def grow(draw, data) -> None:
    """Absurd sizes: channels, kernels or an input that make the network too large."""
    change = draw(st.sampled_from(("input", "out", "kernel", "args")))
    if change == "input" and isinstance(data.get("input"), list):
        data["input"] = [draw(st.sampled_from((3, 1_000_000))), 65_536, 65_536]
        return
    for layer in _layer_maps(data):
        args = layer.get("conv") or layer.get("linear")
        if isinstance(args, dict):
            if change == "kernel" and "conv" in layer:
                args["kernel"] = 1024
            else:
                args["out"] = 1_000_000
    for layer in _all_dicts(data.get("layers") or {}):
        for value in layer.values():
            if change == "args" and isinstance(value, list) and value and all(type(v) is int for v in value):
                value[:] = [1_000_000] * len(value)


def bad_head(draw, data) -> None:
    blocks = list(data.get("blocks") or {}) or ["conv"]
    head = {draw(st.sampled_from(blocks)): [], "from": draw(st.sampled_from(("nosuch", "input", None, 3, ["a"])))}
    if draw(st.booleans()):
        head["loss_weight"] = draw(st.sampled_from((-1, 1001, "high", float("nan"), True)))
    data["heads"] = {draw(st.sampled_from(("aux", "input", "1aux", "conv"))): head}


DATA_MUTATIONS = (
    delete_entry,
    replace_value,
    change_number,
    insert_key,
    rename_key,
    break_reference,
    misalign_branch,
    break_block_call,
    undefined_param,
    rename_layer,
    drop_flatten,
    merge_mismatched,
    grow,
    bad_head,
)


# -- edits of the text -----------------------------------------------------------------------

PIECES = (
    ":", ": ", "-", "- ", " ", "  ", "\n", "\t", "[", "]", "{", "}", ",", "#", "&a ", "*a", "&a [*a, *a] ",
    "!!python/object:os.system ", "!!binary ", "!!int ", "<<: ", "? ", "---\n", "...\n", "'", '"', "|", ">",
    "%", "@", "`", "\\", "\x00", "\x07", "\x7f", "\ufeff", "é", "\u2028", "\x85", "\r", "\r\n", "0", "-1",
    "1e9", ".inf", "null", "~", "_", ".", "yes", "0x10", "0o7", "1_000",
)  # fmt: skip
BAD_BYTES = (b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\xf4\x90\x80\x80", b"\x00")


def insert_piece(draw, raw: bytes) -> bytes:
    position = draw(st.integers(0, len(raw)))
    piece = draw(st.one_of(st.sampled_from(PIECES), _TEXT)).encode("utf-8")
    return raw[:position] + piece + raw[position:]


def insert_bytes(draw, raw: bytes) -> bytes:
    position = draw(st.integers(0, len(raw)))
    return raw[:position] + draw(st.sampled_from(BAD_BYTES)) + raw[position:]


def delete_span(draw, raw: bytes) -> bytes:
    start = draw(st.integers(0, len(raw)))
    end = draw(st.integers(start, min(len(raw), start + 24)))
    return raw[:start] + raw[end:]


def replace_byte(draw, raw: bytes) -> bytes:
    if not raw:
        return raw
    position = draw(st.integers(0, len(raw) - 1))
    return raw[:position] + bytes([draw(st.integers(0, 255))]) + raw[position + 1 :]


def truncate(draw, raw: bytes) -> bytes:
    return raw[: draw(st.integers(0, len(raw)))]


def _lines(raw: bytes) -> list[bytes]:
    return raw.splitlines(keepends=True) or [b""]


def repeat_line(draw, raw: bytes) -> bytes:
    lines = _lines(raw)
    index = draw(st.integers(0, len(lines) - 1))
    copies = draw(st.sampled_from((1, 2, 200)))
    return b"".join(lines[: index + 1] + [lines[index]] * copies + lines[index + 1 :])


def swap_lines(draw, raw: bytes) -> bytes:
    lines = _lines(raw)
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    return b"".join(lines)


def reindent(draw, raw: bytes) -> bytes:
    lines = _lines(raw)
    index = draw(st.integers(0, len(lines) - 1))
    shift = draw(st.sampled_from((-4, -2, -1, 1, 2, 3)))
    line = lines[index]
    lines[index] = b" " * shift + line if shift > 0 else line[min(-shift, len(line) - len(line.lstrip(b" "))) :]
    return b"".join(lines)


def nest_deeply(draw, raw: bytes) -> bytes:
    depth = draw(st.sampled_from((63, 64, 65, 200, 5000)))
    opener = draw(st.sampled_from((b"[", b"{a: ", b"- ")))
    return raw + b"extra: " + opener * depth + b"\n"


TEXT_EDITS = (
    insert_piece,
    insert_bytes,
    delete_span,
    replace_byte,
    truncate,
    repeat_line,
    swap_lines,
    reindent,
    nest_deeply,
)


@st.composite
def invalid_specs(draw) -> bytes:
    """The bytes of a mutated valid spec: one to three data mutations, text edits, or both."""
    data = copy.deepcopy(draw(spec_data()))
    data_mutations = draw(st.integers(0, 3))
    text_edits = draw(st.integers(0 if data_mutations else 1, 2))
    for _ in range(data_mutations):
        draw(st.sampled_from(DATA_MUTATIONS))(draw, data)
    raw = to_yaml(data).encode("utf-8")
    for _ in range(text_edits):
        raw = draw(st.sampled_from(TEXT_EDITS))(draw, raw)
    return raw
