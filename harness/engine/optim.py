"""The optimizer table: name -> (class, defaults). Adding one is adding a row, never a branch."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from harness.errors import lookup


@dataclass(frozen=True)
class OptimizerSpec:
    cls: Callable[..., torch.optim.Optimizer]  # called with (params, lr=..., **defaults)
    defaults: dict[str, Any] = field(default_factory=dict)  # passed unless the caller overrides
    description: str = ""


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec(torch.optim.SGD, {}, "plain SGD, no momentum (as uni2022-catsdogs)"),
    "momentum": OptimizerSpec(torch.optim.SGD, {"momentum": 0.9}, "SGD with momentum 0.9"),
    "nesterov": OptimizerSpec(torch.optim.SGD, {"momentum": 0.9, "nesterov": True}, "SGD with Nesterov momentum 0.9"),
    "adam": OptimizerSpec(torch.optim.Adam, {}, "Adam, betas (0.9, 0.999)"),
    "adamw": OptimizerSpec(torch.optim.AdamW, {"weight_decay": 0.01}, "AdamW, decoupled decay 0.01"),
    "rmsprop": OptimizerSpec(torch.optim.RMSprop, {}, "RMSprop, alpha 0.99"),
}


def list_optimizers() -> list[str]:
    return sorted(OPTIMIZERS)


def get_optimizer(name: str) -> OptimizerSpec:
    return lookup("optimizer", OPTIMIZERS, name)


def create_optimizer(
    name: str, params: Iterable[torch.nn.Parameter], *, lr: float, **overrides: Any
) -> torch.optim.Optimizer:
    spec = get_optimizer(name)
    return spec.cls(params, lr=lr, **{**spec.defaults, **overrides})
