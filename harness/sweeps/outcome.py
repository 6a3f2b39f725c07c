"""How a sweep ended, read from the store: its status, its trials by status, and the one line
a user needs when something went wrong (the whole error reports stay in the store)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TypedDict

from harness.formats import plural
from harness.kinds import FAILED, USABLE, Status, SweepStatus, best_of
from harness.store.db import Store
from harness.store.rows import SweepTrialRow

STOPPED_EMPTY = "stopped before an epoch"
# The last "package.module.TypeName: message" line of a Python traceback.
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:\([\w.]+\))?): (.+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # Ray colours its worker names in error reports


def plain(text: str) -> str:
    """An error report without terminal colour codes, fit for the store."""
    return _ANSI.sub("", text)


def error_summary(text: str, *, limit: int = 300) -> str:
    """One line from a whole error report: the exception's type (without its module path) and
    message, e.g. "MissingData: cifar10 (report) not found under data (...)"."""
    lines = [line.strip() for line in plain(text).strip().splitlines() if line.strip()]
    for line in reversed(lines):
        match = _EXCEPTION_LINE.match(line)
        if match:
            kind = match.group(1).split("(")[0].rsplit(".", 1)[-1]
            return f"{kind}: {match.group(2)}"[:limit]
    return (lines[-1] if lines else "unknown error")[:limit]


@dataclass(frozen=True)
class Outcome:
    sweep_id: str
    status: SweepStatus  # finished | failed (no usable trial) | interrupted
    tasks: tuple[str, ...]
    trials: dict[str, int]  # started trials by status
    usable: int  # trials that can be ranked
    first_error: tuple[str, str] | None  # (trial id, one line) of the first trial that failed

    @staticmethod
    def _usable(trials: list[SweepTrialRow]) -> int:
        return sum(t["status"] in USABLE and t["epochs_run"] > 0 for t in trials)

    @classmethod
    def count_usable(cls, store: Store, sweep_id: str) -> int:
        return cls._usable(store.sweep_trials(sweep_id))

    @classmethod
    def read(cls, store: Store, sweep_id: str, *, tasks: tuple[str, ...]) -> Outcome:
        trials = store.sweep_trials(sweep_id)
        counts: dict[str, int] = {}
        for t in trials:
            # stopped (by a time budget) before its first epoch: nothing to rank, said as such
            status = STOPPED_EMPTY if t["status"] in USABLE and t["epochs_run"] == 0 else t["status"]
            counts[status] = counts.get(status, 0) + 1
        errors = [(t["id"], t["error"] or "no error report kept") for t in trials if t["status"] == Status.ERROR]
        return cls(
            sweep_id=sweep_id,
            status=SweepStatus(store.sweep(sweep_id)["status"]),
            tasks=tasks,
            trials=counts,
            usable=cls._usable(trials),
            first_error=errors[0] if errors else None,
        )

    @property
    def total(self) -> int:
        return sum(self.trials.values())

    def summary(self) -> str | None:
        """One line when some trial did not train normally, e.g. "0 of 8 trials finished: 8 error
        (first: MissingData: ...; `harness show ID` has its traceback)"; None when all did."""
        bad = {s: n for s, n in self.trials.items() if s not in USABLE}
        if not bad and self.usable == self.total:
            return None
        line = f"{self.usable} of {plural(self.total, 'trial')} finished: " + ", ".join(
            f"{n} {s}" for s, n in bad.items()
        )
        if self.first_error:
            trial, error = self.first_error
            line += f" (first: {error}; `harness show {trial}` has its traceback)"
        elif Status.DIVERGED in bad:
            line += " (the loss became NaN or infinite: try a smaller --lr)"
        elif STOPPED_EMPTY in bad:
            line += " (the time budget ran out first: raise --time-budget)"
        return line


class SweepLine(TypedDict):
    """`harness sweeps`: one stored sweep (also its --format json)."""

    id: str
    task: str
    status: str
    trials: dict[str, int]  # its trials by status
    started: str  # ISO 8601, UTC
    duration_s: float  # so far, while it runs
    metric: str  # the (first) task's metric
    best_metric: float | None  # one-task sweeps only
    reproduces: str | None  # the report it reproduces


def sweep_rows(store: Store, *, task: str | None = None) -> list[SweepLine]:
    """`harness sweeps`: every stored sweep, newest first, with its trials by status, start,
    duration (so far, while running) and best validation metric (one-task sweeps)."""
    from datetime import datetime, timezone

    from harness.datasets import stored_task

    rows: list[SweepLine] = []
    for sweep in store.sweeps():
        tasks = sweep["task"].split(",")
        if task and task not in tasks:
            continue
        start = datetime.fromisoformat(sweep["created_at"])
        end = datetime.fromisoformat(sweep["finished_at"]) if sweep["finished_at"] else datetime.now(timezone.utc)
        best = None
        if len(tasks) == 1:
            spec = stored_task(tasks[0])
            values = [
                t["best_metric"]
                for t in store.trial_summaries(sweep_id=sweep["id"], metric=spec.metric, mode=spec.mode)
                if t["best_metric"] is not None and t["status"] not in FAILED
            ]
            best = best_of(values, spec.mode) if values else None
        rows.append(
            {
                "id": sweep["id"],
                "task": sweep["task"],
                "status": sweep["status"],
                "trials": sweep["trials"],
                "started": sweep["created_at"],
                "duration_s": (end - start).total_seconds(),
                "metric": stored_task(tasks[0]).metric,
                "best_metric": best,
                "reproduces": json.loads(sweep["spec_json"]).get("reproduce"),
            }
        )
    return rows
