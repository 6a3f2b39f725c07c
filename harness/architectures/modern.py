"""Modern baselines that should beat the reports: how far each report is from today's practice."""

from __future__ import annotations

from torch import Tensor, nn

from ._layers import conv_bn_relu, resnet_stem
from ._registry import register_arch


@register_arch("resnet18", input_shape=(3, 32, 32), num_outputs=10, adaptive=True, min_side=8)
def resnet18(*, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
    """torchvision's ResNet-18 (weights=None); 3x3 stride-1 stem up to 32 px, the ImageNet stem above."""
    from torchvision.models import resnet18 as tv_resnet18  # imported here: torchvision is slow to import

    model = tv_resnet18(weights=None, num_classes=num_outputs)
    stem = resnet_stem(in_shape[0], 64, min(in_shape[1:]))
    # torchvision's stem is conv1, bn1, relu, maxpool; swap in ours, whichever size it is.
    model.conv1, model.bn1, model.relu = stem[0], stem[1], stem[2]
    model.maxpool = stem[3] if len(stem) == 4 else nn.Identity()
    return model


class _Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*conv_bn_relu(width, width), *conv_bn_relu(width, width))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class _Scale(nn.Module):
    """Multiplies the logits by a constant: ResNet-9 uses 0.125 in place of a softmax temperature."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: Tensor) -> Tensor:
        return x * self.factor


@register_arch("resnet9", input_shape=(3, 32, 32), num_outputs=10, adaptive=True, min_side=8)
def resnet9(*, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
    """The DAWNBench ResNet-9 (Page, 2018): prep 64, 128 + residual, 256, 512 + residual, max-pool, Linear."""
    return nn.Sequential(
        *conv_bn_relu(in_shape[0], 64),
        *conv_bn_relu(64, 128),
        nn.MaxPool2d(2),
        _Residual(128),
        *conv_bn_relu(128, 256),
        nn.MaxPool2d(2),
        *conv_bn_relu(256, 512),
        nn.MaxPool2d(2),
        _Residual(512),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(512, num_outputs, bias=False),
        _Scale(0.125),
    )


@register_arch("espcn", input_shape=(1, 7, 7), num_outputs=1, head="image", upscale=4, adaptive=True)
def espcn(*, in_shape: tuple[int, int, int], num_outputs: int, upscale: int = 4) -> nn.Module:
    """ESPCN (Shi et al. 2016): convolutions at low resolution, then PixelShuffle(4) and a sigmoid."""
    return nn.Sequential(
        nn.Conv2d(in_shape[0], 64, 5, padding=2),
        nn.Tanh(),
        nn.Conv2d(64, 32, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(32, num_outputs * upscale**2, 3, padding=1),
        nn.PixelShuffle(upscale),  # (r^2 C, H, W) -> (C, rH, rW): learned sub-pixel upsampling
        nn.Sigmoid(),
    )
