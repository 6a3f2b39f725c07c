"""What mattered in a sweep: each varying setting's fANOVA importance (Optuna's, on an in-memory
study rebuilt from the stored trials) for the validation and test metrics, and the share of each
metric's variance that lies between seeds. The trial shape `harness analyze` reads
(harness.results.analyze) is declared here, since both read it."""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Sequence
from typing import Any, TypedDict

from harness.kinds import Mode
from harness.results.ranking import test_score

MIN_TRIALS = 4  # fewer usable trials give a forest of a handful of points: no importance is printed
FOREST_SEED = 0  # fANOVA fits a random forest: a fixed seed gives the same figures every run


# A searched setting's value as a table cell and an Optuna choice take it (`_plain`): a number
# (to mypy a bool and an int are floats too), text, or None
Setting = str | float | None


class Trial(TypedDict):
    """One stored trial as the analysis reads it."""

    id: str
    seed: int
    params: dict[str, Setting]  # the settings that vary over the sweep (the seed aside)
    config: str  # its whole configuration but the seed, as sorted JSON: the trials of one configuration share it
    usable: bool  # trained normally (not failed, diverged or empty)
    metric: float | None  # the task's validation metric at its best epoch (what the board ranks)
    test_metric: float | None  # its best checkpoint on the test split
    time_to_target_s: float | None  # seconds of training and evaluation to the target; None: never
    curve: list[float | None]  # the validation metric per epoch
    elapsed_s: list[float]  # training + evaluation seconds at the end of each epoch


# An importance row: "param" (the setting's name), then one fANOVA share (or None) per column,
# keyed by the column's metric ("val_acc", "test_acc"): the keys are the task's, so the shape is open
ImportanceRow = dict[str, Any]


class Importance(TypedDict):
    """What mattered: each varying setting's fANOVA share of each metric's variance."""

    method: str  # "fanova"
    columns: list[str]  # the metrics with importances: the validation one, then the test one if scored
    rows: list[ImportanceRow]  # sorted by the first column, largest first
    trials: dict[str, int]  # per column, the trials it was fitted to
    seed_share: dict[str, float | None]  # per column, the variance between seeds of one configuration
    note: str | None  # why there are no numbers, when there are none


def setting_order(value: Setting) -> tuple[int, float, str]:
    """Numbers first, by size; then anything else by its text (None, strings)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def importance(trials: Sequence[Trial], *, mode: Mode, metric: str) -> Importance:
    """Each varying setting's fANOVA importance for the validation metric and, where the trials
    were scored on the test split, for the test metric (a column each, rows sorted by the
    first); with the share of each metric's variance that lies between seeds. `note`: why
    there are no numbers, when there are none."""
    params = list(dict.fromkeys(k for t in trials for k in t["params"]))
    scores: dict[str, list[tuple[Trial, float]]] = {
        metric: [(t, t["metric"]) for t in trials if t["metric"] is not None],
        test_score(metric): [(t, t["test_metric"]) for t in trials if t["test_metric"] is not None],
    }
    columns = {name: pairs for name, pairs in scores.items() if len(pairs) >= MIN_TRIALS}
    note = None
    if not params:
        note = "no setting varies in this sweep (the seed aside): nothing to rank"
    elif metric not in columns:
        note = f"{len(scores[metric])} usable trial(s): importance needs at least {MIN_TRIALS}"
    elif len({v for _, v in columns[metric]}) == 1:
        note = f"{metric} is the same in every trial: no setting changed it"
    if note:
        return {"method": "fanova", "columns": [], "rows": [], "trials": {}, "seed_share": {}, "note": note}
    found = {
        name: _fanova([t for t, _ in pairs], [v for _, v in pairs], params=params, mode=mode)
        if len({v for _, v in pairs}) > 1
        else {}
        for name, pairs in columns.items()
    }
    return {
        "method": "fanova",
        "columns": list(columns),
        "rows": sorted(
            ({"param": p, **{name: found[name].get(p) for name in columns}} for p in params),
            key=lambda row: -(row[metric] or 0.0),
        ),
        "trials": {name: len(pairs) for name, pairs in columns.items()},
        "seed_share": {
            name: seed_share([t for t, _ in pairs], [v for _, v in pairs]) for name, pairs in columns.items()
        },
        "note": None,
    }


def _fanova(trials: Sequence[Trial], values: list[float], *, params: list[str], mode: Mode) -> dict[str, float]:
    """Optuna's fANOVA importances (each setting's share of the metric's variance over the
    sweep's settings, as a random forest fitted to the trials predicts it; they sum to 1)."""
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created in memory" is noise here
    distributions: dict[str, BaseDistribution] = {}
    for p in params:
        seen = {t["params"][p] for t in trials}
        numbers = [v for v in seen if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(numbers) == len(seen):
            low, high = float(min(numbers)), float(max(numbers))
            # learning rates, weight decays and batch sizes are searched by factors: a log scale
            # when every value is positive (fANOVA integrates over the space's volume)
            distributions[p] = FloatDistribution(low, high, log=low > 0) if high > low else FloatDistribution(low, low)
        else:
            distributions[p] = CategoricalDistribution(sorted(seen, key=setting_order))
    study = optuna.create_study(direction="maximize" if mode == Mode.MAX else "minimize")
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={p: _param_value(t["params"][p], distributions[p]) for p in params},
                distributions=distributions,
                value=v,
            )
            for t, v in zip(trials, values)
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna's experimental-feature notices
        found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=FOREST_SEED))
    return {p: float(v) for p, v in found.items()}


def _param_value(value: Any, distribution: Any) -> Any:
    from optuna.distributions import FloatDistribution

    return float(value) if isinstance(distribution, FloatDistribution) else value


def seed_share(trials: Sequence[Trial], values: Sequence[float]) -> float | None:
    """The share of the metric's variance that lies between seeds of the same configuration
    (within-group sum of squares over the total); None without a repeated configuration or
    any spread. Near 1: the seeds, not the settings, made the differences."""
    groups: dict[str, list[float]] = {}
    for t, v in zip(trials, values):
        groups.setdefault(t["config"], []).append(v)
    if all(len(g) < 2 for g in groups.values()):
        return None
    mean = statistics.fmean(values)
    total = sum((v - mean) ** 2 for v in values)
    within = sum((v - statistics.fmean(g)) ** 2 for g in groups.values() for v in g)
    return within / total if total > 0 else None
