"""`harness analyze SWEEP_ID`: what mattered in a sweep, from the store alone.

Per task of the sweep: each setting's importance for the task's metric (Optuna's fANOVA on an
in-memory study rebuilt from the stored trials), the metric against the learning rate per
architecture x optimizer, the seconds each configuration took to reach a target over its seeds,
and the learning curves of the best trials. Pure: store rows in, plain dicts out (the
`--format json`); `analyze_views` renders the tables, `plots.write_analysis_pngs` the figures.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from harness.config.settings import declared
from harness.config.spec import SweepSpec
from harness.errors import HarnessError
from harness.kinds import Mode, rank_key
from harness.results.boards import Target
from harness.results.importance import Importance, Setting, Trial, importance, setting_order
from harness.results.leaderboard import seedless_config, target, time_to_target
from harness.results.ranking import epoch_score, score, test_score, usable
from harness.store.db import Store

__all__ = [
    "Analysis",
    "LrTable",
    "TimeToTarget",
    "TopCurve",
    "analyze_sweep",
    "label",
    "lr_table",
    "times_to_target",
]

TOP_CURVES = 5  # learning curves drawn (and listed in the JSON)
MAX_LR_COLUMNS = 8  # more distinct learning rates (a random search) are binned on a log scale
# The searched settings' trial keys in the grid's order (arch, optimizer, lr, ...): a label's order
SEARCHED = tuple(d.setting.trial for d in declared(SweepSpec) if d.setting.trial)


class LrColumn(TypedDict):
    lr: float  # the column's middle on a log scale (its rate when it holds one)
    low: float
    high: float


class LrCell(TypedDict):
    mean: float  # the validation metric's mean over the cell's trials
    n: int  # trials


class LrRow(TypedDict):
    arch: str
    optimizer: str
    cells: list[LrCell | None]  # one per column; None: no trial there


class LrTable(TypedDict):
    """The validation metric by architecture x optimizer (rows) and learning rate (columns)."""

    columns: list[LrColumn]
    rows: list[LrRow]


class TimeToTarget(TypedDict):
    """One configuration's race to the target over its seeds."""

    params: dict[str, Setting]
    seeds: int  # that trained normally
    reached: int  # of them, how many got to the target
    median_s: float | None  # seconds, over the seeds that got there
    min_s: float | None
    max_s: float | None
    trial_ids: list[str]


class TopCurve(TypedDict):
    """One of the best trials with its validation curve."""

    trial_id: str
    trial: str  # the id tables show (Ray's short one where it names one trial)
    params: dict[str, Setting]
    seed: int
    metric: float | None
    curve: list[float | None]  # the validation metric per epoch
    elapsed_s: list[float]  # training + evaluation seconds at the end of each epoch


class Analysis(TypedDict):
    sweep_id: str
    task: str
    metric: str  # e.g. "val_acc"
    test_metric: str  # e.g. "test_acc"
    mode: str  # "max" or "min"
    trials: int  # stored
    usable: int  # trained normally
    varying: dict[str, list[Setting]]  # each setting that varies, with its values
    importance: Importance
    lr_table: LrTable
    target: Target | None
    time_to_target: list[TimeToTarget]
    top: list[TopCurve]  # the best trials' curves
    rows: list[Trial]


