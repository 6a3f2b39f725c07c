"""Ours as a report measured it: the figure after the recipe's last epoch (every report printed
its final epoch), the best-validation checkpoint's figure beside it, and the verdict against the
published figure on the largest split that measures the same thing.

A report that printed a validation figure is compared on validation and, for the same weights,
on the test split; the verdict rests on whichever split has more images. A probe that measured
the same weights the way the report did (`harness probe ... --weights last`) adds its own verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness import stats
from harness.config.presets import Recipe
from harness.datasets import get_task
from harness.report.document import Beside, Figures, Verdict
from harness.results.ranking import epoch_score
from harness.store.rows import EpochRow, ProbeRow, TrialSummary


@dataclass(frozen=True)
class Measure:
    """One figure of one set of weights on one split."""

    value: float | None
    n: int | None  # the images it is over; None: not recorded
    ci95: list[float] | None  # [low, high]
    method: str | None  # "wilson" (a count) | "bootstrap" (per-image scores) | None

    @classmethod
    def of_share(cls, value: float | None, n: int | None) -> Measure:
        """An accuracy over n images: Wilson's interval of its count."""
        if value is None or not n:
            return cls(value, n, None, None)
        interval = stats.wilson(round(value * n), n)
        return cls(value, n, [interval.low, interval.high], "wilson")


def test_measure(trial: TrialSummary, name: str, *, weights: str, classification: bool) -> Measure:
    """Score `name` ("acc", "keras_acc") on the test split of the trial's `weights`: "best" (the
    checkpoint validation chose) or "last" (what training ended with; the same weights where the
    last epoch was the best; absent in stores from before the harness kept them)."""
    scores: dict[str, Any] = json.loads(trial.get("test_json") or "{}")
    if weights == "last":
        last = scores.get("last")
        if last is None and scores and scores.get("epoch") == trial["epochs_run"]:
            last = scores  # the best epoch was the last
        scores = last or {}
    value, n = scores.get(name), scores.get("n")
    if classification:
        return Measure.of_share(value, n)
    bounds = (scores.get("ci95") or {}).get(name)
    return Measure(value, n, list(bounds) if bounds else None, "bootstrap" if bounds else None)


def val_measure(epochs: list[EpochRow], key: str, epoch: int | None, *, classification: bool) -> Measure:
    """Validation score `key` ("val_acc", "val_keras_acc") after `epoch`."""
    found = [e for e in epochs if e["epoch"] == epoch]
    if not found:
        return Measure(None, None, None, None)
    value = epoch_score(found[0], key)
    n = json.loads(found[0].get("extra_json") or "{}").get("val_n")
    return Measure.of_share(value, n) if classification else Measure(value, n, None, None)


def judge(measure: Measure, published: float | None, *, basis: str) -> Verdict | None:
    """The measure against the published figure: the exact binomial test of its count (an
    accuracy with n), or whether the figure lies outside its bootstrap interval; None where
    neither can be done."""
    if published is None or measure.value is None:
        return None
    if measure.method == "wilson" and measure.n:
        p = stats.binomial_p(round(measure.value * measure.n), measure.n, published)
        word = stats.verdict(p, measure.value, published)
        return Verdict(basis=basis, value=measure.value, n=measure.n, p_value=p, verdict=word)
    if measure.method == "bootstrap" and measure.ci95:
        low, high = measure.ci95
        word = "above" if published < low else "below" if published > high else "indistinguishable"
        return Verdict(basis=basis, value=measure.value, n=measure.n, p_value=None, verdict=word)
    return None


def figures(trial: TrialSummary, epochs: list[EpochRow], recipe: Recipe, probes: list[ProbeRow]) -> Figures:
    """Ours after the recipe's last epoch, the best checkpoint's beside it, and the verdicts."""
    classification = get_task(recipe.spec.task).kind == "classification"
    key, published = recipe.score, recipe.published
    last_epoch = max((e["epoch"] for e in epochs), default=None)
    name = key.removeprefix("test_").removeprefix("val_")
    val_n = val_measure(epochs, "val_acc", last_epoch, classification=True).n
    beside: Beside = {}
    if key.startswith("test_"):
        ours = test_measure(trial, name, weights="last", classification=classification)
        best = test_measure(trial, name, weights="best", classification=classification)
        candidates = [("test", ours)]
    else:  # the report printed a validation figure: the same weights' test figure beside it
        ours = val_measure(epochs, key, last_epoch, classification=classification)
        best = val_measure(epochs, key, trial["best_epoch"], classification=classification)
        test = test_measure(trial, name, weights="last", classification=classification)
        beside = {"test": test.value, "test_ci95": test.ci95, "test_n": test.n}
        candidates = [("validation", ours), ("test", test)]
    verdicts = []
    # the largest split that can be tested; on a tie, the report's own
    for split, measure in sorted(candidates, key=lambda c: -(c[1].n or 0) if c[1].method else 1):
        found = judge(measure, published, basis=f"{split} split, last epoch")
        if found:
            verdicts.append(found)
            break
    verdicts += _probe_verdicts(probes, published, last_epoch)
    main = verdicts[0] if verdicts else None
    return {
        "ours": ours.value,
        "split": candidates[0][0],
        "measured_epoch": last_epoch,
        "ci95": ours.ci95,
        "ci95_method": ours.method,
        "val_n": val_n,
        "best": best.value,
        "best_ci95": best.ci95,
        **beside,
        "n": main["n"] if main else ours.n,
        "p_value": main["p_value"] if main else None,
        "verdict": main["verdict"] if main else None,
        "verdicts": verdicts,
    }


def as_reported(trial: TrialSummary, epochs: list[EpochRow], recipe: Recipe) -> float | None:
    """Ours for `recipe`, after its last epoch; None where the store cannot say (a trial past its
    best epoch from before the harness scored its last weights)."""
    return figures(trial, epochs, recipe, [])["ours"]


def _probe_verdicts(probes: list[ProbeRow], published: float | None, last_epoch: int | None) -> list[Verdict]:
    """A probe that measured the last epoch's weights as the report did, tested like ours (a
    count over its images). Probes of other weights are listed in the row, not judged here."""
    from harness.results.probes import PROBES

    out = []
    for row in probes:
        if row["detail"].get("weights") != f"last epoch {last_epoch}" or row["n"] is None:
            continue
        interval = row["ci95_low"] is not None and "Wilson" in str(row["detail"].get("interval"))
        measure = Measure(row["value"], row["n"], None, "wilson" if interval else None)
        probe = PROBES.get(row["probe"])
        found = judge(measure, published, basis=f"as the report measured: {probe.figure if probe else row['probe']}")
        if found:
            out.append(found)
    return out
