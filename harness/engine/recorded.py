"""What a trial of a resumed sweep gets from the store: the checkpoint it continues from.

A resume reads no state Ray Tune saved (its experiment state and searcher are pickles, and
unpickling a file someone planted in a results folder runs their code): the driver re-plans the
sweep from the store (harness.sweeps.resume) and starts a fresh Tuner. A stored trial that had
not ended runs again under Tune's new trial id, with its store id in the config (`CONTINUES`), and
continues from the best checkpoint the store names, which the driver checked before Ray started.
Epochs the store holds already are never written again (`Store.record_epoch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The config key of a resumed trial: the Ray id the store knows it by (absent for a new trial)
CONTINUES = "continues"


def stored_id(trial_id: str, config: Mapping[str, Any]) -> str:
    """The id the store keeps a trial under: the one it continues, else Tune's own."""
    return str(config.get(CONTINUES) or trial_id)


@dataclass(frozen=True)
class Recorded:
    """The checkpoints a resumed sweep's continuing trials start from, by their stored Ray id."""

    # trial -> its best checkpoint, checked on the driver (a path in the sweep's storage)
    checkpoints: Mapping[str, str] = field(default_factory=dict)
    # the sweep's storage: a local folder or a URI (s3://...) whose filesystem holds the checkpoints
    storage: str | None = None

    def checkpoint(self, trial_id: str) -> Any:
        """The trial's checkpoint (a `ray.tune.Checkpoint`), or None: it starts from its first epoch."""
        path = self.checkpoints.get(trial_id)
        if path is None:
            return None
        from ray import tune

        if self.storage and "://" in self.storage:  # the path is relative to the URI's filesystem
            import pyarrow.fs

            filesystem, _ = pyarrow.fs.FileSystem.from_uri(self.storage)
            return tune.Checkpoint(path, filesystem=filesystem)
        return tune.Checkpoint(path)
