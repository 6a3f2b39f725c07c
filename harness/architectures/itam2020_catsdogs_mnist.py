"""itam2020-catsdogs-mnist (Keras): a 150 px cats-vs-dogs CNN and three MNIST 7x7 -> 28x28 upsamplers."""

from __future__ import annotations

from torch import nn

from ._layers import keras_binary_classifier
from ._registry import register_arch

REPORT = "itam2020-catsdogs-mnist"


@register_arch(
    "keras_cnn3_drop09",
    report=REPORT,
    input_shape=(3, 150, 150),
    num_outputs=1,
    head="single_logit",
    reference_params=4_828_481,
)
def keras_cnn3_drop09(*, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
    """Conv32, 64, 128 (each pooled), Flatten(36992), Dense128, Dropout 0.9, one logit; 150 px."""
    return keras_binary_classifier(in_shape, [32, 64, 128], dense=128, dropout=0.9)


UP = "up"  # Keras UpSampling2D(2): nearest neighbour


def _upsampler(in_channels: int, out_channels: int, plan: list[int | str]) -> nn.Sequential:
    """Keras "same" 3x3 convs with ReLU (and UpSampling2D where the plan says "up"), then a
    3x3 conv to the output channels and a sigmoid: pixels in [0, 1], trained with BCE."""
    layers: list[nn.Module] = []
    c = in_channels
    for step in plan:
        if step == UP:
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            layers += [nn.Conv2d(c, int(step), 3, padding=1), nn.ReLU(inplace=True)]
            c = int(step)
    return nn.Sequential(*layers, nn.Conv2d(c, out_channels, 3, padding=1), nn.Sigmoid())


def _register_upsampler(name: str, plan: list[int | str], params: int, doc: str) -> None:
    def build(*, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
        return _upsampler(in_shape[0], num_outputs, plan)

    build.__doc__ = doc
    register_arch(
        name, report=REPORT, input_shape=(1, 7, 7), num_outputs=1, head="image", upscale=4, reference_params=params
    )(build)


_register_upsampler(
    "upsample_a",
    [64, 64, UP, 128, 32, UP, 128, 32, 32, 32],
    240_993,
    "Model 1: Conv64 x2, Up2, Conv128, 32, Up2, Conv128, 32, 32, 32, Conv1 + sigmoid.",
)
_register_upsampler(
    "upsample_b",
    [64, 64, UP, 128, 128, UP, 128, 64],
    480_961,
    "Model 2: Conv64 x2, Up2, Conv128 x2, Up2, Conv128, 64, Conv1 + sigmoid.",
)
_register_upsampler(
    "upsample_c", [64, 64, UP, 128, UP, 64], 185_793, "Model 3: Conv64 x2, Up2, Conv128, Up2, Conv64, Conv1 + sigmoid."
)
