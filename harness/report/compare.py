"""Ours beside a report's figures, from the store: `harness reproduce REPORT`'s table once its
recipes ran (each trial that trained normally exported and verified), and `harness compare
REPORT`, the same table from whatever the store already holds.

The number we compare is the one the report printed, measured as the report measured it, after
the recipe's last epoch (harness.report.measured); a run on a subset or with fewer epochs says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.config.presets import Recipe, get_preset
from harness.kinds import SweepStatus
from harness.report.document import CompareRow, FinishRow
from harness.report.measured import as_reported
from harness.results.matching import budget_marks, config_of, data_notes, differences, recipe_terms, trial_terms
from harness.store.db import Store
from harness.store.rows import TrialSummary
from harness.sweeps.outcome import Outcome

# (store, trial id) -> the trial's test figure under PyTorch, once exported and verified
Exporter = Callable[[Store, str], "float | None"]


def finish(report: str, *, results_dir: Path, outcome: Outcome, export: Exporter) -> list[FinishRow]:
    """One row per recipe of the report, from the store: the recipes that ran (exported and
    verified by `export` when they trained normally and the run was not interrupted) and those
    that did not."""
    from harness.results.ranking import usable
    from harness.sweeps.plan import Plan

    rows: list[FinishRow] = []
    with Store.existing(results_dir, writer=True) as store:
        plan = Plan.from_json(store.sweep(outcome.sweep_id)["spec_json"])
        by_recipe = {config_of(t).get("recipe"): t for t in store.trial_summaries(sweep_id=outcome.sweep_id)}
        planned = {label for label, _ in plan.recipes} | set(plan.not_run)
        for recipe in get_preset(report).recipes:
            if recipe.label not in planned:  # left out with --recipe
                continue
            trial = by_recipe.get(recipe.label)
            row = _row(report, recipe, trial, plan.not_run.get(recipe.label))
            if trial and usable(trial):
                epochs = store.epochs(trial["id"])
                row["ours"] = as_reported(trial, epochs, recipe)
                if outcome.status != SweepStatus.INTERRUPTED:
                    row["ours_test"] = export(store, trial["id"])
            rows.append(row)
    return rows


def _row(report: str, recipe: Recipe, trial: TrialSummary | None, not_run: str | None) -> FinishRow:
    want = recipe_terms(recipe.spec)
    terms = trial_terms(config_of(trial), trial["epochs_run"]) if trial else None
    marks = budget_marks(terms, recipe_epochs=want["epochs"]) if terms else []
    status = "not run: data missing" if not_run else trial["status"] if trial else "not started"
    return {
        "report": report,
        "recipe": recipe.label,
        "arch": want["arch"],
        "task": want["task"],
        "measure": recipe.measure,
        "published": recipe.published,
        "ours": None,
        "ours_test": None,
        "epochs": int(terms["epochs"]) if terms else None,  # one trial: whole epochs
        "recipe_epochs": want["epochs"],
        "status": status,
        "quick_check": ", ".join(marks) or None,
        "trial_id": trial and trial["id"],
        "sweep_id": trial and trial["sweep_id"],
        "notes": recipe.notes,
        "missing": not_run,
        "command": f"harness reproduce {report}" if not_run else None,
    }


def compare(store: Store, report: str) -> list[CompareRow]:
    """`harness compare REPORT`: per recipe, its published figure beside the best stored trial of
    the same network on the same data and budget (measured as the report measured), the closest
    other run when there is none, and the best network of any kind on the same data."""
    from harness.datasets import get_task
    from harness.results.ranking import rank, usable

    rows: list[CompareRow] = []
    for recipe in get_preset(report).recipes:
        task = get_task(recipe.spec.task)
        want = recipe_terms(recipe.spec)
        trials = [t for t in store.trial_summaries(task=task.name, metric=task.metric, mode=task.mode) if usable(t)]
        epochs = store.epochs_by_trial(task=task.name) if trials else {}
        notes = data_notes(store, trials)
        terms = {t["id"]: trial_terms(config_of(t), t["epochs_run"], notes[t["id"]]) for t in trials}
        diffs = {i: differences(terms[i], want) for i in terms}
        ranked = rank(trials, mode=task.mode)
        same = [t for t in ranked if not diffs[t["id"]]]
        # the same data and budget with any network: what else this data allows
        data = [t for t in ranked if not differences({**terms[t["id"]], "arch": want["arch"]}, want)]
        mine, best = (same[0] if same else None), (data[0] if data else None)
        closest = (
            None if mine else min(ranked, key=lambda t: (len(diffs[t["id"]]), t["arch"] != want["arch"]), default=None)
        )
        rows.append(
            {
                "report": report,
                "recipe": recipe.label,
                "arch": want["arch"],
                "task": task.name,
                "measure": recipe.measure,
                "published": recipe.published,
                "ours": as_reported(mine, epochs[mine["id"]], recipe) if mine else None,
                "trial_id": mine and mine["id"],
                "epochs": mine and mine["epochs_run"],
                "recipe_epochs": want["epochs"],
                "best_arch": best and best["arch"],
                "best_trial_id": best and best["id"],
                "best": as_reported(best, epochs[best["id"]], recipe) if best else None,
                "closest_trial_id": closest and closest["id"],
                "closest_arch": closest and closest["arch"],
                "closest": as_reported(closest, epochs[closest["id"]], recipe) if closest else None,
                "closest_differs": "; ".join(diffs[closest["id"]]) if closest else None,
                "notes": recipe.notes,
                "status": "stored" if mine else "no matching run",
                "quick_check": None,
            }
        )
    return rows
