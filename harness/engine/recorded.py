"""What the store holds of a sweep's trials when a driver resumes it: exactly-once is the store's job.

Ray Tune saves its experiment state on its own cadence (every ~10 s or more, and at the end),
so after a killed driver it may be older than the store, which records every epoch as it
arrives. A resumed sweep hands this record to every trial it runs: a trial the store holds as
ended returns at once (Tune's older state may still call it running), and any other trial
continues from the best checkpoint the store names (Tune's state may name one that was
replaced and deleted since). Epochs the store holds already are never written again
(`Store.record_epoch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recorded:
    """A sweep's trials by Ray's trial id, as the store held them when the driver resumed it."""

    # trial -> its stored status (finished, stopped, diverged, error): it ended and is not run again
    ended: Mapping[str, str] = field(default_factory=dict)
    # trial -> its last stored epoch (epoch, metrics, the task's own scores), for the ended ones
    last_epochs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # trial -> its best checkpoint as Tune reported it (a path in the sweep's storage), for the
    # trials that have not ended
    checkpoints: Mapping[str, str] = field(default_factory=dict)
    # the sweep's storage: a local folder or a URI (s3://...) whose filesystem holds the checkpoints
    storage: str | None = None

    def has_ended(self, trial_id: str) -> bool:
        return trial_id in self.ended

    def report_ended(self, trial_id: str) -> None:
        """In the trial's process, for a trial that ended: report its last stored epoch once more
        and train nothing. Tune wants every trial to report its metric (a silent one errors), and
        a searcher whose saved state predates the trial's end learns how it did."""
        from ray import tune

        last = self.last_epochs.get(trial_id)
        if last is None:  # it ended (an error) before its first epoch
            raise RuntimeError(f"trial {trial_id} ended as {self.ended[trial_id]} before its first epoch")
        tune.report(dict(last))

    def checkpoint(self, trial_id: str) -> Any:
        """The trial's best checkpoint (a `ray.tune.Checkpoint`), or None when the store holds none."""
        path = self.checkpoints.get(trial_id)
        if path is None:
            return None
        from ray import tune

        if self.storage and "://" in self.storage:  # the path is relative to the URI's filesystem
            import pyarrow.fs

            filesystem, _ = pyarrow.fs.FileSystem.from_uri(self.storage)
            return tune.Checkpoint(path, filesystem=filesystem)
        return tune.Checkpoint(path)
