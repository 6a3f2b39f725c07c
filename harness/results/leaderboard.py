"""Leaderboards: store rows -> ranked rows, each task's published figures beside the matching
trials. Pure: no I/O but the store read; `leaderboard_views` renders the boards."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.config.replicates import REPLICATE_KEYS
from harness.errors import lookup
from harness.kinds import Mode, rank_key
from harness.results.boards import (
    FIELDS,
    Board,
    BoardRow,
    LeaderRow,
    OnnxFigures,
    Reference,
    RunFields,
    Target,
)
from harness.results.cost import costs, until_target
from harness.results.intervals import SeedValues, against_published, compare_top, group_intervals, trial_intervals
from harness.results.matching import (
    TrialTerms,
    budget_marks,
    config_of,
    data_notes,
    differences,
    recipe_terms,
    trial_terms,
)
from harness.results.ranking import rank, score, test_score, usable
from harness.store.db import Store
from harness.store.rows import EpochRow, Fastest, TrialRow, TrialSummary, fastest_deployment, fastest_of

if TYPE_CHECKING:
    from harness.config.presets import Recipe

__all__ = [
    "FIELDS",
    "SORTS",
    "best_trial_id",
    "leaderboards",
    "references",
    "seedless_config",
    "target",
    "time_to_target",
]

# The per-seed figures behind each rankable metric field, for the tests over seeds.
SEED_VALUES: dict[str, SeedValues] = {"best_metric": "seed_values", "test_metric": "seed_test_values"}
COMPARE_TOP = 5  # the rows tested against #1 by default (--compare-top)
# --sort NAME -> (row field, which end is better); None: the task's own direction (max for accuracy)
SORTS: dict[str, tuple[str, Mode | None]] = {
    "metric": ("best_metric", None),
    "test": ("test_metric", None),
    "throughput": ("mean_samples_per_s", Mode.MAX),
    "epoch-time": ("mean_epoch_time_s", Mode.MIN),
    "params": ("params", Mode.MIN),
    "time-to-target": ("time_to_target_s", Mode.MIN),
    "cpu-seconds": ("cpu_s", Mode.MIN),
    "gpu-seconds": ("gpu_s", Mode.MIN),
}


def published(task: str) -> list[tuple[str, Recipe]]:
    """(report, recipe) for every published figure of `task`, in the presets' order."""
    from harness.config.presets import PRESETS

    return [(p.report, r) for p in PRESETS.values() for r in p.recipes if r.spec.task == task]


def target(task: str) -> Target | None:
    """The hardest published figure for `task` (the highest), which `time_to_target_s` races to."""
    refs: list[Target] = [
        {"report": report, "published": r.published, "score": r.score}
        for report, r in published(task)
        if r.published is not None
    ]
    return max(refs, key=lambda r: r["published"]) if refs else None


def time_to_target(epochs: list[EpochRow], goal: Target | None) -> float | None:
    """Training plus evaluation seconds until the first epoch whose validation figure reaches
    the published one (validation, since the test split is scored only at the best checkpoint)."""
    reached = until_target(epochs, goal)
    if reached is None:
        return None
    return sum((e["epoch_time_s"] or 0.0) + (e["eval_time_s"] or 0.0) for e in reached)


def references(
    task: str,
    rows: Sequence[LeaderRow],
    epochs: dict[str, list[EpochRow]],
    *,
    mode: Mode = Mode.MAX,
    terms: Mapping[str, TrialTerms] | None = None,
) -> list[Reference]:
    """Each published figure of `task` beside "ours": the best trial (by the task's metric) that
    ran the same network on the same data and budget, scored as the report measured. Without
    one, `ours` is None and the closest trial (fewest differences, then best) is given apart,
    with its differences in words. `terms`: each row's `trial_terms` by id, when the caller
    has them (parsing 10,000 configs again cost a tenth of a second)."""
    out: list[Reference] = []
    trials = [
        (row, terms[row["id"]] if terms else trial_terms(config_of(row), row["epochs_run"]))
        for row in rows
        if usable(row)
    ]
    for report, recipe in published(task):
        want = recipe_terms(recipe.spec)
        best = min(  # only the first in this order counts: no need to sort them all
            ((differences(have, want), row) for row, have in trials),
            key=lambda d: (
                len(d[0]),
                d[1]["arch"] != want["arch"],
                rank_key(d[1]["best_metric"] or 0.0, mode),
                d[1]["id"],
            ),
            default=None,
        )
        match = best[1] if best and not best[0] else None
        closest = best if best and best[0] else None
        mine = epochs.get(match["id"], []) if match else []
        ours = score(match, mine, recipe.score) if match else None
        out.append(
            {
                "report": report,
                "run": recipe.label,
                "arch": want["arch"],
                "measure": recipe.measure,
                "score": recipe.score,
                "published": recipe.published,
                "ours": ours,
                "trial_id": match and match["id"],
                "difference": None if ours is None or recipe.published is None else ours - recipe.published,
                "closest_trial_id": closest and closest[1]["id"],
                "closest_arch": closest and closest[1]["arch"],
                "closest": score(closest[1], epochs.get(closest[1]["id"], []), recipe.score) if closest else None,
                "closest_differs": "; ".join(closest[0]) if closest else None,
                **against_published(match, mine, score=recipe.score, published=recipe.published),
            }
        )
    return out


