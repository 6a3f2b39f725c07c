"""`harness reproduce REPORT`: run a report's recipes as trials and set ours beside its figures;
`harness compare REPORT`: the same table from whatever the store already holds.

Each recipe is one single-trial sweep (so it lands in the store like any other), exported and
verified; the number we compare is the one the report printed, measured our way
(`Recipe.score`): test accuracy of the trial's best checkpoint, validation accuracy or the
Keras-style upsampling accuracy from the best epoch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.presets import Recipe, get_preset, recipe_spec
from harness.store import Store


def reproduce(report: str, *, results_dir: Path, overrides: dict[str, Any], argv: list[str],
              verbose: bool = False, live: bool = True) -> list[dict[str, Any]]:  # fmt: skip
    """Run every recipe of `report`; one row per recipe: published and ours, with the notes."""
    from harness.export import export_trial
    from harness.leaderboard import best_trial_id, score
    from harness.sweep import run_sweep

    preset = get_preset(report)
    specs = [recipe_spec(r, overrides).validate() for r in preset.recipes]  # every mistake before any run
    rows = []
    for recipe, spec in zip(preset.recipes, specs):
        sweep_id = run_sweep(spec, results_dir=results_dir, argv=argv, verbose=verbose, live=live)
        with Store.existing(results_dir) as store:
            trial_id = best_trial_id(store, spec.task, sweep_id=sweep_id)
            verification = export_trial(store, trial_id=trial_id, out=results_dir / "onnx")[0] if trial_id else None
            test = verification.torch_metric if verification else None
            ours = score(store.trial(trial_id), store.epochs(trial_id), recipe.score) if trial_id else None
        rows.append({
            "report": report, "recipe": recipe.label, "arch": spec.archs[0], "task": spec.task,
            "measure": recipe.measure, "published": recipe.published, "ours": ours, "ours_test": test,
            "epochs": spec.epochs, "trial_id": trial_id, "sweep_id": sweep_id, "notes": recipe.notes,
        })  # fmt: skip
    return rows


def _matches(row: dict[str, Any], recipe: Recipe) -> bool:
    """A stored trial ran the recipe's data: same task, split and image size (a cats_vs_dogs
    trial on split A says nothing about a figure measured on split B)."""
    config = json.loads(row.get("config_json") or "{}")
    return row["task"] == recipe.spec["task"] and all(
        config.get(k) == recipe.spec[k] for k in ("variant", "image_size") if k in recipe.spec and config
    )


def compare(store: Store, report: str) -> list[dict[str, Any]]:
    """`harness compare REPORT`: per recipe of the report, its published figure beside the best
    stored trial of the same network on the same data (measured as the report measured), and
    the best trial of any network on that data."""
    from harness.datasets import get_task
    from harness.leaderboard import rank, score, usable

    rows = []
    for recipe in get_preset(report).recipes:
        task = get_task(recipe.spec["task"])
        trials = [t for t in store.trial_summaries(task=task.name, metric=task.metric, mode=task.mode)
                  if _matches(t, recipe) and usable(t)]  # fmt: skip
        epochs = store.epochs_by_trial(task=task.name) if trials else {}
        ranked = rank(trials, mode=task.mode)
        same = [t for t in ranked if t["arch"] == recipe.spec["archs"][0]]
        mine, best = (same[0] if same else None), (ranked[0] if ranked else None)
        rows.append({
            "report": report, "recipe": recipe.label, "arch": recipe.spec["archs"][0], "task": task.name,
            "measure": recipe.measure, "published": recipe.published,
            "ours": score(mine, epochs[mine["id"]], recipe.score) if mine else None,
            "trial_id": mine and mine["id"], "epochs": mine and mine["epochs_run"],
            "best_arch": best and best["arch"], "best_trial_id": best and best["id"],
            "best": score(best, epochs[best["id"]], recipe.score) if best else None, "notes": recipe.notes,
        })  # fmt: skip
    return rows
