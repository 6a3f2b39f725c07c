"""A resumed sweep's Tune objects (harness.sweeps.resume plans what they run): a searcher that
hands out the re-planned points before Optuna draws, Optuna seeded with the store's finished
configurations, and ASHA with its rungs refilled from the stored epochs."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, cast

from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Searcher

from harness.engine.recorded import stored_id
from harness.sweeps.plan import Plan, SeededRepeater, asha_settings, explicit_space, param_space
from harness.sweeps.resume import Resumption, finite, group_key, searched_by_optuna


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
        if not error and finite(value):
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
    if searched_by_optuna(plan):
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
