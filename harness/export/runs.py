"""A stored trial as an experiment tracker's run (`harness export-runs`): its config, its epochs'
metrics (step = epoch), the tags that say where it ran and how it ended, and the exported files
that go with it. Read from the store alone; torch-free. `harness.export.mlflow_runs` and
`harness.export.tensorboard_runs` write these runs, each in its tracker's form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.kinds import ENDED
from harness.store.db import EPOCH_COLUMNS, Store
from harness.store.rows import EpochRow, TrialRow

TRIAL_TAG = "harness.trial_id"  # the key a run is found by: a second export adds no second run

# Says how far the export is: (trials done, trials in all, the trial at hand).
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class TrialRun:
    """One trial as a run. `config`'s values are as the store holds them (a tracker formats them);
    each epoch is {"epoch": N, metric: value, ...}: the store's epoch columns that are not NULL and
    the task's own numeric scores (extra_json, e.g. val_psnr)."""

    trial_id: str
    task: str
    status: str  # a harness.kinds.Status
    config: dict[str, Any]
    epochs: list[dict[str, float]]
    recorded_ms: list[int]  # each epoch's recorded_at, milliseconds since 1970 (UTC)
    tags: dict[str, str]  # harness.trial_id, harness.sweep, harness.status, harness.device, harness.precision
    artifacts: list[Path]  # the trial's exported files that are still there, each with its card (X.md)
    started_ms: int | None
    ended_ms: int | None

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's metrics (what a tracker compares trials by), without the epoch number."""
        return {k: v for k, v in (self.epochs[-1] if self.epochs else {}).items() if k != "epoch"}


@dataclass(frozen=True)
class Selected:
    """The trials to export: those that ended, and how many others were left for later."""

    runs: list[TrialRun]
    not_ended: int  # running or interrupted: a resume may add epochs, so they are not written yet
    missing_files: int  # exported files the store names that are no longer on disk


@dataclass(frozen=True)
class Written:
    """What an export did: runs created, complete runs already there (skipped), and half-written
    runs of an interrupted export written again (MLflow's; a TensorBoard run is renamed into
    place only when complete)."""

    written: int
    skipped: int
    replaced: int = 0


def millis(timestamp: str | None) -> int | None:
    """An ISO 8601 time of the store (UTC) in milliseconds since 1970."""
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000) if timestamp else None


def epoch_metrics(row: EpochRow) -> dict[str, float]:
    """One stored epoch as the run's metrics: epoch, every epoch column that is not NULL, then
    the task's numeric scores (a bool or a string in extra_json is no metric)."""
    extra = json.loads(row["extra_json"]) if row["extra_json"] else {}
    columns = {c: float(row[c]) for c in EPOCH_COLUMNS if row[c] is not None}  # type: ignore[literal-required]
    scores = {
        str(k): float(v)
        for k, v in extra.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and str(k) not in columns
    }
    return {"epoch": row["epoch"], **columns, **scores}


def _artifacts(store: Store, trial_id: str) -> tuple[list[Path], int]:
    """The trial's exported files (float32 and INT8, each once) and their cards, where they still
    are; and how many the store names that are gone."""
    found: list[Path] = []
    missing = 0
    for path in dict.fromkeys(Path(e["path"]) for e in store.exports(trial_id)):
        if not path.is_file():
            missing += 1
            continue
        found.append(path)
        card = path.with_suffix(".md")  # harness.export.card.card_path, without its imports
        if card.is_file():
            found.append(card)
    return found, missing


def trial_run(store: Store, trial: TrialRow) -> tuple[TrialRun, int]:
    """The trial as a run, and how many of its exported files are missing."""
    rows = store.epochs(trial["id"])
    artifacts, missing = _artifacts(store, trial["id"])
    tags = {
        TRIAL_TAG: trial["id"],
        "harness.sweep": trial["sweep_id"],
        "harness.status": trial["status"],
        "harness.device": trial["device"] or "unknown",
        "harness.precision": trial["precision"] or "unknown",
    }
    run = TrialRun(
        trial_id=trial["id"],
        task=trial["task"],
        status=trial["status"],
        config=json.loads(trial["config_json"]) if trial["config_json"] else {},
        epochs=[epoch_metrics(r) for r in rows],
        recorded_ms=[millis(r["recorded_at"]) or 0 for r in rows],
        tags=tags,
        artifacts=artifacts,
        started_ms=millis(trial["started_at"]),
        ended_ms=millis(trial["ended_at"]),
    )
    return run, missing


def select_runs(store: Store, *, sweep_id: str | None = None) -> Selected:
    """The trials of the sweep (every sweep's, without one) that ended, as runs; a sweep id the
    store does not know is the one-line error `Store.sweep` gives."""
    if sweep_id:
        store.sweep(sweep_id)
    trials = store.trials(sweep_id=sweep_id)
    ended = [t for t in trials if t["status"] in ENDED]
    runs, missing = [], 0
    for trial in ended:
        run, gone = trial_run(store, trial)
        runs.append(run)
        missing += gone
    return Selected(runs=runs, not_ended=len(trials) - len(ended), missing_files=missing)
