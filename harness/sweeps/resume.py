"""Resuming a sweep from the store alone: nothing Ray Tune saved is read.

Tune's own resume (`Tuner.restore`) unpickles `tuner.pkl` and its searcher's state from the
storage folder, and unpickling runs whatever code a planted file names: anyone who could write a
shared results folder would run code as whoever resumes. The store holds what a resume needs
(each trial's config, status, epochs and best checkpoint), so a resumed sweep is a fresh Tuner over
what is left of the plan:

- a trial that ended stays as it is and never runs again;
- a trial that had not ended continues from its best checkpoint, under Tune's new id with its
  store id in the config (`CONTINUES`); the checkpoint is loaded (weights only) on the driver
  first, and a damaged one starts its trial again from epoch 1, said in one line;
- what never started is planned again from the store's configs: the grid's missing points, the
  recipes not run, the missing replicates of a started configuration, new random draws;
- Optuna starts from every finished configuration and the mean of its replicates, learns the
  mean of each configuration the resume completes, and draws the rest;
- ASHA's rungs are refilled from the stored epochs, so its cut-offs stand as they were.

The Tune objects that carry this out are in harness.sweeps.resume_tune.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard, cast

import numpy as np
from ray.tune.search.variant_generator import generate_variants

from harness.config.replicates import REPLICATE_KEYS, replicate_config
from harness.engine.checkpoint import checkpoint_damage
from harness.engine.recorded import CONTINUES, Recorded
from harness.engine.reported import EpochReport
from harness.kinds import Status
from harness.paths import is_uri
from harness.store.rows import StoredTrial
from harness.sweeps.plan import Plan, param_space
from harness.sweeps.reporter import Progress


def canonical(config: Mapping[str, Any]) -> str:
    """A trial's config as the store keeps it (`config_json`), without the resume's own key."""
    return json.dumps({k: v for k, v in config.items() if k != CONTINUES}, sort_keys=True, default=str)


def has_ended(trial: StoredTrial) -> bool:
    """It ended for good (finished, stopped, diverged, an error); an interrupted or running one continues."""
    if trial["status"] == Status.DIVERGED:  # marked with its last epoch, maybe before Tune heard it end
        return True
    return trial["ended_at"] is not None and trial["status"] != Status.INTERRUPTED


def _members(plan: Plan, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every trial of the configuration `config` belongs to (its replicates), as the plan runs them."""
    spec = plan.spec
    base = {k: v for k, v in config.items() if k not in REPLICATE_KEYS and k != CONTINUES}
    if spec.search == "optuna":  # SeededRepeater: every seed, each `repeats` times
        return [
            {**base, **replicate_config(base=s, replicate=r, repeats=spec.repeats)}
            for s in spec.seeds
            for r in range(spec.repeats)
        ]
    if spec.repeats > 1:  # a random draw's replicates share its base seed
        return [
            {**base, **replicate_config(base=config["base_seed"], replicate=r, repeats=spec.repeats)}
            for r in range(spec.repeats)
        ]
    return [{k: v for k, v in config.items() if k != CONTINUES}]


@dataclass
class Group:
    """One configuration's replicates: the metric of those that ended, and how many still run."""

    params: dict[str, Any]  # Optuna's parameters of it
    rewards: list[float] = field(default_factory=list)
    pending: int = 0


@dataclass(frozen=True)
class Resumption:
    """What a resumed sweep runs: `points` first, as given, then `draws` new configurations."""

    points: list[dict[str, Any]]  # continuing trials (CONTINUES: their store id) and what never started
    draws: int  # Optuna: configurations still to draw (each run `replicates` times)
    groups: dict[str, Group]  # Optuna: configurations by canonical key, finished or pending
    history: dict[str, list[tuple[int, float]]]  # ASHA: each stored trial's (epoch, metric)
    recorded: Recorded  # the checked checkpoints the continuing trials start from
    restarted: dict[str, str]  # continuing trial (store id) -> why its checkpoint could not be used
    stored: list[StoredTrial]  # the store's trials as the resume found them (the display starts from them)

    @property
    def empty(self) -> bool:
        return not self.points and not self.draws


