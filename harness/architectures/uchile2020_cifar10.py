"""uchile2020-cifar10 (PyTorch): "Red Grande" (vgg8_bn) and "Red Pequena" (vgg4_bn) on CIFAR-10.

Both use Conv -> ReLU -> BatchNorm (BN after the activation, as the report does) and
MaxPool(3, stride 2, padding 1), which halves 32 -> 16 -> 8 -> 4 -> 2: 512 x 2 x 2 = 2048 features.
"""

from __future__ import annotations

from torch import nn

from ._registry import register_arch

REPORT = "uchile2020-cifar10"


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(c_out)]


def _pool() -> nn.Module:
    return nn.MaxPool2d(3, stride=2, padding=1)


def _fc(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Linear(c_in, c_out), nn.ReLU(inplace=True), nn.BatchNorm1d(c_out)]


@register_arch("vgg8_bn", report=REPORT, input_shape=(3, 32, 32), num_outputs=10, reference_params=5_655_498)
def vgg8_bn(*, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
    """ "Red Grande": 4 stages of two 3x3 convs (64-512), FC 2048-128-256-512-1024, one BN per layer."""
    layers: list[nn.Module] = []
    c_in = in_shape[0]
    for width in (64, 128, 256, 512):
        # One BN per conv: the report's code reuses one BN for both convs of a stage,
        # but its parameter table (5,655,498) counts two.
        layers += [*_conv(c_in, width), *_conv(width, width), _pool()]
        c_in = width
    layers.append(nn.Flatten())
    for f_in, f_out in ((2048, 128), (128, 256), (256, 512), (512, 1024)):
        layers += _fc(f_in, f_out)
    layers.append(nn.Linear(1024, num_outputs))
    return nn.Sequential(*layers)


@register_arch("vgg4_bn", report=REPORT, input_shape=(3, 32, 32), num_outputs=10, reference_params=1_816_714)
def vgg4_bn(*, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
    """ "Red Pequena": four 3x3 convs (64-512), each pooled, FC 2048-128, then the classifier."""
    layers: list[nn.Module] = []
    c_in = in_shape[0]
    for width in (64, 128, 256, 512):
        layers += [*_conv(c_in, width), _pool()]
        c_in = width
    return nn.Sequential(*layers, nn.Flatten(), *_fc(2048, 128), nn.Linear(128, num_outputs))
