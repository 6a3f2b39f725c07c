"""Ranking a board's rows and reading a trial's scores: the primitives the leaderboard, the
grouping over seeds and `harness analyze` share. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from harness.kinds import FAILED, Mode, rank_key
from harness.results.boards import Rankable, Usable
from harness.store.rows import EpochRow, TrialRow

# Trials that ended like this are never ranked above a trial that trained normally.
UNRANKABLE = FAILED


R = TypeVar("R", bound=Rankable)


def usable(row: Usable) -> bool:
    return row["status"] not in UNRANKABLE and row["best_metric"] is not None


def _number(row: Mapping[str, Any], name: str) -> float | None:
    """A row's number by name: a SORTS field or a score, names that are data, not literal keys."""
    return row.get(name)


def rank(rows: Sequence[R], *, mode: Mode, field: str = "best_metric") -> list[R]:
    """Best first by `field` (under `mode`); trials without a value next; unrankable
    or empty trials last. A board numbers them from 1."""

    def key(row: R) -> tuple:
        value = _number(row, field)
        return (not usable(row), value is None, rank_key(value, mode) if value is not None else 0.0, row["id"])

    return sorted(rows, key=key)


def epoch_score(epoch: EpochRow, key: str) -> float | None:
    """An epoch's score: a column of its own (val_acc) or one of the task's extras (val_psnr)."""
    return _number(epoch, key) if key in epoch else json.loads(epoch.get("extra_json") or "{}").get(key)


def test_score(metric: str) -> str:
    """The test-split score of a task's validation metric: "val_acc" -> "test_acc"."""
    return "test_" + metric.removeprefix("val_")


def score(row: TrialRow, epochs: list[EpochRow], key: str) -> float | None:
    """A trial's `key` at its best checkpoint: "test_*" from its test-split scoring, "val_*"
    from the epoch of the best checkpoint."""
    if key.startswith("test_"):
        return json.loads(row.get("test_json") or "{}").get(key.removeprefix("test_"))
    best = [e for e in epochs if e["epoch"] == row.get("best_epoch")]
    return epoch_score(best[0], key) if best else None