def seedless_config(row: TrialRow) -> dict[str, Any]:
    """What a trial trained, but for its seed: the same for every seed and replicate of one
    configuration (the whole stored config; a store older than schema 3 kept only the columns).
    An open dict: every key the trial's config held counts, not only TrialSpec's."""
    config = json.loads(row.get("config_json") or "{}") or {
        "arch": row["arch"],
        "optimizer": row["optimizer"],
        "lr": row["lr"],
        "batch_size": row["batch_size"],
        "epochs": row["epochs"],
    }
    for key in REPLICATE_KEYS:
        config.pop(key, None)
    return config


def configuration(row: TrialRow) -> str:
    """`seedless_config` as a key: the trials of one configuration share it."""
    return json.dumps(seedless_config(row), sort_keys=True)


def has_replicates(rows: Sequence[LeaderRow]) -> bool:
    """Whether some configuration ran with more than one seed (--repeats, or several --seed)."""
    seeds: dict[str, set[Any]] = {}
    for row in rows:
        seeds.setdefault(configuration(row), set()).add(row["seed"])
    return any(len(s) > 1 for s in seeds.values())


def group_seeds(rows: list[LeaderRow], *, mode: Mode, proportion: bool = True) -> list[LeaderRow]:
    """One row per configuration that differs only in its seed: means (and standard deviations)
    over the seeds that trained normally; `seeds` counts them, `trial_ids` lists every member.
    The other columns are the best seed's (a grouped board shows no seed)."""
    groups: dict[str, list[LeaderRow]] = {}
    for row in rows:
        groups.setdefault(configuration(row), []).append(row)
    out: list[LeaderRow] = []
    for members in groups.values():
        members = rank(members, mode=mode)  # the group's trial_id is its best seed
        good = [m for m in members if usable(m)] or members
        statuses = Counter(m["status"] for m in members)
        out.append(
            {
                **good[0],
                "n_seeds": len(good),
                "seed_values": [m["best_metric"] for m in good if m["best_metric"] is not None],
                "seed_test_values": [m["test_metric"] for m in good if m["test_metric"] is not None],
                **group_intervals(good, proportion=proportion),
                "trial_ids": " ".join(m["id"] for m in members),
                "best_metric": _mean([m["best_metric"] for m in good]),
                "test_metric": _mean([m["test_metric"] for m in good]),
                "mean_epoch_time_s": _mean([m["mean_epoch_time_s"] for m in good]),
                "mean_samples_per_s": _mean([m["mean_samples_per_s"] for m in good]),
                "epochs_run": _mean([m["epochs_run"] for m in good]) or 0.0,
                "best_metric_std": _std([m["best_metric"] for m in good]),
                "test_metric_std": _std([m["test_metric"] for m in good]),
                # only when every seed got there: a mean over the lucky ones would flatter
                "time_to_target_s": _mean([m["time_to_target_s"] for m in good], all_or_none=True),
                # costs likewise only when every seed recorded (or reached) them
                "cpu_s": _mean([m["cpu_s"] for m in good], all_or_none=True),
                "gpu_s": _mean([m["gpu_s"] for m in good], all_or_none=True),
                "cpu_s_to_target": _mean([m["cpu_s_to_target"] for m in good], all_or_none=True),
                "gpu_s_to_target": _mean([m["gpu_s_to_target"] for m in good], all_or_none=True),
                "status": next(iter(statuses))
                if len(statuses) == 1
                else ", ".join(f"{n} {s}" for s, n in statuses.items()),
                "onnx": max((m["onnx"] for m in members), key=lambda s: ONNX_ORDER.get(s, 0)),
            }
        )
    return out


