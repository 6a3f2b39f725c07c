"""uni2022-pokemon (PyTorch): a plain five-block CNN and a small ResNet on 150 Pokemon classes.

The report prints neither network's widths; REPORTS.md chose 32-512 and 64-512. Both end in a
global average pool, so they run at any size (224 px natively) and their counts do not depend on it.
"""

from __future__ import annotations

from torch import nn

from ._layers import BasicBlock, conv_bn_relu, resnet_stem
from ._registry import register_arch

REPORT = "uni2022-pokemon"


@register_arch("cnn5_bn", report=REPORT, input_shape=(3, 224, 224), num_outputs=150, adaptive=True, min_side=32)
def cnn5_bn(*, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
    """Five Conv3x3-BN-ReLU-MaxPool2 blocks (32-512), global average pool, Linear."""
    layers: list[nn.Module] = []
    c_in = in_shape[0]
    for width in (32, 64, 128, 256, 512):
        layers += [*conv_bn_relu(c_in, width), nn.MaxPool2d(2)]
        c_in = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_outputs))


@register_arch("resnet4", report=REPORT, input_shape=(3, 224, 224), num_outputs=150, adaptive=True, min_side=8)
def resnet4(*, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
    """Stem, one residual block per stage (64, 128, 256, 512; stride 2 from the second), global pool, Linear."""
    blocks = [BasicBlock(64, 64), BasicBlock(64, 128, 2), BasicBlock(128, 256, 2), BasicBlock(256, 512, 2)]
    return nn.Sequential(
        *resnet_stem(in_shape[0], 64, min(in_shape[1:])),
        *blocks,
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(512, num_outputs),
    )
