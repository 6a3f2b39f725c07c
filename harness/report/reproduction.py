"""`harness report`, the rows: every recipe of every report, as the store holds it, in one
JSON-able document that `harness.views.report` renders.

Collecting reads the store (and, for a recipe never run, whether its data is there); rendering
reads only these rows, so the committed JSON re-renders the committed document byte for byte.
Per recipe the row holds the figure the report published, ours measured as the report measured
it with its 95% interval and test against the published figure, the budget it ran on (marked
when it is a quick check), wall time and hardware, the data it used, the learning curve, and the
command that produced it. Per report: data-size points (the recipe on subsets of our training
set) and, per task, the best configuration any other sweep found on the same data at the
recipe's epochs ("beyond the report").
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypedDict, cast

from harness.config.presets import PRESETS, REPORT_PRECISION, Recipe, recipe_spec
from harness.datasets import MissingData, get_task, locate
from harness.report.command import portable_command
from harness.report.document import (
    Against,
    BestConfig,
    Beyond,
    Curve,
    DataUsed,
    Document,
    Figures,
    OnData,
    ProbeLine,
    RecipeFields,
    ReportSection,
    Row,
    SizeCurve,
    finished,
)
from harness.report.measured import figures
from harness.report.provenance import offline_caveats, report_data
from harness.report.published import headline, other_figures
from harness.report.recipe_values import recipe_marks
from harness.results.matching import budget_marks, config_of, differences, recipe_terms, trial_terms
from harness.results.ranking import epoch_score, rank, usable
from harness.store.db import Store
from harness.store.rows import EpochRow, ProbeRow, SweepListRow, TrialSummary

FORMAT = "harness-reproduction/2"  # 2: ours after the last epoch, the best checkpoint beside it, verdicts


def _spec(sweep: SweepListRow) -> dict[str, Any]:
    # the sweep's plan as harness.sweeps.plan wrote it; read for a few keys (reproduce, recipes, not_run)
    spec: dict[str, Any] = json.loads(sweep["spec_json"])
    return spec


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def collect(store: Store, *, data_root: str | None = None) -> Document:
    """The whole document's rows from `store`; `data_root` answers, for a recipe never run,
    whether its data is there."""
    sweeps = store.sweeps()  # newest first
    others = [s for s in sweeps if not _spec(s).get("reproduce")]  # the sweeps "beyond the report" come from
    reports: list[ReportSection] = []
    for report, preset in PRESETS.items():
        runs = [s for s in sweeps if _spec(s).get("reproduce") == report]
        rows: list[Row] = []
        size_points: list[SizeCurve | None] = []
        full: dict[str, tuple[list[EpochRow], int | None]] = {}
        for recipe in preset.recipes:
            found = _trials_of(store, recipe, runs)
            rows.append(_row(store, report, recipe, found, runs, data_root))
            size_points.append(_size_curve(store, report, recipe, found, rows[-1]))
            if finished(rows[-1]):
                full[recipe.label] = (store.epochs(rows[-1]["trial_id"]), rows[-1]["best_epoch"])
        reports.append(
            {
                "report": report,
                "rows": rows,
                "sizes": [s for s in size_points if s],
                "beyond": _beyond(store, preset.recipes, others),
                "others": other_figures(report, full),
            }
        )
    return {"format": FORMAT, "reports": reports}


def _trials_of(store: Store, recipe: Recipe, runs: list[SweepListRow]) -> list[tuple[TrialSummary, SweepListRow]]:
    """Every stored trial of `recipe` in the reproductions `runs`, with its sweep, newest first."""
    task = get_task(recipe.spec.task)
    found = []
    for sweep in runs:
        for trial in store.trial_summaries(sweep_id=sweep["id"], task=task.name, metric=task.metric, mode=task.mode):
            if config_of(trial).get("recipe") == recipe.label:
                found.append((trial, sweep))
    return found


def _where_printed(report: str, recipe: Recipe) -> str | None:
    """The published figure as the text prints it, and where: "0.7967 (Table 1, Época 40, validation)"."""
    figure = headline(report, recipe.label)
    if figure is None:
        return None
    labels = ", ".join(figure.models)
    belongs = f"; said of {labels}" if len(figure.models) > 1 else ""
    return f"{figure.printed!s} ({figure.where}{belongs})"


def _marks(trial: TrialSummary, recipe: Recipe) -> list[str]:
    return budget_marks(trial_terms(config_of(trial), trial["epochs_run"]), recipe_epochs=recipe.spec.epochs)


def precision_marks(precision: str | None) -> list[str]:
    """["bf16 (chosen)"] for a recipe trained in another precision than the reports' (fp32): still a
    full run, so not a quick check, but not as the report ran it."""
    return [f"{precision} (chosen)"] if precision and precision != REPORT_PRECISION else []


def _chosen(recipe: Recipe, found: list[tuple[TrialSummary, SweepListRow]]) -> tuple[TrialSummary, SweepListRow] | None:
    """The run that stands for the recipe: a full run (its whole training set, all its epochs)
    before a quick check, one that trained normally before one that did not, then the newest."""
    if not found:
        return None
    ordered = sorted(found, key=lambda f: (not _marks(f[0], recipe), usable(f[0]), f[1]["created_at"]), reverse=True)
    return ordered[0]


class _Unscored(TypedDict):
    """A run that did not train normally: no figure of ours."""

    ours: None


def _row(
    store: Store,
    report: str,
    recipe: Recipe,
    found: list[tuple[TrialSummary, SweepListRow]],
    runs: list[SweepListRow],
    data_root: str | None,
) -> Row:
    want = recipe_terms(recipe.spec)
    row: RecipeFields = {
        "recipe": recipe.label,
        "arch": want["arch"],
        "task": want["task"],
        "framework": want["framework"],
        "epochs_planned": want["epochs"],
        "image_size": want["image_size"],
        "measure": recipe.measure,
        "published": recipe.published,
        "published_about": recipe.published_about,
        "published_where": _where_printed(report, recipe),
        "notes": recipe.notes,
        "values": [mark.row() for mark in recipe_marks(report, recipe.label)],
    }
    chosen = _chosen(recipe, found)
    if chosen is None:
        return _not_run(row, report, recipe, runs, data_root)
    trial, sweep = chosen
    epochs = store.epochs(trial["id"])
    env = json.loads(sweep["environment_json"])
    marks = _marks(trial, recipe)
    # A run that ended early says how (interrupted, diverged, ...); only one that ran its whole
    # (smaller) plan is a quick check.
    status = "quick check" if marks and trial["status"] in ("finished", "stopped") else trial["status"]
    marks += precision_marks(trial["precision"])
    probes = store.probes(trial["id"])
    scored: Figures | _Unscored = figures(trial, epochs, recipe, probes) if usable(trial) else {"ours": None}
    data_root = _spec(sweep)["recipes"][0]["spec"].get("data_dir")
    data = _data(report, recipe, env, data_root=data_root)
    fewer = _fewer_images(report, recipe, data)
    done: Row = {
        **row,
        "status": f"{status}, {fewer}" if fewer and status == "finished" else status,
        "marks": ", ".join(marks) or None,
        "trial_id": trial["id"],
        "command": portable_command(sweep["command"]),
        "epochs": trial["epochs_run"],
        "best_epoch": trial["best_epoch"],
        "wall_s": _seconds(trial["started_at"], trial["ended_at"]),
        "cpu_s": sum(e.get("cpu_s") or 0.0 for e in epochs) or None,
        "hardware": _hardware(env),
        "side_by_side": len(_spec(sweep).get("recipes", [])),
        "data": data,
        **scored,
        "curve": _curve(epochs, recipe),
        "probes": [_probe(p) for p in probes],
    }
    return cast(Row, relative_paths(done, data_root))


def _fewer_images(report: str, recipe: Recipe, data: DataUsed) -> str | None:
    """ "1,800 of 8,000 photos" where the run trained on fewer source images than the report did."""
    theirs = report_data(report, recipe.spec.task)
    ours = (data.get("counts") or {}).get("train")
    if not theirs or not theirs.train_images or not ours or ours >= theirs.train_images:
        return None
    return f"{ours:,} of {theirs.train_images:,} {theirs.unit}"


def relative_paths(value: Any, data_root: str | None) -> Any:
    """Every string in `value` with the data root written as `$HARNESS_DATA_DIR`: the document says
    where under the root its data was, never a machine's own folders."""
    root = str(data_root or "").rstrip("/")
    if not root:  # none, or "/": nothing machine-specific to hide, and "" would match everywhere
        return value
    if isinstance(value, str):
        return value.replace(root, "$HARNESS_DATA_DIR")
    if isinstance(value, dict):
        return {k: relative_paths(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [relative_paths(v, root) for v in value]
    return value


def _probe(row: ProbeRow) -> ProbeLine:
    """A probe recorded for the recipe's trial (`harness probe`): the report's way of measuring."""
    from harness.results.probes import PROBES

    probe = PROBES.get(row["probe"])
    low, high = row["ci95_low"], row["ci95_high"]
    ci = [low, high] if low is not None and high is not None else None  # both or neither: an Interval's
    return {
        "probe": row["probe"],
        "figure": probe.figure if probe else row["probe"],
        "baseline_is": probe.baseline if probe else "",
        "value": row["value"],
        "ci95": ci,
        "interval": row["detail"].get("interval"),
        "baseline": row["baseline"],
        "note": row["detail"].get("note"),
        "weights": row["detail"].get("weights"),
    }


def _not_run(row: RecipeFields, report: str, recipe: Recipe, runs: list[SweepListRow], data_root: str | None) -> Row:
    """A recipe with no stored trial: its data missing (from the latest run that skipped it, or
    looked for now), or simply not run yet."""
    why = next((_spec(s)["not_run"][recipe.label] for s in runs if recipe.label in _spec(s).get("not_run", {})), None)
    if why is None and data_root is not None:
        spec = recipe_spec(recipe, {"data_dir": data_root})
        try:
            with _offline():  # a document is rendered, not data fetched: look, never download
                locate(spec.task, spec.data_dir, variant=spec.variant, image_size=spec.image_size)
        except MissingData as exc:
            why = exc.message
    queued = any(s["status"] == "running" and recipe.label in _labels(s) for s in runs)
    status = (
        "not run: data not available offline"
        if why
        else "queued in a running reproduction"
        if queued
        else "not run yet"
    )
    not_run: Row = {**row, "status": status, "missing": why, "ours": None, "command": f"harness reproduce {report}"}
    return cast(Row, relative_paths(not_run, data_root))


def _labels(sweep: SweepListRow) -> set[str]:
    return {r["label"] for r in _spec(sweep).get("recipes", [])}


@contextmanager
def _offline() -> Iterator[None]:
    before = os.environ.get("HARNESS_OFFLINE")
    os.environ["HARNESS_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["HARNESS_OFFLINE"]
        else:
            os.environ["HARNESS_OFFLINE"] = before


# `env`: a sweep's recorded environment (harness.environment.collect_environment), open by design
# (versions, hardware, data per recipe; older stores lack keys): read here for a few keys, with `get`.
def _hardware(env: dict[str, Any]) -> str:
    where = f"{env.get('cpu') or 'unknown CPU'}, {env.get('cpu_count') or '?'} CPUs"
    return where + (f", {env['gpu']}" if env.get("gpu") else ", no GPU")


def _data(report: str, recipe: Recipe, env: dict[str, Any], *, data_root: str | None) -> DataUsed:
    ours = (env.get("data") or {}).get(recipe.label) or {}
    theirs = report_data(report, recipe.spec.task)
    caveats = offline_caveats(recipe.spec.task, data_root)
    return {
        "report": theirs.text if theirs else None,
        "counts": ours.get("counts"),
        "source": ours.get("source"),
        "variant": ours.get("variant"),
        "offline": caveats is not None,
        "caveats": list(caveats or ()),
    }


def _curve(epochs: list[EpochRow], recipe: Recipe) -> Curve:
    """Per epoch: the validation figure the report's measure follows, and train accuracy."""
    key = recipe.score if recipe.score.startswith("val_") else "val_acc"
    return {
        "metric": key,
        "epoch": [e["epoch"] for e in epochs],
        "val": [epoch_score(e, key) for e in epochs],
        "train_acc": [e.get("train_acc") for e in epochs],
    }


def _size_curve(
    store: Store, report: str, recipe: Recipe, found: list[tuple[TrialSummary, SweepListRow]], row: Row
) -> SizeCurve | None:
    """The recipe at all its epochs on subsets of our training set (`--train-limit`) beside the
    full run: the figure against training images, fitted as a + b ln(n) and read at the report's
    training-set size where it is stated. None with fewer than two sizes."""
    if row.get("ours") is None or not finished(row):
        return None
    data = row.get("data")
    full = (data["counts"] if data else None) or {}
    points: dict[int, tuple[float | None, list[float] | None]] = (
        {int(full["train"]): (row["ours"], row.get("ci95"))} if full.get("train") else {}
    )
    for trial, _ in found:
        limit = config_of(trial).get("train_limit")
        if limit and usable(trial) and trial["epochs_run"] >= recipe.spec.epochs and int(limit) not in points:
            epochs = store.epochs(trial["id"])
            found_figures = figures(trial, epochs, recipe, [])
            points[int(limit)] = (found_figures["ours"], found_figures["ci95"])
    if len(points) < 2:
        return None
    sizes = sorted(points)
    theirs = report_data(report, recipe.spec.task)
    at = theirs.train_images if theirs and theirs.train_images and theirs.train_images > sizes[-1] else None
    # a usable trial that ran all its epochs has its figure (a None would fail in log_fit, as it always did)
    per_doubling, read = log_fit(cast("dict[int, float]", {n: points[n][0] for n in sizes}), at)
    return {
        "recipe": recipe.label,
        "points": [{"train": n, "ours": points[n][0], "ci95": points[n][1]} for n in sizes],
        "slope_per_doubling": per_doubling,
        "report_train": at,
        "extrapolated": read,
        "published": recipe.published,
    }


def log_fit(points: dict[int, float], at: int | None) -> tuple[float, float | None]:
    """Least squares of figure = a + b ln(training images) over `points` (2 sizes or more):
    the change per doubling of the data (b ln 2), and the fit read at `at` images (capped at 1)."""
    xs, ys = [math.log(n) for n in points], list(points.values())
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)
    return slope * math.log(2), (min(1.0, mean_y + slope * (math.log(at) - mean_x)) if at else None)


def _beyond(store: Store, recipes: tuple[Recipe, ...], others: list[SweepListRow]) -> list[Beyond]:
    """Per recipe data (task, split, size, scaling, framework) and epoch count: the best trial of
    any other sweep on it, chosen by validation (never by test), with the budget of its sweep."""
    out: list[Beyond] = []
    seen: set[str] = set()
    for recipe in recipes:
        want = recipe_terms(recipe.spec)
        key = json.dumps({k: v for k, v in want.items() if k != "arch"}, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        task = get_task(want["task"])
        trials: list[TrialSummary] = []
        for sweep in others:
            for t in store.trial_summaries(sweep_id=sweep["id"], task=task.name, metric=task.metric, mode=task.mode):
                terms = trial_terms(config_of(t), t["epochs_run"])
                if usable(t) and not differences({**terms, "arch": want["arch"]}, want):
                    trials.append(t)
        best = rank(trials, mode=task.mode)[0] if trials else None
        line: OnData = {
            "task": want["task"],
            "data": {"variant": want["variant"], "image_size": want["image_size"]},
            "epochs": want["epochs"],
        }
        if best is None:
            out.append({**line, "best": None})
            continue
        sweep = next(s for s in others if s["id"] == best["sweep_id"])
        budget = [t for t in trials if t["sweep_id"] == sweep["id"]]
        cpu = sum(e.get("cpu_s") or 0.0 for t in budget for e in store.epochs(t["id"]))
        best_figures = figures(best, store.epochs(best["id"]), recipe, [])
        config = config_of(best)
        out.append(
            {
                **line,
                "best": BestConfig(
                    arch=config.get("arch"),
                    optimizer=config.get("optimizer"),
                    lr=config.get("lr"),
                    batch_size=config.get("batch_size"),
                    weight_decay=config.get("weight_decay"),
                    seed=config.get("seed"),
                ),
                "trial_id": best["id"],
                "figures": best_figures,
                "measure": recipe.measure,
                "selected_by": task.metric,
                "command": portable_command(sweep["command"]),
                "trials": len(budget),
                "cpu_s": cpu or None,
                "wall_s": _seconds(sweep["created_at"], sweep["finished_at"]),
                "against": [
                    Against(recipe=r.label, published=r.published)
                    for r in recipes
                    if r.published is not None and recipe_terms(r.spec) | {"arch": ""} == want | {"arch": ""}
                ],
            }
        )
    return out
