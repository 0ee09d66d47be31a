"""A transcription of timm's InceptionNeXt, for tests only: timm/models/inception_next.py
(huggingface/pytorch-image-models), with the helpers it imports from timm/layers (get_padding,
to_2tuple, DropPath and drop_path, calculate_drop_path_rates, SelectAdaptivePool2d's 'avg' path).

timm cannot be installed beside this project's torch, so the tests hold the generated modules to
this copy instead. Module names, construction order, arguments and forward() are timm's, line
for line; left out are what no forward of these models reaches: device/dtype arguments,
dilation beyond 1 (output_stride 32), gradient checkpointing, forward_intermediates, the
classifier reset, the pretrained-weight registry, and MetaNeXt._init_weights (the tests load one
state_dict into both models).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn


def to_2tuple(x):  # timm/layers/helpers.py
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x, x)


def get_padding(kernel_size: int, stride: int = 1, dilation: int = 1) -> int:  # timm/layers/padding.py
    return ((stride - 1) + dilation * (kernel_size - 1)) // 2


def drop_path(x, drop_prob: float = 0.0, training: bool = False, scale_by_keep: bool = True):  # timm/layers/drop.py
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    random_tensor = x.new_empty(shape).bernoulli_(keep_prob)
    if keep_prob > 0.0 and scale_by_keep:
        random_tensor.div_(keep_prob)
    return x * random_tensor


class DropPath(nn.Module):  # timm/layers/drop.py
    def __init__(self, drop_prob: float = 0.0, scale_by_keep: bool = True):
        super().__init__()
        self.drop_prob = drop_prob
        self.scale_by_keep = scale_by_keep

    def forward(self, x):
        return drop_path(x, self.drop_prob, self.training, self.scale_by_keep)


def calculate_drop_path_rates(drop_path_rate: float, depths: list[int]) -> list[list[float]]:
    """timm/layers/drop.py, with a list of depths and stagewise=True, as MetaNeXt calls it."""
    total_depth = sum(depths)
    return [x.tolist() for x in torch.linspace(0, drop_path_rate, total_depth, device="cpu").split(depths)]


class SelectAdaptivePool2d(nn.Module):  # timm/layers/adaptive_avgmax_pool.py, pool_type 'avg'
    def __init__(self, output_size=1, pool_type: str = "avg", flatten: bool = False):
        super().__init__()
        assert pool_type == "avg"
        self.pool_type = pool_type
        self.pool = nn.AdaptiveAvgPool2d(output_size)
        self.flatten = nn.Flatten(1) if flatten else nn.Identity()

    def forward(self, x):
        x = self.pool(x)
        x = self.flatten(x)
        return x

    def feat_mult(self):
        return 1


class InceptionDWConv2d(nn.Module):
    def __init__(self, in_chs, square_kernel_size=3, band_kernel_size=11, branch_ratio=0.125, dilation=1):
        super().__init__()
        gc = int(in_chs * branch_ratio)  # channel numbers of a convolution branch
        square_padding = get_padding(square_kernel_size, dilation=dilation)
        band_padding = get_padding(band_kernel_size, dilation=dilation)
        self.dwconv_hw = nn.Conv2d(gc, gc, square_kernel_size, padding=square_padding, dilation=dilation, groups=gc)
        self.dwconv_w = nn.Conv2d(
            gc, gc, (1, band_kernel_size), padding=(0, band_padding), dilation=(1, dilation), groups=gc
        )
        self.dwconv_h = nn.Conv2d(
            gc, gc, (band_kernel_size, 1), padding=(band_padding, 0), dilation=(dilation, 1), groups=gc
        )
        self.split_indexes = (in_chs - 3 * gc, gc, gc, gc)

    def forward(self, x):
        x_id, x_hw, x_w, x_h = torch.split(x, self.split_indexes, dim=1)
        return torch.cat(
            (
                x_id,
                self.dwconv_hw(x_hw),
                self.dwconv_w(x_w),
                self.dwconv_h(x_h),
            ),
            dim=1,
        )


class ConvMlp(nn.Module):
    def __init__(
        self,
        in_features,
        hidden_features=None,
        out_features=None,
        act_layer=nn.ReLU,
        norm_layer=None,
        bias=True,
        drop=0.0,
    ):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        bias = to_2tuple(bias)

        self.fc1 = nn.Conv2d(in_features, hidden_features, kernel_size=1, bias=bias[0])
        self.norm = norm_layer(hidden_features) if norm_layer else nn.Identity()
        self.act = act_layer()
        self.drop = nn.Dropout(drop)
        self.fc2 = nn.Conv2d(hidden_features, out_features, kernel_size=1, bias=bias[1])

    def forward(self, x):
        x = self.fc1(x)
        x = self.norm(x)
        x = self.act(x)
        x = self.drop(x)
        x = self.fc2(x)
        return x


class MlpClassifierHead(nn.Module):
    def __init__(
        self,
        in_features,
        num_classes=1000,
        pool_type="avg",
        mlp_ratio=3,
        act_layer=nn.GELU,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),  # noqa: B008 - timm's signature
        drop=0.0,
        bias=True,
    ):
        super().__init__()
        self.use_conv = False
        self.in_features = in_features
        self.num_features = hidden_features = int(mlp_ratio * in_features)

        assert pool_type, "Cannot disable pooling"
        self.global_pool = SelectAdaptivePool2d(pool_type=pool_type, flatten=True)

        self.fc1 = nn.Linear(in_features * self.global_pool.feat_mult(), hidden_features, bias=bias)
        self.act = act_layer()
        self.norm = norm_layer(hidden_features)
        self.fc2 = nn.Linear(hidden_features, num_classes, bias=bias)
        self.drop = nn.Dropout(drop)

    def forward(self, x, pre_logits: bool = False):
        x = self.global_pool(x)
        x = self.fc1(x)
        x = self.act(x)
        x = self.norm(x)
        x = self.drop(x)
        return x if pre_logits else self.fc2(x)


class MetaNeXtBlock(nn.Module):
    def __init__(
        self,
        dim,
        dilation=1,
        token_mixer=InceptionDWConv2d,
        norm_layer=nn.BatchNorm2d,
        mlp_layer=ConvMlp,
        mlp_ratio=4,
        act_layer=nn.GELU,
        ls_init_value=1e-6,
        drop_path=0.0,
    ):
        super().__init__()
        self.token_mixer = token_mixer(dim, dilation=dilation)
        self.norm = norm_layer(dim)
        self.mlp = mlp_layer(dim, int(mlp_ratio * dim), act_layer=act_layer)
        self.gamma = nn.Parameter(ls_init_value * torch.ones(dim)) if ls_init_value else None
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x):
        shortcut = x
        x = self.token_mixer(x)
        x = self.norm(x)
        x = self.mlp(x)
        if self.gamma is not None:
            x = x.mul(self.gamma.reshape(1, -1, 1, 1))
        x = self.drop_path(x) + shortcut
        return x


class MetaNeXtStage(nn.Module):
    def __init__(
        self,
        in_chs,
        out_chs,
        stride=2,
        depth=2,
        dilation=(1, 1),
        drop_path_rates=None,
        ls_init_value=1.0,
        token_mixer=InceptionDWConv2d,
        act_layer=nn.GELU,
        norm_layer=None,
        mlp_ratio=4,
    ):
        super().__init__()
        self.grad_checkpointing = False
        if stride > 1 or dilation[0] != dilation[1]:
            self.downsample = nn.Sequential(
                norm_layer(in_chs),
                nn.Conv2d(in_chs, out_chs, kernel_size=2, stride=stride, dilation=dilation[0]),
            )
        else:
            self.downsample = nn.Identity()

        drop_path_rates = drop_path_rates or [0.0] * depth
        stage_blocks = []
        for i in range(depth):
            stage_blocks.append(
                MetaNeXtBlock(
                    dim=out_chs,
                    dilation=dilation[1],
                    drop_path=drop_path_rates[i],
                    ls_init_value=ls_init_value,
                    token_mixer=token_mixer,
                    act_layer=act_layer,
                    norm_layer=norm_layer,
                    mlp_ratio=mlp_ratio,
                )
            )
        self.blocks = nn.Sequential(*stage_blocks)

    def forward(self, x):
        x = self.downsample(x)
        x = self.blocks(x)
        return x


class MetaNeXt(nn.Module):
    def __init__(
        self,
        in_chans=3,
        num_classes=1000,
        global_pool="avg",
        output_stride=32,
        depths=(3, 3, 9, 3),
        dims=(96, 192, 384, 768),
        token_mixers=InceptionDWConv2d,
        norm_layer=nn.BatchNorm2d,
        act_layer=nn.GELU,
        mlp_ratios=(4, 4, 4, 3),
        drop_rate=0.0,
        drop_path_rate=0.0,
        ls_init_value=1e-6,
    ):
        super().__init__()
        num_stage = len(depths)
        if not isinstance(token_mixers, (list, tuple)):
            token_mixers = [token_mixers] * num_stage
        if not isinstance(mlp_ratios, (list, tuple)):
            mlp_ratios = [mlp_ratios] * num_stage
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.drop_rate = drop_rate

        self.stem = nn.Sequential(nn.Conv2d(in_chans, dims[0], kernel_size=4, stride=4), norm_layer(dims[0]))

        dp_rates = calculate_drop_path_rates(drop_path_rate, depths)
        prev_chs = dims[0]
        curr_stride = 4
        dilation = 1
        # feature resolution stages, each consisting of multiple residual blocks
        self.stages = nn.Sequential()
        for i in range(num_stage):
            stride = 2 if curr_stride == 2 or i > 0 else 1
            if curr_stride >= output_stride and stride > 1:
                dilation *= stride
                stride = 1
            curr_stride *= stride
            first_dilation = 1 if dilation in (1, 2) else 2
            out_chs = dims[i]
            self.stages.append(
                MetaNeXtStage(
                    prev_chs,
                    out_chs,
                    stride=stride if i > 0 else 1,
                    dilation=(first_dilation, dilation),
                    depth=depths[i],
                    drop_path_rates=dp_rates[i],
                    ls_init_value=ls_init_value,
                    act_layer=act_layer,
                    token_mixer=token_mixers[i],
                    norm_layer=norm_layer,
                    mlp_ratio=mlp_ratios[i],
                )
            )
            prev_chs = out_chs
        self.num_features = prev_chs
        self.head = MlpClassifierHead(self.num_features, num_classes, pool_type=self.global_pool, drop=drop_rate)

    def forward_features(self, x):
        x = self.stem(x)
        x = self.stages(x)
        return x

    def forward_head(self, x, pre_logits: bool = False):
        return self.head(x, pre_logits=pre_logits) if pre_logits else self.head(x)

    def forward(self, x):
        x = self.forward_features(x)
        x = self.forward_head(x)
        return x


def inception_next_atto(**kwargs):
    model_args = dict(
        depths=(2, 2, 6, 2),
        dims=(40, 80, 160, 320),
        token_mixers=partial(InceptionDWConv2d, band_kernel_size=9, branch_ratio=0.25),
    )
    return MetaNeXt(**dict(model_args, **kwargs))


def inception_next_tiny(**kwargs):
    model_args = dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), token_mixers=InceptionDWConv2d)
    return MetaNeXt(**dict(model_args, **kwargs))
