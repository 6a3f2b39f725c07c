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
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, TypeGuard, cast

import numpy as np
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher
from ray.tune.search.variant_generator import generate_variants

from harness.config.replicates import REPLICATE_KEYS, replicate_config
from harness.engine.checkpoint import checkpoint_damage
from harness.engine.recorded import CONTINUES, Recorded, stored_id
from harness.engine.reported import EpochReport
from harness.kinds import Status
from harness.store.rows import StoredTrial
from harness.sweeps.plan import Plan, SeededRepeater, asha_settings, explicit_space, param_space
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
class _Group:
    """One configuration's replicates: the metric of those that ended, and how many still run."""

    params: dict[str, Any]  # Optuna's parameters of it
    rewards: list[float] = field(default_factory=list)
    pending: int = 0


@dataclass(frozen=True)
class Resumption:
    """What a resumed sweep runs: `points` first, as given, then `draws` new configurations."""

    points: list[dict[str, Any]]  # continuing trials (CONTINUES: their store id) and what never started
    draws: int  # Optuna: configurations still to draw (each run `replicates` times)
    groups: dict[str, _Group]  # Optuna: configurations by canonical key, finished or pending
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
        damage = checkpoint_damage(path, metric=metric) if path and "://" not in storage else None
        if damage:
            restarted[t["ray_id"]] = damage
        elif path:
            checkpoints[t["ray_id"]] = path
        points.append({**configs[t["id"]], CONTINUES: t["ray_id"]})
    stored = Counter(canonical(c) for c in configs.values())
    missing, drawn = _never_started(plan, list(configs.values()), stored)
    groups = _optuna_groups(plan, trials, configs, points + missing, metric) if _optuna(plan) else {}
    draws = max(0, plan.spec.num_samples - drawn) if _optuna(plan) else 0
    return Resumption(
        points=[{CONTINUES: "", **p} for p in points + missing],
        draws=draws,
        groups=groups,
        history={t["ray_id"]: [(e["epoch"], e[metric]) for e in t["epochs"] if _finite(e.get(metric))] for t in trials},
        recorded=Recorded(checkpoints=checkpoints, storage=storage),
        restarted=restarted,
        stored=trials,
    )


def _optuna(plan: Plan) -> bool:
    return not plan.recipes and plan.spec.search == "optuna"


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _never_started(plan: Plan, configs: list[dict[str, Any]], stored: Counter[str]) -> tuple[list[dict], int]:
    """The trials of the plan the store has no row of, and how many of the plan's draws (random,
    Optuna) the stored trials account for."""
    spec = plan.spec
    if plan.recipes:
        ran = {c.get("recipe") for c in configs}
        return [p for p in plan.points() if p["recipe"] not in ran], 0
    if spec.search == "grid":  # the whole grid (num_samples times), less what the store holds
        grid = [variant for _ in range(spec.num_samples) for variant in _variants(plan, seed=spec.seed)]
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
        key = canonical(members[0])
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
) -> dict[str, _Group]:
    """Optuna's configurations by key: the metric each ended replicate reached (its last epoch, as
    Tune handed it to the Repeater), and how many replicates the resume still runs."""
    keys = [k for k in plan.spec.searched() if k != "seed"]
    groups: dict[str, _Group] = {}

    def group(config: Mapping[str, Any]) -> _Group:
        key = canonical(_members(plan, config)[0])
        return groups.setdefault(key, _Group(params={k: config[k] for k in keys}))

    for t in trials:
        if has_ended(t):
            g = group(configs[t["id"]])
            last = t["epochs"][-1].get(metric) if t["epochs"] else None
            if _finite(last):
                g.rewards.append(float(last))
    for config in pending:
        group(config).pending += 1
    return groups


def group_key(plan: Plan, config: Mapping[str, Any]) -> str:
    return canonical(_members(plan, config)[0])


