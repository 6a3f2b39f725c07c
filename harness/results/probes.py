"""Probes (issue 18): a stored trial measured a second way, as a report measured it.

A gap between a report's published figure and ours is explained by a measurement, not by a
sentence: a probe takes one stored trial's best checkpoint (or its data), scores it the way the
report did (harness.results.probe_measures), and the store keeps that figure beside the trial's own (the
`probes` table, schema 9), with its interval and how it was measured. Probes score in float32 on
the CPU, so a figure is the same on any machine. Adding a probe is adding a row to PROBES.

Nothing here imports torch at module level: the CLI lists the probes (`harness probe --help`)
without it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.errors import HarnessError, lookup
from harness.kinds import WEIGHTS
from harness.results import probe_measures as m
from harness.results.probe_measures import Finding, Subject
from harness.store.rows import ProbeRow

if TYPE_CHECKING:
    from torch import nn

    from harness.store.db import Store
    from harness.store.rows import TrialRow


class ProbeRecord(ProbeRow):
    """What `harness probe` prints (and its --format json): the stored figure with its trial's id."""

    trial_id: str


@dataclass(frozen=True)
class Probe:
    report: str  # the report whose measurement it replays
    summary: str  # one line for `harness probe --help`
    figure: str  # what the value is, printed beside it
    unit: str  # what n counts
    baseline: str  # what the baseline is
    applies_to: str  # the trials it measures: the hint of a refusal
    refuse: Callable[[Subject], str | None]  # why it does not apply to a trial; None: it does
    measure: Callable[[Subject, nn.Module | None], Finding]  # the model: its best checkpoint (None unless `checkpoint`)
    checkpoint: bool = True  # False: it reads the trial's data and epochs only


PROBES: dict[str, Probe] = {
    "bn-train-mode": Probe(
        report="uchile2020-cifar10",
        summary="test accuracy with BatchNorm on batch statistics (the report validated without net.eval())",
        figure="test accuracy, BatchNorm in train mode (batches of the trial's size, seeded order)",
        unit="test images",
        baseline="the trial's test accuracy in eval mode",
        applies_to="classifiers with BatchNorm layers",
        refuse=m.bn_refusal,
        measure=m.bn_train_mode,
    ),
    "augmented-test": Probe(
        report="uni2022-catsdogs",
        summary="test accuracy with the trial's training augmentation applied, 5 seeded passes",
        figure="test accuracy under the training augmentation, mean of 5 seeded passes",
        unit="test images (5 passes over each)",
        baseline="the trial's clean test accuracy",
        applies_to="classifiers trained with augmentation",
        refuse=m.augment_refusal,
        measure=m.augmented_test,
    ),
    "keras-cap": Probe(
        report="itam2020-catsdogs-mnist",
        summary="the ceiling of Keras's binary accuracy: the share of validation target pixels exactly 0 or 1",
        figure="ceiling of the Keras binary accuracy on the validation split (target pixels exactly 0 or 1)",
        unit="validation pixels",
        baseline="the trial's val_keras_acc at its best epoch",
        applies_to="image-output trials that record the Keras-style metric (val_keras_acc)",
        refuse=m.keras_refusal,
        measure=m.keras_cap,
        checkpoint=False,
    ),
}


def get_probe(name: str) -> Probe:
    return lookup("probe", PROBES, name)


def probes_help() -> str:
    """The probes, one line each, for `harness probe --help`."""
    width = max(map(len, PROBES))
    return "probes:\n" + "\n".join(f"  {name:<{width}}  {p.report}: {p.summary}" for name, p in PROBES.items())


def load_subject(store: Store, row: TrialRow, *, weights: str = "best") -> Subject:
    """The trial of `row` as a probe sees it; its config must be stored (schema 3 on). `weights`:
    the checkpoint's best weights, or the "last" ones training ended with."""
    from harness.config.spec import TrialSpec
    from harness.datasets import get_task

    if not row["config_json"]:
        raise HarnessError(
            f"trial {row['id']!r} has no stored config (a store from before schema 3)", "probe a trial of a later sweep"
        )
    spec = TrialSpec.from_config(json.loads(row["config_json"]))
    lookup("weights", dict.fromkeys(WEIGHTS), weights)
    return Subject(row=row, spec=spec, task=get_task(spec.task), epochs=store.epochs(row["id"]), weights=weights)


def _checkpoint(subject: Subject) -> tuple[nn.Module, str]:
    """The weights probed, in eval mode on the CPU with the framework's constants, and which they are."""
    from harness.engine.checkpoint import load_checkpoint

    path = subject.row["checkpoint_path"]
    if not path:
        raise HarnessError(
            f"trial {subject.row['id']!r} has no checkpoint (it diverged or never finished an epoch)",
            "pick another trial from `harness leaderboard`",
        )
    model, _, ckpt = load_checkpoint(path, weights=subject.weights)
    last = max((e["epoch"] for e in subject.epochs), default=0)
    if subject.weights == "last" and ckpt["epoch"] != last:
        raise HarnessError(
            f"trial {subject.row['id']!r} kept no weights of its last epoch {last} (its best was {ckpt['epoch']};"
            " it trained before the harness kept them, or has not finished)",
            "probe its best weights (leave out --weights), or re-run the trial",
        )
    return model, f"{subject.weights} epoch {ckpt['epoch']}"


def run_probe(store: Store, *, trial_id: str, name: str, weights: str = "best") -> ProbeRecord:
    """Measure trial `trial_id` with probe `name` and record the figure (replacing an earlier
    one); returns the stored row with the trial's id. `weights`: the best checkpoint's, or the
    "last" ones training ended with (the best ones where the last epoch was the best). Every
    refusal comes before the store is written."""
    probe = get_probe(name)
    row = store.trial(trial_id)
    subject = load_subject(store, row, weights=weights)
    why = probe.refuse(subject)
    if why:
        raise HarnessError(
            f"probe {name} does not apply to trial {row['id']}: {why}",
            f"{name} measures {probe.applies_to}; `harness probe --help` lists the probes",
        )
    model, which = _checkpoint(subject) if probe.checkpoint else (None, None)
    found = probe.measure(subject, model)
    if which:
        found.detail["weights"] = which
    store.record_probe(
        trial_id=row["id"],
        probe=name,
        value=found.value,
        n=found.n,
        ci95_low=found.interval.low if found.interval else None,
        ci95_high=found.interval.high if found.interval else None,
        baseline=found.baseline,
        detail=found.detail,
    )
    recorded: ProbeRow = next(p for p in store.probes(row["id"]) if p["probe"] == name)
    return {"trial_id": row["id"], **recorded}