def analyze_sweep(
    store: Store, sweep_id: str | None = None, *, task: str | None = None, target_value: float | None = None
) -> list[Analysis]:
    """One analysis per task of the sweep (the latest sweep when `sweep_id` is None).
    `target_value`: the validation figure time-to-target races to, in place of the task's
    highest published one."""
    from harness.datasets import get_task, stored_task

    sweep = store.sweep(sweep_id)  # an unknown id is one line, naming `harness sweeps`
    tasks = store.tasks(sweep["id"])
    if task is not None:
        name = get_task(task).name
        if name not in tasks:
            raise HarnessError(
                f"sweep {sweep['id']} has no trials of {name} (it has {', '.join(tasks) or 'none'})",
                "leave out --task, or pass one of its tasks",
            )
        tasks = [name]
    short = store.short_ids()  # tables show Ray's short id where it names one trial
    out: list[Analysis] = []
    for name in tasks:
        spec = stored_task(name)
        goal = target(name) if target_value is None else _user_target(target_value, spec.metric, spec.mode)
        trials = load_trials(store, sweep["id"], task=name, metric=spec.metric, mode=spec.mode, goal=goal)
        good = [t for t in trials if t["usable"]]
        out.append(
            {
                "sweep_id": sweep["id"],
                "task": name,
                "metric": spec.metric,
                "test_metric": test_score(spec.metric),
                "mode": spec.mode,
                "trials": len(trials),
                "usable": len(good),
                "varying": varying(good),
                "importance": importance(good, mode=spec.mode, metric=spec.metric),
                "lr_table": lr_table(good),
                "target": goal,
                "time_to_target": times_to_target(trials) if goal else [],
                "top": top_curves(good, mode=spec.mode, short=short),
                "rows": trials,
            }
        )
    return out


def _user_target(value: float, metric: str, mode: Mode) -> Target:
    if mode != Mode.MAX:  # time_to_target counts up to the first epoch at or above the figure
        raise HarnessError(f"--target races upwards, but {metric} is better lower", "leave out --target")
    return {"report": "--target", "published": value, "score": metric}


def load_trials(store: Store, sweep_id: str, *, task: str, metric: str, mode: Mode, goal: Target | None) -> list[Trial]:
    """The sweep's trials of `task`, scored as the leaderboard scores them (its functions)."""
    epochs = store.epochs_by_trial(task=task, sweep_id=sweep_id)
    rows = list(store.trial_summaries(task=task, sweep_id=sweep_id, metric=metric, mode=mode))
    configs = {row["id"]: seedless_config(row) for row in rows}
    keys = _varying_keys([c for row, c in zip(rows, configs.values()) if usable(row)])
    trials: list[Trial] = []
    for row in rows:
        mine = epochs.get(row["id"], [])
        elapsed = 0.0
        seconds = []
        for e in mine:
            elapsed += (e["epoch_time_s"] or 0.0) + (e["eval_time_s"] or 0.0)
            seconds.append(elapsed)
        trials.append(
            {
                "id": row["id"],
                "seed": row["seed"],
                "params": {k: _plain(configs[row["id"]].get(k)) for k in keys},
                "config": json.dumps(configs[row["id"]], sort_keys=True, default=str),
                "usable": usable(row),
                "metric": row["best_metric"],
                "test_metric": score(row, mine, test_score(metric)),
                "time_to_target_s": time_to_target(mine, goal),
                "curve": [epoch_score(e, metric) for e in mine],
                "elapsed_s": seconds,
            }
        )
    return trials


def _plain(value: object) -> Setting:
    """A setting's value as a table cell and an Optuna choice take it: a number, text or None."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)


def label(params: Mapping[str, Setting]) -> str:
    """A configuration in words: "cnn_small adam lr=0.03" (names bare, numbers with their key)."""
    return " ".join(
        v if isinstance(v, str) else f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def _varying_keys(configs: Sequence[Mapping[str, object]]) -> list[str]:
    """The settings (config keys) that take more than one value over `configs`: the searched
    ones first, in the grid's order, then the others by name."""
    keys = sorted(
        {k for c in configs for k in c}, key=lambda k: (k not in SEARCHED, SEARCHED.index(k) if k in SEARCHED else 0, k)
    )
    return [k for k in keys if len({json.dumps(c.get(k), default=str) for c in configs}) > 1]


def varying(trials: Sequence[Trial]) -> dict[str, list[Setting]]:
    """Each varying setting with its values, sorted (numbers numerically)."""
    keys = list(dict.fromkeys(k for t in trials for k in t["params"]))  # load_trials' order
    return {k: sorted({t["params"][k] for t in trials}, key=setting_order) for k in keys}