class ResumedSearch(Searcher):
    """Optuna's searcher (behind SeededRepeater) on a resume: hands out the resume's points first
    (continuing trials, missing replicates), tells Optuna the mean of a configuration once its last
    replicate ends, then draws as usual. Optuna itself starts from the finished configurations."""

    def __init__(self, searcher: Searcher, *, optuna: Any, resumption: Resumption, plan: Plan, metric: str) -> None:
        super().__init__(metric=metric, mode=searcher.mode)
        self.searcher, self.optuna, self.plan = searcher, optuna, plan
        self.queue = list(resumption.points)
        self.groups = resumption.groups
        self.mine: dict[str, str] = {}  # Tune's trial id -> its configuration's key

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.searcher.set_max_concurrency(max_concurrent)

    def suggest(self, trial_id: str) -> dict | None:
        if self.queue:
            config = self.queue.pop(0)
            self.mine[trial_id] = group_key(self.plan, config)
            return config
        return self.searcher.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in self.mine:
            self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        key = self.mine.pop(trial_id, None)
        if key is None:
            self.searcher.on_trial_complete(trial_id, result=result, error=error)
            return
        group = self.groups[key]
        value = (result or {}).get(self.metric)
        if not error and _finite(value):
            group.rewards.append(float(value))
        group.pending -= 1
        if group.pending == 0 and group.rewards:
            self.optuna.add_evaluated_point(group.params, statistics.fmean(group.rewards))

    # Tune saves each searcher's state on its own cadence; a resume never reads it back.
    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def get_state(self) -> dict:
        return {"queue": self.queue, "mine": self.mine}

    def restore(self, checkpoint_path: str) -> None:
        raise NotImplementedError("a resume re-plans from the store (harness.sweeps.resume)")

    def set_state(self, state: dict) -> None:
        raise NotImplementedError("a resume re-plans from the store (harness.sweeps.resume)")


def optuna_search(plan: Plan, resumption: Resumption, *, metric: str) -> Searcher:
    """Optuna for a resumed sweep: seeded with every finished configuration's mean, and with a seed
    moved on by them (the same seed would draw the configurations already run again)."""
    from ray.tune.search.optuna import OptunaSearch

    spec = plan.spec
    finished = [g for g in resumption.groups.values() if g.pending == 0 and g.rewards]
    optuna = OptunaSearch(
        seed=(spec.seed + len(resumption.groups)) % 2**32,
        points_to_evaluate=[g.params for g in finished] or None,
        evaluated_rewards=[statistics.fmean(g.rewards) for g in finished] or None,
    )
    repeated = SeededRepeater(optuna, seeds=spec.seeds, repeats=spec.repeats)
    search: Searcher = ResumedSearch(repeated, optuna=optuna, resumption=resumption, plan=plan, metric=metric)
    return ConcurrencyLimiter(search, max_concurrent=spec.max_concurrent) if spec.max_concurrent else search


class StoredIdASHA(ASHAScheduler):
    """ASHA that knows trials by their store id (a continuing trial is the one it continues) and
    starts with the rungs its stored epochs filled, as if it had watched them."""

    def __init__(self, *, history: Mapping[str, list[tuple[int, float]]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._history: Mapping[str, list[tuple[int, float]]] | None = history

    def _refill(self) -> None:
        if self._history is None or self._metric_op is None:  # once, when Tune has set the metric's direction
            return
        for trial_id, epochs in self._history.items():
            for epoch, value in epochs:  # a bracket reads only the trial's id
                self._brackets[0].on_result(
                    cast(Any, SimpleNamespace(trial_id=trial_id)), epoch, self._metric_op * value
                )
        self._history = None

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self._refill()
        super().on_trial_add(tune_controller, _as_stored(trial))

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        return super().on_trial_result(tune_controller, _as_stored(trial), result)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        super().on_trial_complete(tune_controller, _as_stored(trial), result)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_remove(tune_controller, _as_stored(trial))


def _as_stored(trial: Any) -> Any:
    return SimpleNamespace(trial_id=stored_id(trial.trial_id, trial.config))


def resumed_search(plan: Plan, resumption: Resumption, *, metric: str) -> tuple[dict[str, Any], Any, Any, int]:
    """The fresh Tuner's space, searcher, scheduler and number of trials."""
    spec = plan.spec
    search: Any
    if _optuna(plan):
        search, space = optuna_search(plan, resumption, metric=metric), param_space(spec)
        num_samples = len(resumption.points) + resumption.draws * spec.replicates
    else:
        space, points = explicit_space(resumption.points)
        search = BasicVariantGenerator(points_to_evaluate=points, max_concurrent=spec.max_concurrent or 0)
        num_samples = len(points)
    schedule = None
    if not plan.recipes and spec.scheduler == "asha":
        schedule = StoredIdASHA(history=resumption.history, **asha_settings(spec))
    return space, search, schedule, num_samples


def show_stored(display: Progress, trials: list[StoredTrial]) -> None:
    """A resumed sweep's display starts from the store: each trial with its stored epochs, and
    those that ended as they ended."""
    for t in trials:
        display.trial_started(t["ray_id"], json.loads(t["config_json"]))
        for epoch in t["epochs"]:
            display.trial_result(t["ray_id"], cast(EpochReport, epoch))
        if has_ended(t):
            display.trial_ended(t["ray_id"], Status(t["status"]))
