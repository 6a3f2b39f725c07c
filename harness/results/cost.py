"""What a trial's compute cost: its CPU- and GPU-seconds in all, and until it first reached the
task's published figure (the board's target), so accuracy and cost are read together.

Pure: stored epochs in, numbers out. Each epoch records `cpu_s` (the trial process's CPU time
over training and validation, every thread) and, where Ray gave the trial a GPU, `gpu_s` (the
same span's wall seconds times its GPU share); see harness/engine/train.py and harness/engine/device.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.results.boards import CostFields, Target
from harness.results.ranking import epoch_score
from harness.store.rows import EpochRow

__all__ = ["costs", "total", "until_target"]


def _value(row: Mapping[str, Any], key: str) -> float | None:
    """A row's number by name: names that are data (a score, a cost column), not literal keys."""
    return row.get(key)


def until_target(epochs: Sequence[EpochRow], goal: Target | None) -> Sequence[EpochRow] | None:
    """The epochs up to and including the first whose validation figure reaches the published
    one (validation: the test split is scored once, at the best checkpoint); None when none
    does or the task has no published figure."""
    if goal is None:
        return None
    key = "val_" + goal["score"].split("_", 1)[1]
    for i, epoch in enumerate(epochs):
        value = epoch_score(epoch, key)
        if value is not None and value >= goal["published"]:
            return epochs[: i + 1]
    return None


def total(epochs: Sequence[EpochRow] | None, key: str) -> float | None:
    """The sum of the epochs' `key` (cpu_s, gpu_s); None unless every epoch has it: a trial
    resumed across an upgrade has epochs without, and a part of its cost would understate it."""
    values = [_value(e, key) for e in epochs or ()]
    known = [v for v in values if v is not None]
    return float(sum(known)) if known and len(known) == len(values) else None


def costs(epochs: Sequence[EpochRow], goal: Target | None) -> CostFields:
    """A trial's cost columns from its epochs (in order) and its task's target; None where an
    epoch recorded nothing (a store older than schema 8; GPU-seconds of a CPU trial) or where
    the target was never reached."""
    reached = until_target(epochs, goal)
    return {
        "cpu_s": total(epochs, "cpu_s"),
        "gpu_s": total(epochs, "gpu_s"),
        "cpu_s_to_target": total(reached, "cpu_s"),
        "gpu_s_to_target": total(reached, "gpu_s"),
    }
