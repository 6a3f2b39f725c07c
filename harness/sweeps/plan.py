"""The plan of a sweep: what one Ray Tune Tuner runs, recorded as one sweep.

A plan is a sweep spec's search space (grid, random or Optuna, FIFO or ASHA), or a report's
recipes (`harness reproduce`), each one trial run exactly as given, side by side. It also
decides each trial's resources and resolves every path and default on the driver.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, Repeater
from ray.tune.search.repeater import TRIAL_INDEX

from harness.config.replicates import replicate_config, replicate_seed
from harness.config.spec import SweepSpec
from harness.datasets import get_task, resolve_data_root
from harness.errors import HarnessError
from harness.paths import absolute_storage

GPU_SHARE = 0.25  # small image models: four trials pack onto one GPU by default
CPU_STEP = 0.01  # a fractional CPU share is rounded down to this (Ray keeps resources to 1e-4)


def gpu_slots(*, gpus: float, share: float) -> int:
    """How many trials asking `share` of a GPU a node with `gpus` GPUs runs at once: Ray packs
    a share below 1 onto one GPU (0.25 -> 4 per GPU, 0.3 -> 3) and gives whole GPUs otherwise."""
    if share < 1:
        return int(gpus) * int(1 / share + 1e-9)
    return int(gpus // share)


def packed_cpus(nodes: list[dict[str, float]], *, share: float) -> float | None:
    """CPUs per trial that let every GPU of every GPU node hold its trials: the node's CPUs /
    its slots (gpu_slots), the smallest over the GPU nodes, so no GPU idles while CPUs run out.
    Whole CPUs (rounded down) where a node has one per slot or more; else the fraction, rounded
    down to CPU_STEP (trials then share a core, which Ray allows). None without a GPU node."""
    per_slot = [
        n["CPU"] / slots for n in nodes if n["GPU"] > 0 and (slots := gpu_slots(gpus=n["GPU"], share=share)) > 0
    ]
    if not per_slot or min(per_slot) <= 0:
        return None
    cpus = min(per_slot)
    if cpus >= 1:
        return float(int(cpus))
    return max(CPU_STEP, round(int(cpus / CPU_STEP + 1e-9) * CPU_STEP, 4))


def trial_resources(spec: SweepSpec, *, nodes: list[dict[str, float]]) -> dict[str, float]:
    """A trial's {"cpu", "gpu"} on a cluster of `nodes` ({"CPU", "GPU"} each, cluster.node_resources).

    The default GPU share follows the cluster's GPUs, not the driver's (a CPU-only driver may
    drive a GPU cluster): GPU_SHARE where some node has a GPU, else none. CPUs: as given; else,
    for GPU trials, the packing share (packed_cpus), so `--gpus-per-trial 0.25` really runs 4
    trials on every GPU; for CPU trials one each: on CPU-only machines one single-threaded
    trial per core gives more total throughput than fewer multi-threaded ones."""
    has_gpus = any(n["GPU"] > 0 for n in nodes)
    gpus = spec.gpus_per_trial if spec.gpus_per_trial is not None else (GPU_SHARE if has_gpus else 0.0)
    cpus = spec.cpus_per_trial
    if cpus is None:
        cpus = (packed_cpus(nodes, share=gpus) if gpus > 0 else None) or 1.0
    return {"cpu": cpus, "gpu": gpus}


def param_space(spec: SweepSpec) -> dict[str, Any]:
    """Ray Tune's space (open: each value is a setting's own type or one of Tune's samplers): the
    settings every trial shares as they are; grid_search over every searched list for a grid,
    choices (and a log-uniform learning rate when a range is given) for random and Optuna
    search; the seed as `seed_space` says."""
    pick = tune.grid_search if spec.search == "grid" else tune.choice
    searched = {key: pick(list(values)) for key, values in spec.searched().items() if key != "seed"}
    space = {**spec.shared(), **searched, **seed_space(spec, pick)}
    if spec.lr_range:
        space["lr"] = tune.loguniform(*spec.lr_range)
    return space


def seed_space(spec: SweepSpec, pick: Callable[[list], Any]) -> dict[str, Any]:
    """The seed's part of the space. Optuna: none, the seed is never a dimension it tunes
    (SeededRepeater sets it). Grid and random: the seeds as any list, and with repeats a grid over
    the replicate index and the seed derived from both (harness.config.replicates)."""
    if spec.search == "optuna":
        return {}
    if spec.repeats == 1:
        return {"seed": pick(list(spec.seeds))}
    return {
        "base_seed": pick(list(spec.seeds)),
        "replicate": tune.grid_search(list(range(spec.repeats))),
        "seed": tune.sample_from(_derived_seed),
    }


def _derived_seed(spec: Any) -> int:
    return replicate_seed(spec.config.base_seed, spec.config.replicate)


class SeededRepeater(Repeater):
    """Ray Tune's Repeater (each configuration the wrapped searcher suggests runs `replicates`
    times; the searcher is told the mean of their metric when the last one ends), which also
    writes each replicate's seed into its config: seed i of a group is replicate i % repeats of
    seeds[i // repeats]. A resumed sweep rebuilds its groups from the store (harness.sweeps.resume)."""

    def __init__(self, searcher: Any, *, seeds: tuple[int, ...], repeats: int) -> None:
        super().__init__(searcher, repeat=len(seeds) * repeats, set_index=True)
        self.seeds, self.repeats = seeds, repeats

    def suggest(self, trial_id: str) -> dict | None:
        config = super().suggest(trial_id)
        if isinstance(config, dict):  # not None (wait) or Searcher.FINISHED
            index = config.pop(TRIAL_INDEX)
            base, replicate = self.seeds[index // self.repeats], index % self.repeats
            config.update(replicate_config(base=base, replicate=replicate, repeats=self.repeats))
        return config


def search_algorithm(spec: SweepSpec) -> Any:
    """Grid and random: Tune's variant generator, which draws a random configuration once for all
    its replicates (constant_grid_search: the replicate index is a grid). Optuna: OptunaSearch
    behind SeededRepeater. Either keeps the sweep's limit on concurrent trials."""
    if spec.search != "optuna":
        return BasicVariantGenerator(constant_grid_search=True, max_concurrent=spec.max_concurrent or 0)
    from ray.tune.search.optuna import OptunaSearch

    # numpy seeds Optuna's sampler, with 32 bits; the sweep's seed runs to 2**63-1
    searcher = SeededRepeater(OptunaSearch(seed=spec.seed % 2**32), seeds=spec.seeds, repeats=spec.repeats)
    return ConcurrencyLimiter(searcher, max_concurrent=spec.max_concurrent) if spec.max_concurrent else searcher


def scheduler(spec: SweepSpec) -> Any:
    """FIFO runs every trial to its last epoch; ASHA stops trials that trail at each rung
    (epochs 1, 2, 4, ... with reduction factor 2), so more of the budget goes to good ones."""
    if spec.scheduler == "fifo":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(**asha_settings(spec))


def asha_settings(spec: SweepSpec) -> dict[str, Any]:
    # By the epoch the trial reports: a trial resumed from its best checkpoint counts from there,
    # while Tune's own iteration count starts again at 1.
    return {"time_attr": "epoch", "max_t": spec.epochs, "grace_period": 1, "reduction_factor": 2}


def explicit_space(points: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A space that runs exactly `points` (each a whole config with the same keys): the values they
    share as they are, a choice over each that differs, since Tune's points to evaluate must be
    points of the space; and the points reduced to those choices."""
    space: dict[str, Any] = {}
    for key in points[0]:
        values = list(dict.fromkeys(json.dumps(p[key], sort_keys=True) for p in points))
        decoded = [json.loads(v) for v in values]
        space[key] = decoded[0] if len(decoded) == 1 else tune.choice(decoded)
    domains = [k for k, v in space.items() if isinstance(v, tune.search.sample.Domain)]
    return space, [{k: p[k] for k in domains} for p in points]


def init_file(init: str, results_dir: Path) -> str:
    """--init's weights as a file: the file itself, or the best checkpoint of the store's trial."""
    if init.startswith("/"):
        return init
    from harness.engine.checkpoint import CHECKPOINT_FILE
    from harness.store.db import Store

    with Store.existing(results_dir) as store:
        trial = store.trial(init)
    if not trial["checkpoint_path"]:
        raise HarnessError(
            f"trial {trial['id']} has no checkpoint to start from", "pick a trial that finished an epoch"
        )
    path = Path(trial["checkpoint_path"]) / CHECKPOINT_FILE
    if not path.is_file():
        raise HarnessError(f"the checkpoint of trial {trial['id']} is gone ({path})", "pick another trial")
    return str(path)


def resolved(spec: SweepSpec, results_dir: Path) -> SweepSpec:
    """Paths absolute and defaults filled in, on the driver: trials run in Ray's own working
    folder and on other nodes, so they get the path and the defaults, not our environment."""
    request = get_task(spec.task).request(spec.variant, spec.image_size)
    storage = absolute_storage(spec.storage) if spec.storage else str(results_dir / "ray")
    return replace(
        spec,
        init=init_file(spec.init, results_dir) if spec.init else None,
        data_dir=str(resolve_data_root(spec.data_dir)) if get_task(spec.task).reads_data_dir else None,
        variant=request.variant,
        image_size=request.image_size,
        storage=storage,
    )


@dataclass(frozen=True)
class Plan:
    """What one Tuner runs, recorded as one sweep: a spec's search space, or (`harness
    reproduce`) a report's recipes, each one trial run exactly as given, side by side."""

    spec: SweepSpec  # the sweep; for recipes, the first one's (resources, address, storage)
    recipes: tuple[tuple[str, SweepSpec], ...] = ()  # (label, one-trial spec), in the report's order
    report: str | None = None
    not_run: dict[str, str] = field(default_factory=dict)  # recipe label -> what data is missing

    @classmethod
    def of_recipes(cls, report: str, recipes: list[tuple[str, SweepSpec]], not_run: dict[str, str]) -> Plan:
        return cls(spec=recipes[0][1], recipes=tuple(recipes), report=report, not_run=dict(not_run))

    @property
    def specs(self) -> tuple[SweepSpec, ...]:
        return tuple(s for _, s in self.recipes) or (self.spec,)

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.task for s in self.specs))

    @property
    def archs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a for s in self.specs for a in s.archs))

    @property
    def num_trials(self) -> int:
        return len(self.recipes) if self.recipes else self.spec.num_trials

    @property
    def title(self) -> str:
        return f"reproduce {self.report}" if self.report else self.spec.task

    def resolved(self, results_dir: Path) -> Plan:
        return replace(
            self,
            spec=resolved(self.spec, results_dir),
            recipes=tuple((label, resolved(s, results_dir)) for label, s in self.recipes),
        )

    def points(self) -> list[dict[str, Any]]:
        """The recipes as trial configs, each with its label."""
        return [
            {**s.shared(), **{key: values[0] for key, values in s.searched().items()}, "recipe": label}
            for label, s in self.recipes
        ]

    def space(self) -> dict[str, Any]:
        """A spec's space; for recipes, one that runs exactly the recipes (explicit_space)."""
        return explicit_space(self.points())[0] if self.recipes else param_space(self.spec)

    def tune_config(self, metric: str, mode: str) -> tune.TuneConfig:
        if self.recipes:
            search, schedule = BasicVariantGenerator(points_to_evaluate=explicit_space(self.points())[1]), None
        else:
            search, schedule = search_algorithm(self.spec), scheduler(self.spec)
        # Tune's draws: Optuna's are configurations, each run once per replicate (one group
        # of SeededRepeater each); a grid or random space holds its replicates itself.
        samples = self.num_trials if self.recipes or self.spec.search == "optuna" else self.spec.num_samples
        return self.tuned(metric, mode, search=search, scheduler=schedule, num_samples=samples)

    def tuned(self, metric: str, mode: str, *, search: Any, scheduler: Any, num_samples: int) -> tune.TuneConfig:
        """Tune's config for this plan with the given searcher and scheduler (a resume has its own)."""
        return tune.TuneConfig(
            metric=metric,
            mode=mode,
            search_alg=search,
            scheduler=scheduler,
            num_samples=num_samples,
            # the searcher holds the limit (Tune ignores this one for a variant generator)
            max_concurrent_trials=None,
            time_budget_s=self.spec.time_budget_s,
            # Reusing trial processes skips a Python start and a torch import per trial:
            # the default sweep takes about 23 s instead of 40 s on 2 cores.
            reuse_actors=True,
        )

    def to_json(self) -> str:
        """What the store keeps of the plan: the spec itself for a sweep (as every release wrote it)."""
        if not self.recipes:
            return self.spec.to_json()
        return json.dumps(
            {
                "reproduce": self.report,
                "not_run": self.not_run,
                "recipes": [{"label": label, "spec": asdict(s)} for label, s in self.recipes],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        if "reproduce" not in data:
            return cls(spec=SweepSpec.from_json(text))
        recipes = [(r["label"], SweepSpec.from_json(json.dumps(r["spec"]))) for r in data["recipes"]]
        return cls.of_recipes(data["reproduce"], recipes, data.get("not_run", {}))
