"""A CPU-sized airbench network (Jordan, `cifar10-airbench` airbench94.py) for the speed preset.

The airbench94 layout at smaller widths: a frozen 2x2 patch-whitening convolution initialised
from training images (`init_from_data`, the registry's data-dependent init hook), then three
groups of conv -> max-pool -> BN -> GELU -> conv -> BN -> GELU, a 3x3 max-pool, a bias-free
linear layer and a fixed 1/9 logit scale. BatchNorm keeps airbench's settings: no learned scale
(its weight is frozen at 1), momentum 0.6 in airbench's sense (torch's 0.4), eps 1e-12.
Convolutions start as identity on their first channels (dirac), an implicit residual.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._registry import register_arch

WHITEN_KERNEL = 2  # side of the whitened patches: 2 x 2 x 3 = 12 dims, 24 filters (each eigenvector and its negative)
WHITEN_EPS = 5e-4  # added to the patch covariance's eigenvalues before dividing by their square root
BN_MOMENTUM = 0.4  # torch's convention (the weight of the new batch): airbench's 0.6
LOGIT_SCALE = 1 / 9  # airbench's fixed scale on the logits, in place of a softmax temperature


def _batch_norm(width: int) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(width, eps=1e-12, momentum=BN_MOMENTUM)
    norm.weight.requires_grad = False  # a shift but no learned scale: the next conv rescales anyway
    return norm


def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 3, padding="same", bias=False)
    torch.nn.init.dirac_(conv.weight.data[: min(c_in, c_out)])  # identity on the first channels: an implicit residual
    return conv


class _Group(nn.Module):
    """conv -> max-pool /2 -> BN -> GELU -> conv -> BN -> GELU (airbench's ConvGroup)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1, self.pool, self.norm1 = _conv(c_in, c_out), nn.MaxPool2d(2), _batch_norm(c_out)
        self.conv2, self.norm2 = _conv(c_out, c_out), _batch_norm(c_out)
        self.activ = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


class WhitenedNet(nn.Module):
    """The airbench layout; `widths` are the three groups' channels."""

    def __init__(self, *, in_channels: int, widths: tuple[int, int, int], num_outputs: int, stride: int = 1) -> None:
        super().__init__()
        whiten_width = 2 * in_channels * WHITEN_KERNEL**2
        # stride 2 whitens non-overlapping patches: every later layer sees a quarter of the pixels
        whiten = nn.Conv2d(in_channels, whiten_width, WHITEN_KERNEL, stride=stride, padding=0, bias=True)
        assert whiten.bias is not None  # bias=True
        # Set by init_from_data, then kept. Its bias is frozen too (airbench trains it for 3 epochs):
        # then no gradient flows into the first, largest layer's input, a step ~20% cheaper on 2
        # CPU cores (measured at widths 32-64-128, stride 1, batch 256, bf16).
        whiten.weight.requires_grad = False
        whiten.bias.requires_grad = False
        nn.init.zeros_(whiten.bias)
        self.whiten = whiten
        self.body = nn.Sequential(
            nn.GELU(),
            _Group(whiten_width, widths[0]),
            _Group(widths[0], widths[1]),
            _Group(widths[1], widths[2]),
            nn.AdaptiveMaxPool2d(1),  # the max over what is left (airbench: MaxPool2d(3) on its 3 x 3), any side
            nn.Flatten(),
        )
        self.head = nn.Linear(widths[2], num_outputs, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(self.whiten(x))) * LOGIT_SCALE

    @torch.no_grad()
    def init_from_data(self, images: Tensor) -> None:
        """The whitening filters from normalised training images (N, C, H, W): the eigenvectors
        of the covariance of their 2 x 2 patches, each scaled by 1/sqrt(its eigenvalue), and
        their negatives (so a GELU after it keeps both signs)."""
        c, k = images.shape[1], WHITEN_KERNEL
        patches = images.float().unfold(2, k, 1).unfold(3, k, 1).transpose(1, 3).reshape(-1, c * k * k)
        covariance = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending; the largest first below
        filters = (eigenvectors.T / torch.sqrt(eigenvalues + WHITEN_EPS)[:, None]).flip(0).reshape(-1, c, k, k)
        self.whiten.weight.copy_(torch.cat((filters, -filters)))


# Widths 32-64-128 at stride 1, about 20M multiply-adds per image. Stride 2 at 64-128-256 has
# the same count but trained at about half the images per second on the 2 cores (bf16, batch
# 256, interleaved rounds: 65-100 against 28-65 img/s, the machine shared) and learned no faster
# per epoch (64.3% against 64.0% test accuracy after 5 epochs of an 8-epoch schedule).
CPU_WIDTHS = (32, 64, 128)
CPU_STRIDE = 1


@register_arch("airbench_cpu", input_shape=(3, 32, 32), num_outputs=10, adaptive=True, min_side=16)
def airbench_cpu(*, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
    """airbench94's layout for 2 CPU cores: 2x2 patch whitening, conv groups 32-64-128, logits x 1/9."""
    return WhitenedNet(in_channels=in_shape[0], widths=CPU_WIDTHS, num_outputs=num_outputs, stride=CPU_STRIDE)
