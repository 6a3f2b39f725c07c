"""uni2022-catsdogs (PyTorch): a four-block CNN with an MLP head on 128x128 cats vs dogs."""

from __future__ import annotations

from torch import nn

from ._registry import register_arch


def _block(c_in: int, c_out: int, kernel: int) -> list[nn.Module]:
    # "valid" convolutions (no padding) without bias, as the report's code builds them
    return [nn.Conv2d(c_in, c_out, kernel, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), nn.MaxPool2d(2)]


@register_arch(
    "cnn4_bn_mlp",
    report="uni2022-catsdogs",
    input_shape=(3, 128, 128),
    num_outputs=2,
    reference_params=1_035_474,
    params_published=False,
)
def cnn4_bn_mlp(*, in_shape: tuple[int, int, int], num_outputs: int) -> nn.Module:
    """Four Conv-BN-ReLU-pool blocks (k7, 3, 5, 3), Flatten(1600), MLP 512-256-128 (with the report's ReLU->Sigmoid)."""
    return nn.Sequential(
        *_block(in_shape[0], 16, 7),
        *_block(16, 32, 3),
        *_block(32, 32, 5),
        *_block(32, 64, 3),
        nn.Flatten(),  # 64 x 5 x 5 = 1600 at 128 px
        nn.Linear(1600, 512),
        nn.ReLU(inplace=True),
        nn.Sigmoid(),  # odd after a ReLU (outputs land in [0.5, 1)), but it is the report's network
        nn.Linear(512, 256),
        nn.ReLU(inplace=True),
        nn.Linear(256, 128),
        nn.ReLU(inplace=True),
        nn.Linear(128, num_outputs),
    )
