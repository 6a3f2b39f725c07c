"""The task registry: each task is a frozen `DatasetSpec`, filled by a decorator.

Splits are uint8 numpy arrays (N, C, H, W) decoded once; trials index them with shuffled
permutations and normalise whole batches on the training device. This package never imports
torch, so that `harness data` and the loaders stay cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from harness.errors import lookup


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8, (N, C, H, W), pixel values 0..255
    labels: np.ndarray  # int64, (N,)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class TaskData:
    train: Split
    val: Split
    test: Split
    source: str  # where the data was found, for `harness data` and the sweep record

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str  # classification | image_to_image
    input_shape: tuple[int, int, int]  # (C, H, W) the model sees
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, on pixels scaled to [0, 1]
    std: tuple[float, ...]
    loader: Callable[[Path], TaskData] = field(repr=False)
    head: str = "logits"  # the architecture head the task needs
    metric: str = "val_acc"  # what sweeps rank trials by
    mode: str = "max"  # whether a larger metric is better
    description: str = ""

    @property
    def num_outputs(self) -> int:
        return 1 if self.head == "single_logit" else len(self.classes)

    def load(self, data_dir: str | os.PathLike | None = None) -> TaskData:
        return self.loader(resolve_data_root(data_dir))


_TASKS: dict[str, DatasetSpec] = {}


def register_task(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _TASKS:
        raise ValueError(f"task {spec.name!r} registered twice")
    _TASKS[spec.name] = spec
    return spec


def list_tasks() -> list[str]:
    return sorted(_TASKS)


def get_task(name: str) -> DatasetSpec:
    return lookup("task", _TASKS, name)


def resolve_data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """`--data-dir`, else `HARNESS_DATA_DIR`, else a per-user cache folder."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("HARNESS_DATA_DIR"):
        return Path(os.environ["HARNESS_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "harness" / "data"


def describe_task(name: str, data_dir: str | os.PathLike | None = None) -> dict:
    """Where a task's data was found and how many images each split holds, per class.

    Missing data is a row with its error, not an exception, so `harness data` lists every task.
    """
    from harness.errors import HarnessError

    spec = get_task(name)
    row: dict = {
        "task": name, "kind": spec.kind, "input": list(spec.input_shape), "classes": len(spec.classes),
        "metric": spec.metric, "description": spec.description,
    }  # fmt: skip
    try:
        data = spec.load(data_dir)
    except HarnessError as exc:
        return {**row, "status": "missing", "source": str(exc)}
    splits = data.splits()
    per_class = {
        split: {spec.classes[c]: int(n) for c, n in enumerate(np.bincount(s.labels, minlength=len(spec.classes)))}
        for split, s in splits.items()
    }  # fmt: skip
    return {
        **row, "status": "ready", "source": data.source,
        "counts": {split: len(s) for split, s in splits.items()}, "per_class": per_class,
    }  # fmt: skip
