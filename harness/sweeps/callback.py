"""The driver's side of Ray Tune's result stream: a Tune callback that mirrors every trial's
start, epochs, checkpoints and end into the store (one transaction per epoch) and into the
sweep's live display. harness.sweeps.driver registers each running sweep here."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict, TypeVar, cast

from ray import tune

from harness.config.trial_config import TrialConfig
from harness.engine.recorded import CONTINUES, stored_id
from harness.engine.reported import EpochReport
from harness.kinds import Status
from harness.store.db import Store, trial_key
from harness.sweeps.outcome import error_summary, plain
from harness.sweeps.reporter import Progress

# Stores and displays of the sweeps this driver is running, by sweep id: Tune pickles its
# callbacks with its saved state, and a database connection cannot travel through a pickle.
ACTIVE: dict[str, tuple[Store, Progress]] = {}
# The first store write that failed in each sweep (a full disk, a store made read-only): the
# callback stops Tune with it and the driver says it in one line (harness.sweeps.driver).
UNWRITTEN: dict[str, str] = {}

T = TypeVar("T")


class StoreUnwritten(Exception):
    """Raised through Tune to end the sweep: its store can no longer record what trials report."""


class _Pickled(TypedDict):
    """What a StoreCallback keeps through a pickle: its sweep, whose store and display it looks up."""

    sweep_id: str


class StoreCallback(tune.Callback):
    """Runs in the driver: mirrors Ray's result stream into the store and the live display."""

    def __init__(self, *, sweep_id: str) -> None:
        self.sweep_id = sweep_id
        self.store, self.display = ACTIVE[sweep_id]
        # (trial, status, error, traceback), stored at the step's end
        self._ended: list[tuple[str, Status, str | None, str | None]] = []

    def __getstate__(self) -> _Pickled:
        return {"sweep_id": self.sweep_id}

    def __setstate__(self, state: _Pickled) -> None:
        StoreCallback.__init__(self, sweep_id=state["sweep_id"])  # the resuming driver registered its store first

    def _write(self, write: Callable[[], T]) -> T:
        try:
            return write()
        except (sqlite3.Error, OSError) as exc:
            UNWRITTEN.setdefault(self.sweep_id, str(exc))
            raise StoreUnwritten(str(exc)) from None

    def _id(self, trial: Any) -> str:
        return trial_key(self.sweep_id, _ray_id(trial))  # the store's id: Ray's short ids repeat across sweeps

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        config = cast(TrialConfig, {k: v for k, v in trial.config.items() if k != CONTINUES})
        self._write(lambda: self.store.start_trial(trial_id=_ray_id(trial), sweep_id=self.sweep_id, config=config))
        self.display.trial_started(_ray_id(trial), config)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        # Ray's result: the trial's report (harness.engine.trial), with Ray's own keys (node_ip, ...) beside it
        report = cast(EpochReport, result)
        node = report.get("node") or result.get("node_ip")
        self._write(lambda: self.store.record_epoch(trial_id=self._id(trial), result=report, node=node))
        self.display.trial_result(_ray_id(trial), report)

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        replaced = self._write(lambda: self.store.set_checkpoint(self._id(trial), checkpoint.path))
        # The store keeps the best checkpoint (a trial saves one only on a new best), so the one
        # it replaces goes; Tune keeps every one (num_to_keep=None), since its own pruning forces
        # a save of its whole state at every checkpoint.
        if replaced:
            try:
                checkpoint.filesystem.delete_dir(replaced)
            except OSError:
                pass  # gone already: a leftover would cost only disk

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = (trial.last_result or {}).get("epoch", 0)
        status = Status.FINISHED if last >= trial.config["epochs"] else Status.STOPPED  # stopped early by ASHA
        self._ended.append((self._id(trial), status, None, None))
        self.display.trial_ended(_ray_id(trial), status)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        text = plain(error_report(trial))
        self._ended.append((self._id(trial), Status.ERROR, error_summary(text), text or None))
        self.display.trial_ended(_ray_id(trial), Status.ERROR)

    # Trials that ended in a step are stored at the step's end, in one pass; a driver killed
    # before leaves them "running", and a resume runs them from their last checkpoint.
    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._flush()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._flush()

    def _flush(self) -> None:
        while self._ended:
            trial_id, status, error, traceback = self._ended[0]
            self._write(lambda: self.store.end_trial(trial_id, status=status, error=error, traceback=traceback))  # noqa: B023
            self._ended.pop(0)


def _ray_id(trial: Any) -> str:
    """The Ray id the store knows the trial by: a resumed trial's is the one it continues."""
    return stored_id(trial.trial_id, trial.config)


def error_report(trial: Any) -> str:
    """The whole error report Tune kept for a failed trial, as text ("" when none). Tune writes
    it on the driver just before calling back; its copy in the experiment storage is synced only
    at Tune's next save, so reading that one (`trial.get_error()`) found nothing for one trial in
    four failing at once on the fake-GPU cluster, or missed the latest failure of a retried trial."""
    path = getattr(trial, "error_file", None)  # the driver's own copy, always current
    if path and Path(path).is_file():
        return Path(path).read_text(encoding="utf-8", errors="replace")
    report = trial.get_error()
    return str(report) if report else ""
