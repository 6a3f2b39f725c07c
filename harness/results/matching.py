"""Like for like: did a stored trial run what a report ran, and if not, how does it differ?

A published figure gets "ours" only from a trial of the same network on the same data and
budget: task, split (variant), image size, input scaling, framework defaults, all of the recipe's epochs, and the
whole training set (no --train-limit). Anything else is a different experiment, shown as the
closest run with its differences spelled out, never as a reproduction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from harness.formats import plural
from harness.store.rows import TrialRow

if TYPE_CHECKING:
    from harness.config.spec import SweepSpec
    from harness.store.db import Store

__all__ = [
    "RecipeTerms",
    "Terms",
    "TrialTerms",
    "budget_marks",
    "config_of",
    "data_difference",
    "data_notes",
    "differences",
    "recipe_terms",
    "trial_terms",
]


class Terms(TypedDict):
    """What a run must share with a recipe to count as a run of it (`recipe_terms`)."""

    task: str
    arch: str
    variant: str | None
    image_size: int | None  # pixels
    pixels: str  # input scaling; "standard" when none was given
    framework: str


class RecipeTerms(Terms):
    """A recipe's terms (`recipe_terms`)."""

    epochs: int  # planned


class TrialTerms(Terms):
    """A stored trial's terms (`trial_terms`), with what its budget was cut to."""

    epochs: float  # run (a mean over seeds is a float)
    planned_epochs: int | None
    train_limit: int | None  # training images, when a subset
    eval_limit: int | None  # validation images, when a subset
    data: str | None  # how its data was not the task's own (class folders left out), in words; None: it was


def recipe_terms(spec: SweepSpec) -> RecipeTerms:
    """A recipe's terms (a one-trial spec), defaults filled in as a sweep fills them."""
    from harness.datasets import get_task

    request = get_task(spec.task).request(spec.variant, spec.image_size)
    return {
        "task": spec.task,
        "arch": spec.archs[0],
        "variant": request.variant,
        "image_size": request.image_size,
        "pixels": spec.pixels or "standard",
        "framework": spec.framework,
        "epochs": spec.epochs,
    }


def data_difference(notes: list[str]) -> str | None:
    """What the notes of a trial's data (harness.datasets: folders the task did not know) say
    about it, in words for a board; None when the data was the task's own."""
    left_out = [note.rpartition(": ")[2] for note in notes]
    return f"other data: folders {', '.join(left_out)} left out" if left_out else None


def _request(config: dict[str, Any]) -> tuple[str | None, int | None]:
    """The trial's split and image size, defaults filled in where its task is known here (a
    folder that is gone, or a plugin's task not loaded, keeps what the config says)."""
    from harness.datasets import stored_task
    from harness.errors import HarnessError

    try:
        request = stored_task(config["task"]).request(config.get("variant"), config.get("image_size"))
    except HarnessError:  # a value the task no longer takes
        return config.get("variant"), config.get("image_size")
    return request.variant, request.image_size


def trial_terms(config: dict[str, Any], epochs_run: float | None, data_notes: list[str] | None = None) -> TrialTerms:
    """The same terms of a stored trial, from its whole config (`config_of`) and the epochs it
    really ran (a count; a mean over seeds is a float). Read key by key, not as a `TrialSpec`:
    only these keys must be there (a hand-made row, as the tests and older tools write, may
    lack the optimizer, learning rate, batch size or seed that a TrialSpec requires).
    `data_notes`: what its sweep recorded of its data's notes (`data_difference`)."""
    variant, image_size = _request(config)
    return {
        "task": config["task"],
        "arch": config["arch"],
        "variant": variant,
        "image_size": image_size,
        "pixels": config.get("pixels") or "standard",
        "framework": config.get("framework") or "pytorch",  # stored before the setting: PyTorch's
        "epochs": epochs_run or 0,
        "planned_epochs": config.get("epochs"),
        "train_limit": config.get("train_limit"),
        "eval_limit": config.get("eval_limit"),
        "data": data_difference(data_notes or []),
    }


def data_notes(store: Store, rows: Sequence[TrialRow]) -> dict[str, list[str]]:
    """Each trial's data notes (`trial_terms`' `data_notes`), from what its sweep recorded of its
    data (a reproduction: per recipe); [] where nothing was left out or nothing was recorded."""
    recorded = {
        sweep: json.loads(store.sweep(sweep)["environment_json"] or "{}").get("data") or {}
        for sweep in {row["sweep_id"] for row in rows}
    }
    out = {}
    for row in rows:
        data = recorded[row["sweep_id"]]
        if "source" not in data:  # a reproduction's: one record per recipe label
            data = data.get(config_of(row).get("recipe"), {})
        out[row["id"]] = list(data.get("notes", []))
    return out


def config_of(row: TrialRow) -> dict[str, Any]:
    """A store trial row's whole config (older stores kept only the columns). An open dict, not
    a `TrialSpec`: JSON read back from the store, which also holds what the plan adds beside
    the trial's settings (a reproduction's `recipe` label, a replicate's `base_seed` and
    `replicate`), and what releases before this one stored."""
    return json.loads(row.get("config_json") or "{}") or {
        "task": row["task"],
        "arch": row["arch"],
        "optimizer": row["optimizer"],
        "lr": row["lr"],
        "batch_size": row["batch_size"],
        "epochs": row["epochs"],
        "seed": row["seed"],
    }


def differences(trial: TrialTerms, recipe: RecipeTerms) -> list[str]:
    """What keeps a trial (`trial_terms`) from being a run of the recipe (`recipe_terms`), in
    words; empty when it is one."""
    out = []
    if trial["task"] != recipe["task"]:
        out.append(f"task {trial['task']}")
    if trial["arch"] != recipe["arch"]:
        out.append(f"{trial['arch']}, not {recipe['arch']}")
    if trial["variant"] != recipe["variant"]:
        out.append(f"split {trial['variant']}, not {recipe['variant']}")
    if trial["image_size"] != recipe["image_size"]:
        out.append(f"{trial['image_size']} px, not {recipe['image_size']}")
    if trial["pixels"] != recipe["pixels"]:
        out.append(f"{trial['pixels']} input scaling, not {recipe['pixels']}")
    if trial["framework"] != recipe["framework"]:
        out.append(f"{trial['framework']} defaults, not {recipe['framework']}")
    if trial["data"]:
        out.append(trial["data"])
    out += budget_marks(trial, recipe_epochs=recipe["epochs"])
    return out


def budget_marks(trial: TrialTerms, *, recipe_epochs: int | None = None) -> list[str]:
    """A trial's reduced budget, e.g. ["subset 200", "1 of 40 epochs"]: against the recipe's
    epochs when given, else against the trial's own plan (ASHA, a time budget, Ctrl-C)."""
    marks = []
    if trial.get("train_limit"):
        marks.append(f"subset {trial['train_limit']:,}")
    if trial.get("eval_limit"):
        marks.append(f"val subset {trial['eval_limit']:,}")
    goal = recipe_epochs if recipe_epochs is not None else trial.get("planned_epochs")
    if goal and trial["epochs"] < goal:
        marks.append(f"{trial['epochs']} of {plural(goal, 'epoch')}")
    elif goal and trial["epochs"] > goal:
        marks.append(f"{plural(trial['epochs'], 'epoch')}, not {goal}")
    return marks
