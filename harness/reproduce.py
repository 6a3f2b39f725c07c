"""`harness reproduce REPORT`: run a report's recipes as trials and set ours beside its figures.

Each recipe is one single-trial sweep (so it lands in the store like any other), exported and
verified; the number we compare is the one the report printed, measured our way: test
accuracy from the verified export's PyTorch pass over the test split, validation accuracy or
the Keras-style upsampling accuracy from the best epoch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.presets import Recipe, get_preset, recipe_spec
from harness.store import Store


def _ours(store: Store, trial_id: str, recipe: Recipe, test_accuracy: float | None) -> float | None:
    """Our figure for what the report measured."""
    if recipe.measure.startswith("test"):
        return test_accuracy
    epochs = store.epochs(trial_id)
    if not epochs:
        return None
    if recipe.measure.startswith("validation"):
        return max(e["val_acc"] for e in epochs)
    best = max(epochs, key=lambda e: e["val_acc"])  # the checkpointed epoch
    return json.loads(best["extra_json"] or "{}").get("val_keras_acc")


def reproduce(report: str, *, results_dir: Path, overrides: dict[str, Any], argv: list[str],
              verbose: bool = False, live: bool = True) -> list[dict[str, Any]]:  # fmt: skip
    """Run every recipe of `report`; one row per recipe: published and ours, with the notes."""
    from harness.export import export_trial
    from harness.leaderboard import best_trial_id
    from harness.sweep import run_sweep

    preset = get_preset(report)
    specs = [recipe_spec(r, overrides).validate() for r in preset.recipes]  # every mistake before any run
    rows = []
    for recipe, spec in zip(preset.recipes, specs):
        sweep_id = run_sweep(spec, results_dir=results_dir, argv=argv, verbose=verbose, live=live)
        with Store.existing(results_dir) as store:
            trial_id = best_trial_id(store, spec.task, sweep_id=sweep_id)
            verification = export_trial(store, trial_id=trial_id, out_dir=results_dir / "onnx") if trial_id else None
            test = verification.torch_metric if verification else None
            ours = _ours(store, trial_id, recipe, test) if trial_id else None
        rows.append({
            "report": report, "recipe": recipe.label, "arch": spec.archs[0], "task": spec.task,
            "measure": recipe.measure, "published": recipe.published, "ours": ours, "ours_test": test,
            "epochs": spec.epochs, "trial_id": trial_id, "sweep_id": sweep_id, "notes": recipe.notes,
        })  # fmt: skip
    return rows
