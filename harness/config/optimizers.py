"""The optimizers a sweep names (`--optimizer`): name -> (torch.optim class, defaults), as data,
torch-free, so a sweep's settings are checked without the engine. Adding one is adding a row,
never a branch; harness.engine.optim builds them."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.errors import lookup


@dataclass(frozen=True)
class OptimizerSpec:
    algorithm: str  # a class of torch.optim, called with (params, lr=..., **defaults)
    # keyword arguments of the class (momentum 0.9, nesterov True, ...), passed unless the caller overrides
    defaults: dict[str, float | bool] = field(default_factory=dict)
    description: str = ""


OPTIMIZERS: dict[str, OptimizerSpec] = {
    "sgd": OptimizerSpec("SGD", {}, "plain SGD, no momentum (as uni2022-catsdogs)"),
    "momentum": OptimizerSpec("SGD", {"momentum": 0.9}, "SGD with momentum 0.9"),
    "nesterov": OptimizerSpec("SGD", {"momentum": 0.9, "nesterov": True}, "SGD with Nesterov momentum 0.9"),
    "adam": OptimizerSpec("Adam", {}, "Adam, betas (0.9, 0.999)"),
    "adamw": OptimizerSpec("AdamW", {"weight_decay": 0.01}, "AdamW, decoupled decay 0.01"),
    "rmsprop": OptimizerSpec("RMSprop", {}, "RMSprop, alpha 0.99"),
}


def list_optimizers() -> list[str]:
    return sorted(OPTIMIZERS)


def get_optimizer(name: str) -> OptimizerSpec:
    return lookup("optimizer", OPTIMIZERS, name)
