"""Small generic baselines that build for any input size; the digits default sweeps them.

Shown at digits' 1x8x8 input, the task they were written for."""

from __future__ import annotations

import math

from torch import nn

from ._registry import register_arch


@register_arch("mlp", input_shape=(1, 8, 8), num_outputs=10, adaptive=True)
def mlp(*, in_shape: tuple[int, int, int], num_outputs: int, hidden: int = 256) -> nn.Module:
    """Two-layer perceptron on the flattened image: the floor every CNN should beat."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(in_shape), hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, num_outputs),
    )


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


@register_arch("cnn_small", input_shape=(1, 8, 8), num_outputs=10, adaptive=True, min_side=2)
def cnn_small(*, in_shape: tuple[int, int, int], num_outputs: int, width: int = 32) -> nn.Module:
    """Three Conv-BN-ReLU blocks, one max-pool, global average pool: any input of 4 px or more."""
    return nn.Sequential(
        *_conv_bn(in_shape[0], width),
        *_conv_bn(width, 2 * width),
        nn.MaxPool2d(2),
        *_conv_bn(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * width, num_outputs),
    )
