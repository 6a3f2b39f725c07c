"""Frozen sweep and trial specs, and their validation.

A `SweepSpec` is validated completely before anything is written or any Ray process starts, so
a user's mistake costs one line on the terminal and nothing in the store.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from harness.errors import HarnessError


@dataclass(frozen=True)
class TrialSpec:
    """One training run: what Ray Tune hands to a trial as its config."""

    task: str
    arch: str
    optimizer: str
    lr: float  # learning rate, > 0
    batch_size: int  # images per optimizer step
    epochs: int  # full passes over the training split
    seed: int  # seeds weights init and shuffling; the data split has its own fixed seed
    data_dir: str | None = None  # data root; None: HARNESS_DATA_DIR or the user cache
    variant: str | None = None  # the task's split recipe; None: its default
    image_size: int | None = None  # photo sets: the side images are resized to; None: the task's default
    augment: str | None = None  # batch augmentation preset; None: the task's own (its reports')

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TrialSpec":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in names})


@dataclass(frozen=True)
class SweepSpec:
    """A grid over architectures x optimizers x learning rates x batch sizes for one task."""

    task: str = "digits"
    archs: tuple[str, ...] = ("mlp", "cnn_small")
    optimizers: tuple[str, ...] = ("momentum", "adam")
    lrs: tuple[float, ...] = (0.003, 0.03)
    batch_sizes: tuple[int, ...] = (64,)
    epochs: int = 10
    seed: int = 0
    data_dir: str | None = None
    variant: str | None = None
    image_size: int | None = None
    augment: str | None = None
    cpus_per_trial: float | None = None  # None: 1 CPU each, trials share the machine's cores
    gpus_per_trial: float | None = None  # None: a quarter GPU each when CUDA exists, else 0

    def validate(self) -> "SweepSpec":
        """Raise HarnessError naming the first bad value; return self when all is well."""
        from harness.architectures import check_fits, get_arch
        from harness.datasets import get_task
        from harness.optim import get_optimizer

        from harness.augment import get_augment

        task = get_task(self.task)
        request = task.request(self.variant, self.image_size)
        for arch in _non_empty("--arch", self.archs):
            get_arch(arch)
            check_fits(arch, in_shape=task.shape(request.image_size), heads=task.heads)
        if self.augment is not None:
            get_augment(self.augment)
        for name in _non_empty("--optimizer", self.optimizers):
            get_optimizer(name)
        for lr in _non_empty("--lr", self.lrs):
            if not lr > 0:  # also catches NaN
                raise HarnessError(f"learning rate {lr} is not positive", "pass --lr > 0, e.g. --lr 0.01")
        for bs in _non_empty("--batch-size", self.batch_sizes):
            if bs < 1:
                raise HarnessError(f"batch size {bs} is below 1", "pass --batch-size >= 1, e.g. 64")
        if self.epochs < 1:
            raise HarnessError(f"epochs {self.epochs} is below 1", "pass --epochs >= 1")
        if self.seed < 0:
            raise HarnessError(f"seed {self.seed} is negative", "pass --seed >= 0")
        for flag, value in (("--cpus-per-trial", self.cpus_per_trial), ("--gpus-per-trial", self.gpus_per_trial)):
            if value is not None and value < 0:
                raise HarnessError(f"{flag} {value} is negative", f"pass {flag} >= 0")
        return self

    @property
    def num_trials(self) -> int:
        return len(self.archs) * len(self.optimizers) * len(self.lrs) * len(self.batch_sizes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _non_empty(flag: str, values: tuple) -> tuple:
    if not values:
        raise HarnessError(f"{flag} was given no values", f"pass at least one value to {flag}")
    return values
