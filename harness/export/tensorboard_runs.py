"""`harness export-runs --to tensorboard DIR`: each trial as a TensorBoard run, written with
tensorboardX: `DIR/<the trial id as a safe file name>/`, with one scalar per epoch column and
task score (step = epoch, the epoch's wall time) and the HParams plugin's summaries (the trial's
config, and the metrics its last epoch reached), so `tensorboard --logdir DIR` compares trials.

A run is written into a temporary folder beside its final name and renamed when complete: a
run folder that is there is a finished one, and a second export skips it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.export.runs import Progress, TrialRun, Written
from harness.paths import safe_name, writable_dir
from harness.safefile import TEMP_PREFIX, refuse_link


def hparam(value: Any) -> str | bool | float | None:
    """A config value as the HParams plugin takes it: a string, a bool or a number; a list or
    table as JSON; None stays out (the dashboard shows a blank)."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return json.dumps(value, sort_keys=True)


def run_folder(logdir: Path, trial_id: str) -> Path:
    return logdir / safe_name(trial_id)


def export_tensorboard(runs: list[TrialRun], logdir: Path, *, progress: Progress) -> Written:
    """Every run not yet in `logdir` (created), each complete or not at all."""
    try:
        from tensorboardX import SummaryWriter
        from tensorboardX.summary import hparams
    except ImportError:
        raise HarnessError("tensorboardX is not installed", "pip install tensorboardX (ray[tune] brings it)") from None
    logdir = writable_dir(logdir, what="TensorBoard folder", hint="pass a folder you can write")
    written = skipped = 0
    for done, run in enumerate(runs):
        progress(done, len(runs), run.trial_id)
        final = refuse_link(run_folder(logdir, run.trial_id), what="TensorBoard run folder")
        if final.exists():
            skipped += 1
            continue
        temp = logdir / f"{TEMP_PREFIX}{secrets.token_hex(6)}-{final.name}"
        try:
            with SummaryWriter(logdir=str(temp), flush_secs=3600) as writer:
                for epoch, at in zip(run.epochs, run.recorded_ms, strict=True):
                    for name, value in epoch.items():
                        if name != "epoch":
                            writer.add_scalar(name, value, global_step=int(epoch["epoch"]), walltime=at / 1000)
                values = {k: hparam(v) for k, v in run.config.items()}
                # the dashboard's metric columns read each tag's last scalar: the last epoch's figures
                for summary in hparams({k: v for k, v in values.items() if v is not None}, run.final):
                    writer.file_writer.add_summary(summary)
            os.rename(temp, final)
        except BaseException:  # an error or Ctrl-C: no half-written run folder stays behind
            shutil.rmtree(temp, ignore_errors=True)
            raise
        written += 1
    progress(len(runs), len(runs), "")
    return Written(written=written, skipped=skipped)