def _onnx_figures(row: TrialSummary) -> OnnxFigures:
    """From the latest exports: onnxruntime's batch-1 p50 latency and its speed-up over PyTorch
    eager, and the INT8 model's change of the task metric against float32 PyTorch."""
    onnx, int8_details = row.get("onnx_details"), row.get("int8_details")  # None for most trials
    latency = (json.loads(onnx).get("latency") if onnx else None) or {}
    int8 = json.loads(int8_details) if int8_details else {}
    return {
        "onnx_ms": latency.get("onnxruntime_b1_p50_ms"),
        "onnx_speedup": latency.get("speedup_b1"),
        # older stores measured no spread: their ratio is shown as it was
        "onnx_speedup_clear": latency.get("speedup_b1_clear", True) if latency else None,
        "int8_change": int8["ort_metric"] - int8["torch_metric"] if int8 else None,
        "onnx_runtimes": f"{row['runtimes_passed']}/{row['runtimes_checked']}" if row.get("runtimes_checked") else None,
        "fastest": _fastest(row),
    }


def _fastest(row: TrialSummary) -> Fastest | None:
    """The fastest deployment within the gate over the trial's latest float32 and INT8 files."""
    float_rows = json.loads(row.get("onnx_matrix") or "[]")
    int8_rows = json.loads(row.get("int8_matrix") or "[]")
    return fastest_of(fastest_deployment(float_rows), fastest_deployment(int8_rows, baseline=float_rows))


def _mean(values: Sequence[float | None], *, all_or_none: bool = False) -> float | None:
    known = [v for v in values if v is not None]
    return None if not known or (all_or_none and len(known) < len(values)) else statistics.fmean(known)


