"""Framework defaults a recipe trains under: PyTorch's own, or Keras's for the reports written in Keras.

A network ported from a Keras report is not the same experiment under PyTorch's defaults. Keras
initialises every Conv/Dense kernel with glorot_uniform and every bias with zeros, where PyTorch
draws both from kaiming_uniform(a=sqrt(5)); with PyTorch's init, itam2020's `keras_cnn3_drop09`
gave constant outputs from epoch 1 (dead ReLUs behind its 36,992-wide flatten), with Keras's it
learned. Keras's optimizers also use other constants (Adam epsilon 1e-7, not 1e-8). A recipe names
its framework (`--framework keras`); the default keeps PyTorch's defaults, so PyTorch recipes and
ordinary sweeps are unchanged. Adding a framework is adding a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from harness.errors import lookup


def _keep(model: nn.Module) -> None:
    """PyTorch's layers already hold PyTorch's initialisation."""


def _keras_init(model: nn.Module) -> None:
    """Keras's defaults: glorot_uniform kernels, zero biases (Conv*, Dense); BatchNormalization's
    momentum 0.99 (PyTorch counts the other way: 0.01) and epsilon 1e-3."""
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.ConvTranspose2d):
            # glorot_uniform is xavier_uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out))
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum, module.eps = 0.01, 1e-3


@dataclass(frozen=True)
class Framework:
    init: Callable[[nn.Module], None]  # re-initialises a freshly built model in place
    # optimizer -> the constants it is built with under this framework (eps 1e-7, ...)
    optimizer_defaults: dict[str, dict[str, float | bool]] = field(default_factory=dict)
    description: str = ""


FRAMEWORKS: dict[str, Framework] = {
    "pytorch": Framework(_keep, {}, "PyTorch's layer initialisation and optimizer constants"),
    "keras": Framework(
        _keras_init,
        {
            "adam": {"eps": 1e-7},
            "adamw": {"eps": 1e-7},
            "rmsprop": {"eps": 1e-7, "alpha": 0.9},  # Keras's rho 0.9
        },
        "Keras's: glorot_uniform kernels, zero biases, BatchNorm momentum 0.99 / eps 1e-3, Adam epsilon 1e-7",
    ),
}


def get_framework(name: str) -> Framework:
    return lookup("framework", FRAMEWORKS, name)
