"""Builds the optimizer a trial trains with from its row in harness.config.optimizers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from harness.config.optimizers import get_optimizer


def create_optimizer(
    name: str, params: Iterable[torch.nn.Parameter], *, lr: float, **overrides: Any
) -> torch.optim.Optimizer:
    spec = get_optimizer(name)
    optimizer: torch.optim.Optimizer = getattr(torch.optim, spec.algorithm)(
        params, lr=lr, **{**spec.defaults, **overrides}
    )
    return optimizer
