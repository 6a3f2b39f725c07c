"""Building blocks shared by several report modules (Keras-style stacks, residual blocks)."""

from __future__ import annotations

from torch import Tensor, nn


def keras_features(in_channels: int, widths: list[int]) -> list[nn.Module]:
    """Keras `Conv2D(w, 3, activation="relu")` ("valid" padding, with bias) + `MaxPool2D(2)` per width."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Conv2d(in_channels, width, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        in_channels = width
    return layers


def keras_flat_size(side: int, widths: list[int]) -> int:
    """Flatten size after `keras_features` on a side x side image (each stage: -2, then // 2)."""
    for _ in widths:
        side = (side - 2) // 2
    return widths[-1] * side * side


def keras_binary_classifier(
    in_shape: tuple[int, int, int], widths: list[int], dense: int, dropout: float | None
) -> nn.Sequential:
    """The Keras cats-vs-dogs pattern: conv/pool stack, Flatten, Dense ReLU, [Dropout], Dense(1).

    The final sigmoid lives in BCEWithLogitsLoss, not here, so the module ends in one logit.
    """
    head: list[nn.Module] = [
        nn.Flatten(),
        nn.Linear(keras_flat_size(in_shape[1], widths), dense),
        nn.ReLU(inplace=True),
    ]
    if dropout:
        head.append(nn.Dropout(dropout))
    head.append(nn.Linear(dense, 1))
    return nn.Sequential(*keras_features(in_shape[0], widths), *head)


def conv_bn_relu(c_in: int, c_out: int, *, stride: int = 1) -> list[nn.Module]:
    """3x3 conv (no bias: BatchNorm's shift replaces it) -> BN -> ReLU."""
    return [
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class BasicBlock(nn.Module):
    """Two Conv-BN(-ReLU) layers plus a shortcut: identity, or a 1x1 conv-BN projection when the
    shape changes (He et al. 2016, option B)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *conv_bn_relu(c_in, c_out, stride=stride),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


SMALL_IMAGE_MAX_SIDE = 32  # up to this side a ResNet keeps full resolution in its stem


def resnet_stem(in_channels: int, width: int, side: int) -> list[nn.Module]:
    """ImageNet stem (7x7 stride 2 + max-pool: /4) for large images; a 3x3 stride-1 conv for
    8-32 px images, where /4 would leave too few pixels for the residual stages."""
    if side <= SMALL_IMAGE_MAX_SIDE:
        return conv_bn_relu(in_channels, width)
    return [
        nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),
    ]