def lr_columns(lrs: Sequence[float], *, most: int = MAX_LR_COLUMNS) -> list[tuple[float, float]]:
    """The table's learning-rate columns as (low, high) ranges: one per distinct rate, or `most`
    bins of equal width on a log scale when there are more (a random search's rates)."""
    distinct = sorted(set(lrs))
    if len(distinct) <= most:
        return [(lr, lr) for lr in distinct]
    low, high = math.log10(distinct[0]), math.log10(distinct[-1])
    edges = [10 ** (low + (high - low) * i / most) for i in range(most + 1)]
    edges[0], edges[-1] = distinct[0], distinct[-1]  # exact ends: rounding must not drop a rate
    return [(edges[i], edges[i + 1]) for i in range(most)]


def lr_table(trials: Sequence[Trial]) -> LrTable:
    """The validation metric's mean per architecture x optimizer (rows) and learning rate
    (columns), pooled over seeds and any other setting; each cell with its trial count."""
    scored = [(_config(t), t["metric"]) for t in trials if t["metric"] is not None]
    columns = lr_columns([float(config["lr"]) for config, _ in scored])
    rows: dict[tuple[str, str], list[list[float]]] = {}
    for config, value in scored:
        cells = rows.setdefault((str(config["arch"]), str(config["optimizer"])), [[] for _ in columns])
        # the first column whose range holds it (a rate on an inner edge goes left)
        at = next(i for i, (low, high) in enumerate(columns) if low <= float(config["lr"]) <= high)
        cells[at].append(value)
    return {
        "columns": [{"lr": math.sqrt(low * high), "low": low, "high": high} for low, high in columns],
        "rows": [
            {
                "arch": arch,
                "optimizer": optimizer,
                "cells": [{"mean": statistics.fmean(c), "n": len(c)} if c else None for c in cells],
            }
            for (arch, optimizer), cells in sorted(rows.items())
        ],
    }


def _config(trial: Trial) -> dict[str, Any]:
    return json.loads(trial["config"])


def times_to_target(trials: Sequence[Trial]) -> list[TimeToTarget]:
    """Per configuration (its seeds together): how many seeds trained normally and how many
    reached the target, with the median, fastest and slowest seconds of those that did;
    fastest median first, configurations that never got there last."""
    groups: dict[str, list[Trial]] = {}
    for t in trials:
        if t["usable"]:
            groups.setdefault(t["config"], []).append(t)
    out: list[TimeToTarget] = []
    for members in groups.values():
        reached = sorted(t["time_to_target_s"] for t in members if t["time_to_target_s"] is not None)
        out.append(
            {
                "params": members[0]["params"],
                "seeds": len(members),
                "reached": len(reached),
                "median_s": statistics.median(reached) if reached else None,
                "min_s": reached[0] if reached else None,
                "max_s": reached[-1] if reached else None,
                "trial_ids": [t["id"] for t in members],
            }
        )
    return sorted(out, key=lambda r: (r["median_s"] is None, r["median_s"] or 0.0, -r["reached"]))


def top_curves(
    trials: Sequence[Trial], *, mode: Mode, n: int = TOP_CURVES, short: dict[str, str] | None = None
) -> list[TopCurve]:
    """The `n` best trials (as the board ranks them) with their validation curves; `trial`:
    the id tables show (`short`: `Store.short_ids`)."""
    ranked = sorted(trials, key=lambda t: (t["metric"] is None, rank_key(t["metric"] or 0.0, mode), t["id"]))
    return [
        {
            "trial_id": t["id"],
            "trial": (short or {}).get(t["id"], t["id"]),
            "params": t["params"],
            "seed": t["seed"],
            "metric": t["metric"],
            "curve": t["curve"],
            "elapsed_s": t["elapsed_s"],
        }
        for t in ranked[:n]
    ]
