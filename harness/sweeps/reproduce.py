"""`harness reproduce REPORT`: run a report's recipes and set ours beside its figures;
`harness compare REPORT`: the same table from whatever the store already holds.

Every recipe's data is looked for before anything trains: a missing piece is refused in one
line, or, with --skip-missing, listed as not run. The recipes then run side by side, one
trial each, in one Tuner on one Ray instance (a report may mix tasks, as itam2020 does), so
the store holds each recipe's epochs as they come and `--resume` continues an interrupted
reproduction. The number we compare is the one the report printed, measured our way
(`Recipe.score`): test accuracy of the best checkpoint, validation accuracy, or the Keras-style
upsampling accuracy of the best epoch; a run on a subset or with fewer epochs says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config.presets import Recipe, get_preset, recipe_spec
from harness.config.spec import SweepSpec
from harness.datasets import MissingData, locate
from harness.errors import HarnessError
from harness.kinds import SweepStatus
from harness.results.matching import budget_marks, config_of, differences, recipe_terms, trial_terms
from harness.store.db import Store
from harness.store.rows import TrialSummary
from harness.sweeps.outcome import Outcome


def missing_data(specs: list[tuple[Recipe, SweepSpec]]) -> dict[str, str]:
    """recipe label -> what is missing, for every recipe whose files are not there (and cannot
    be downloaded): found in seconds, nothing decoded."""
    missing = {}
    for recipe, spec in specs:
        try:
            locate(spec.task, spec.data_dir, variant=spec.variant, image_size=spec.image_size)
        except MissingData as exc:
            missing[recipe.label] = exc.message
    return missing


def plan_reproduction(report: str, overrides: dict[str, Any], *, skip_missing: bool = False) -> Any:
    """The report's recipes as one plan; every mistake and every missing file found first."""
    from harness.sweeps.plan import Plan

    preset = get_preset(report)
    specs = [(r, recipe_spec(r, overrides).validate()) for r in preset.recipes]
    missing = missing_data(specs)
    if missing and (not skip_missing or len(missing) == len(specs)):
        label, why = next(iter(missing.items()))
        hint = "put the files in place (`harness data` says where)"
        raise HarnessError(
            f"{report}: data missing for {len(missing)} of {len(specs)} recipes, first {label!r}: {why}",
            hint + ("" if len(missing) == len(specs) else ", or pass --skip-missing to run the others"),
        )
    runnable = [(r.label, s) for r, s in specs if r.label not in missing]
    return Plan.of_recipes(report, runnable, not_run=missing)


def reproduce(
    plan: Any, *, results_dir: Path, argv: list[str], verbose: bool = False, live: bool = True
) -> tuple[list[dict[str, Any]], Outcome]:
    """Run the recipes of a `plan_reproduction` (all at once); one row per recipe of the report."""
    from harness.sweeps.driver import run_plan

    outcome = run_plan(plan, results_dir=results_dir, argv=argv, verbose=verbose, live=live)
    return finish(plan.report, results_dir=results_dir, outcome=outcome), outcome


def resume_reproduction(
    report: str, sweep_id: str | None, *, results_dir: Path, verbose: bool = False, live: bool = True
) -> tuple[list[dict[str, Any]], Outcome]:
    """Continue the latest (or the named) interrupted reproduction of `report`."""
    from harness.sweeps.driver import resume_sweep

    outcome = resume_sweep(results_dir, sweep_id, verbose=verbose, live=live, report=report)
    return finish(report, results_dir=results_dir, outcome=outcome), outcome


def finish(report: str, *, results_dir: Path, outcome: Outcome) -> list[dict[str, Any]]:
    """One row per recipe of the report, from the store: the recipes that ran (exported and
    verified when they trained normally and the run was not interrupted) and those that did not."""
    from harness.export.onnx import export_trial
    from harness.results.leaderboard import score, usable
    from harness.sweeps.plan import Plan

    rows = []
    with Store.existing(results_dir, writer=True) as store:
        plan = Plan.from_json(store.sweep(outcome.sweep_id)["spec_json"])
        by_recipe = {config_of(t).get("recipe"): t for t in store.trial_summaries(sweep_id=outcome.sweep_id)}
        for recipe in get_preset(report).recipes:
            trial = by_recipe.get(recipe.label)
            row = _row(report, recipe, trial, plan.not_run.get(recipe.label))
            if trial and usable(trial):
                epochs = store.epochs(trial["id"])
                row["ours"] = score(trial, epochs, recipe.score)
                if outcome.status != SweepStatus.INTERRUPTED:
                    row["ours_test"] = export_trial(store, trial_id=trial["id"], out=results_dir / "onnx")[
                        0
                    ].torch_metric
            rows.append(row)
    return rows


def _row(report: str, recipe: Recipe, trial: TrialSummary | None, not_run: str | None) -> dict[str, Any]:
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
        "epochs": terms["epochs"] if terms else None,
        "recipe_epochs": want["epochs"],
        "status": status,
        "quick_check": ", ".join(marks) or None,
        "trial_id": trial and trial["id"],
        "sweep_id": trial and trial["sweep_id"],
        "notes": recipe.notes,
        "missing": not_run,
        "command": f"harness reproduce {report}" if not_run else None,
    }


def compare(store: Store, report: str) -> list[dict[str, Any]]:
    """`harness compare REPORT`: per recipe, its published figure beside the best stored trial of
    the same network on the same data and budget (measured as the report measured), the closest
    other run when there is none, and the best network of any kind on the same data."""
    from harness.datasets import get_task
    from harness.results.leaderboard import rank, score, usable

    rows = []
    for recipe in get_preset(report).recipes:
        task = get_task(recipe.spec.task)
        want = recipe_terms(recipe.spec)
        trials = [t for t in store.trial_summaries(task=task.name, metric=task.metric, mode=task.mode) if usable(t)]
        epochs = store.epochs_by_trial(task=task.name) if trials else {}
        terms = {t["id"]: trial_terms(config_of(t), t["epochs_run"]) for t in trials}
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
                "ours": score(mine, epochs[mine["id"]], recipe.score) if mine else None,
                "trial_id": mine and mine["id"],
                "epochs": mine and mine["epochs_run"],
                "recipe_epochs": want["epochs"],
                "best_arch": best and best["arch"],
                "best_trial_id": best and best["id"],
                "best": score(best, epochs[best["id"]], recipe.score) if best else None,
                "closest_trial_id": closest and closest["id"],
                "closest_arch": closest and closest["arch"],
                "closest": score(closest, epochs[closest["id"]], recipe.score) if closest else None,
                "closest_differs": "; ".join(diffs[closest["id"]]) if closest else None,
                "notes": recipe.notes,
                "status": "stored" if mine else "no matching run",
                "quick_check": None,
            }
        )
    return rows