def _std(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.stdev(known) if len(known) > 1 else None


def _run_fields(terms: TrialTerms) -> RunFields:
    """What data and budget a trial ran (its `trial_terms`): split, image size, subset, planned
    epochs, and the marks a reader must see ("subset 200", "3 of 10 epochs")."""
    return {
        "variant": terms["variant"],
        "image_size": terms["image_size"],
        "train_limit": terms["train_limit"],
        "planned_epochs": terms["planned_epochs"],
        "marks": ", ".join(budget_marks(terms)) or None,
        "data": terms["data"],
    }


def leaderboards(
    store: Store,
    *,
    task: str | None = None,
    sweep_id: str | None = None,
    top: int | None = None,
    sort: str = "metric",
    group: bool | None = None,
    compare: int = COMPARE_TOP,
) -> list[Board]:
    """One board per task (see `harness.results.boards.Board`); its rows (the first `top` only, when
    given) ranked by `sort` (a SORTS name), one per configuration over its seeds when `group`
    (None: when the board's trials have replicates); references: the published figures beside
    the matching trials (see `references`). Rows 2..`compare` are tested against #1 over their
    seeds (`harness.results.intervals.compare_top`)."""
    from harness.datasets import stored_task

    field, better = lookup("sort", SORTS, sort)
    if sweep_id:
        store.sweep(sweep_id)  # an unknown id is an error, not an empty board
    boards: list[Board] = []
    short = store.short_ids()  # tables show Ray's short id where it names one trial
    for name in [task] if task else store.tasks(sweep_id):
        spec = stored_task(name)
        goal = target(name)
        epochs = store.epochs_by_trial(task=name, sweep_id=sweep_id)
        rows: list[LeaderRow] = []
        terms: dict[str, TrialTerms] = {}  # each trial's config parsed once, for its row and the references
        summaries = list(store.trial_summaries(task=name, sweep_id=sweep_id, metric=spec.metric, mode=spec.mode))
        notes = data_notes(store, summaries)
        for row in summaries:
            mine = epochs.get(row["id"], [])
            test = score(row, mine, test_score(spec.metric))
            terms[row["id"]] = trial_terms(config_of(row), row["epochs_run"], notes[row["id"]])
            rows.append(
                {
                    **row,
                    "n_seeds": 1,
                    "trial_ids": row["id"],
                    "best_metric_std": None,
                    "test_metric_std": None,
                    "test_metric": test,
                    "seed_values": [] if row["best_metric"] is None else [row["best_metric"]],
                    "seed_test_values": [] if test is None else [test],
                    **trial_intervals(row, mine, metric=spec.metric, classification=spec.kind == "classification"),
                    "vs_best": None,
                    "vs_best_p": None,
                    "time_to_target_s": time_to_target(mine, goal),
                    **costs(mine, goal),
                    **_onnx_figures(row),
                    **_run_fields(terms[row["id"]]),
                }
            )
        grouped = has_replicates(rows) if group is None else group
        ranked = rank(
            group_seeds(rows, mode=spec.mode, proportion=spec.metric.endswith("acc")) if grouped else rows,
            mode=better or spec.mode,
            field=field,
        )
        if field in SEED_VALUES:  # which of the top rows #1 is really ahead of (over seeds)
            compare_top(ranked, top=compare, values=SEED_VALUES[field])
        boards.append(
            {
                "task": name,
                "metric": spec.metric,
                "mode": spec.mode,
                "sort": sort,
                "grouped": grouped,
                "target": goal,
                "rows": [
                    _board_row(row, rank=i, grouped=grouped, trial=short.get(row["id"], row["id"]))
                    for i, row in enumerate(ranked[:top], start=1)
                ],
                "references": references(name, rows, epochs, mode=spec.mode, terms=terms),
            }
        )
    return boards


def _board_row(row: LeaderRow, *, rank: int, grouped: bool, trial: str) -> BoardRow:
    """A ranked row as boards give it: `FIELDS`, in their order."""
    return {
        "rank": rank,
        "trial_id": row["id"],
        "arch": row["arch"],
        "optimizer": row["optimizer"],
        "lr": row["lr"],
        "batch_size": row["batch_size"],
        "epochs_run": row["epochs_run"],
        "seed": None if grouped else row["seed"],  # a group's row stands for all of its seeds
        "n_seeds": row["n_seeds"],
        "best_metric": row["best_metric"],
        "best_metric_std": row["best_metric_std"],
        "best_ci95_low": row["best_ci95_low"],
        "best_ci95_high": row["best_ci95_high"],
        "test_metric": row["test_metric"],
        "test_metric_std": row["test_metric_std"],
        "ci95_low": row["ci95_low"],
        "ci95_high": row["ci95_high"],
        "ci95_method": row["ci95_method"],
        "vs_best": row["vs_best"],
        "vs_best_p": row["vs_best_p"],
        "mean_epoch_time_s": row["mean_epoch_time_s"],
        "mean_samples_per_s": row["mean_samples_per_s"],
        "params": row["params"],
        "time_to_target_s": row["time_to_target_s"],
        "cpu_s": row["cpu_s"],
        "gpu_s": row["gpu_s"],
        "cpu_s_to_target": row["cpu_s_to_target"],
        "gpu_s_to_target": row["gpu_s_to_target"],
        "status": row["status"],
        "onnx": row["onnx"],
        "onnx_ms": row["onnx_ms"],
        "onnx_speedup": row["onnx_speedup"],
        "onnx_speedup_clear": row["onnx_speedup_clear"],
        "int8_change": row["int8_change"],
        "onnx_runtimes": row["onnx_runtimes"],
        "fastest": row["fastest"],
        "trial_ids": row["trial_ids"],
        "variant": row["variant"],
        "image_size": row["image_size"],
        "train_limit": row["train_limit"],
        "planned_epochs": row["planned_epochs"],
        "marks": row["marks"],
        "data": row["data"],
        "trial": trial,
        "device": row["device"],
        "gpu_ids": json.loads(row["gpu_ids"]) if row["gpu_ids"] is not None else None,
        "precision": row["precision"],
    }


def best_trial_id(store: Store, task: str, *, sweep_id: str | None = None) -> str | None:
    """The top-ranked trial of a task that trained normally, or None; where the board groups
    replicates, the best seed of the configuration with the best mean (the board's first row)."""
    rows = leaderboards(store, task=task, sweep_id=sweep_id)[0]["rows"]
    top = rows[0] if rows else None
    return top["trial_id"] if top and usable(top) else None


ONNX_ORDER: dict[str | None, int] = {"failed": 1, "exported": 2, "verified": 3}  # a group shows its best export