def replan(plan: Plan, trials: list[StoredTrial], *, metric: str, storage: str) -> Resumption:
    """What is left of `plan` after the stored `trials`; the continuing trials' checkpoints are
    loaded here, on the driver, before Ray starts (`storage`: the sweep's, for their paths)."""
    configs = {t["id"]: json.loads(t["config_json"]) for t in trials}
    checkpoints: dict[str, str] = {}
    restarted: dict[str, str] = {}
    points: list[dict[str, Any]] = []
    for t in trials:
        if has_ended(t):
            continue
        path = t["checkpoint_path"]
        damage = checkpoint_damage(path, metric=metric) if path and not is_uri(storage) else None
        if damage:
            restarted[t["ray_id"]] = damage
        elif path:
            checkpoints[t["ray_id"]] = path
        points.append({**configs[t["id"]], CONTINUES: t["ray_id"]})
    stored = Counter(canonical(c) for c in configs.values())
    missing, drawn = _never_started(plan, list(configs.values()), stored)
    groups = _optuna_groups(plan, trials, configs, points + missing, metric) if searched_by_optuna(plan) else {}
    draws = max(0, plan.spec.num_samples - drawn) if searched_by_optuna(plan) else 0
    # A restarted trial's stored epochs go (Store.restart_trial): neither ASHA nor the display sees them.
    kept = [cast(StoredTrial, {**t, "epochs": []}) if t["ray_id"] in restarted else t for t in trials]
    return Resumption(
        points=[{CONTINUES: "", **p} for p in points + missing],
        draws=draws,
        groups=groups,
        history={t["ray_id"]: [(e["epoch"], e[metric]) for e in t["epochs"] if finite(e.get(metric))] for t in kept},
        recorded=Recorded(checkpoints=checkpoints, storage=storage),
        restarted=restarted,
        stored=kept,
    )


def searched_by_optuna(plan: Plan) -> bool:
    return not plan.recipes and plan.spec.search == "optuna"


def finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _never_started(plan: Plan, configs: list[dict[str, Any]], stored: Counter[str]) -> tuple[list[dict], int]:
    """The trials of the plan the store has no row of, and how many of the plan's draws (random,
    Optuna) the stored trials account for."""
    spec = plan.spec
    if plan.recipes:
        ran = {c.get("recipe") for c in configs}
        return [p for p in plan.points() if p["recipe"] not in ran], 0
    if spec.search == "grid":  # the whole grid (num_samples times), less what the store holds
        grid = [variant for _ in range(spec.num_samples) for variant in _variants(plan, seed=spec.seed % 2**32)]
        left = stored.copy()
        missing = []
        for variant in grid:
            key = canonical(variant)
            if left[key]:
                left[key] -= 1
            else:
                missing.append(variant)
        return missing, 0
    # Random and Optuna: each draw is a group of replicates; a started group runs its missing ones.
    missing, drawn, seen = [], 0, set()
    for config in configs:
        members = _members(plan, config)
        key = group_key(plan, config)
        if key in seen:
            continue
        seen.add(key)
        times = max(stored[canonical(m)] for m in members)  # two draws may have hit one configuration
        drawn += times
        missing += [m for m in members for _ in range(times - stored[canonical(m)])]
    if spec.search == "random":  # new draws, seeded: the sweep's seed and what the store holds
        state = np.random.RandomState((spec.seed + len(configs)) % 2**32)
        for _ in range(max(0, spec.num_samples - drawn)):
            missing += _variants(plan, seed=None, random_state=state)
    return missing, drawn


def _variants(plan: Plan, *, seed: int | None, random_state: np.random.RandomState | None = None) -> list[dict]:
    """One draw of the plan's space as Tune's variant generator makes it (constant grid: a random
    draw's replicates share it); for a grid, every point."""
    state = random_state or np.random.RandomState(seed)
    return [config for _, config in generate_variants(param_space(plan.spec), True, state)]


def _optuna_groups(
    plan: Plan,
    trials: list[StoredTrial],
    configs: Mapping[str, dict[str, Any]],
    pending: list[dict[str, Any]],
    metric: str,
) -> dict[str, Group]:
    """Optuna's configurations by key: the metric each ended replicate reached (its last epoch, as
    Tune handed it to the Repeater), and how many replicates the resume still runs."""
    keys = [k for k in plan.spec.searched() if k != "seed"]
    groups: dict[str, Group] = {}

    def group(config: Mapping[str, Any]) -> Group:
        return groups.setdefault(group_key(plan, config), Group(params={k: config[k] for k in keys}))

    for t in trials:
        if has_ended(t):
            g = group(configs[t["id"]])
            last = t["epochs"][-1].get(metric) if t["epochs"] else None
            if finite(last):
                g.rewards.append(float(last))
    for config in pending:
        group(config).pending += 1
    return groups


def group_key(plan: Plan, config: Mapping[str, Any]) -> str:
    """The configuration a trial belongs to, as its first replicate's canonical config."""
    return canonical(_members(plan, config)[0])


def show_stored(display: Progress, trials: list[StoredTrial]) -> None:
    """A resumed sweep's display starts from the store: each trial with its stored epochs, and
    those that ended as they ended."""
    for t in trials:
        display.trial_started(t["ray_id"], json.loads(t["config_json"]))
        for epoch in t["epochs"]:
            display.trial_result(t["ray_id"], cast(EpochReport, epoch))
        if has_ended(t):
            display.trial_ended(t["ray_id"], Status(t["status"]))
