"""`harness reproduce REPORT`: plan a report's recipes and run them (harness.report.compare sets
ours beside its figures).

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
from harness.sweeps.outcome import Outcome
from harness.sweeps.reporter import Reporter


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


def plan_reproduction(
    report: str, overrides: dict[str, Any], *, skip_missing: bool = False, recipes: list[str] | None = None
) -> Any:
    """The report's recipes (or those labelled in `recipes`) as one plan; every mistake and every
    missing file found first."""
    from harness.sweeps.plan import Plan

    preset = get_preset(report)
    chosen = select_recipes(report, preset.recipes, recipes)
    specs = [(r, recipe_spec(r, overrides).validate()) for r in chosen]
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


def select_recipes(report: str, recipes: tuple[Recipe, ...], labels: list[str] | None) -> list[Recipe]:
    """The recipes named by `labels` (a label as the report names the run, any case), in the
    report's order; all of them without labels."""
    if not labels:
        return list(recipes)
    by_label = {r.label.casefold(): r for r in recipes}
    unknown = [label for label in labels if label.casefold() not in by_label]
    if unknown:
        raise HarnessError(
            f"{report} has no recipe {unknown[0]!r}",
            "pass one of " + ", ".join(repr(r.label) for r in recipes) + " to --recipe",
        )
    wanted = {label.casefold() for label in labels}
    return [r for r in recipes if r.label.casefold() in wanted]


def reproduce(
    plan: Any, *, results_dir: Path, argv: list[str], verbose: bool = False, reporter: Reporter | None = None
) -> Outcome:
    """Run the recipes of a `plan_reproduction` (all at once); harness.report.compare.finish
    then sets each recipe's trial beside its published figure."""
    from harness.sweeps.driver import run_plan

    return run_plan(plan, results_dir=results_dir, argv=argv, verbose=verbose, reporter=reporter)


def resume_reproduction(
    report: str, sweep_id: str | None, *, results_dir: Path, verbose: bool = False, reporter: Reporter | None = None
) -> Outcome:
    """Continue the latest (or the named) interrupted reproduction of `report`."""
    from harness.sweeps.driver import resume_sweep

    return resume_sweep(results_dir, sweep_id, verbose=verbose, reporter=reporter, report=report)
