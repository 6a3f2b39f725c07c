"""Sweeps on Ray Tune: the search space, resources, the Tuner, and the driver-side store writer.

The driver is the only writer of the store: `StoreCallback` receives each trial's results from
Ray's result stream and writes one transaction per epoch as it arrives.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import ray
from ray import tune

from harness.config import SweepSpec
from harness.console import SweepDisplay, err_console, print_warning
from harness.datasets import get_task, prepare, resolve_data_root
from harness.environment import collect_environment
from harness.store import Store
from harness.trial import run_trial

GPU_SHARE = 0.25  # small image models: four trials pack onto one GPU by default


def new_sweep_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def trial_resources(spec: SweepSpec, *, cuda: bool) -> dict[str, float]:
    """One CPU per trial by default: on CPU-only machines, one single-threaded trial per core
    gives more total throughput than fewer multi-threaded ones."""
    cpus = spec.cpus_per_trial if spec.cpus_per_trial is not None else 1.0
    gpus = spec.gpus_per_trial if spec.gpus_per_trial is not None else (GPU_SHARE if cuda else 0.0)
    return {"cpu": cpus, "gpu": gpus}


def param_space(spec: SweepSpec) -> dict[str, Any]:
    return {
        "task": spec.task,
        "arch": tune.grid_search(list(spec.archs)),
        "optimizer": tune.grid_search(list(spec.optimizers)),
        "lr": tune.grid_search(list(spec.lrs)),
        "batch_size": tune.grid_search(list(spec.batch_sizes)),
        "epochs": spec.epochs,
        "seed": spec.seed,
        "data_dir": spec.data_dir,
        "variant": spec.variant,
        "image_size": spec.image_size,
        "augment": spec.augment,
    }


class StoreCallback(tune.Callback):
    """Runs in the driver: mirrors Ray's result stream into the store and the live display."""

    def __init__(self, *, store: Store, sweep_id: str, display: SweepDisplay) -> None:
        self.store, self.sweep_id, self.display = store, sweep_id, display
        self.ended = 0  # trials that completed or failed for good

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks into the experiment state for restores; a database
        # connection and a live display belong to this driver process only.
        return {"sweep_id": self.sweep_id, "store": None, "display": None, "ended": 0}

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.store.start_trial(trial_id=trial.trial_id, sweep_id=self.sweep_id, config=trial.config)
        self.display.trial_started(trial.trial_id, trial.config)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.store.record_epoch(trial_id=trial.trial_id, result=result, node=result.get("node_ip"))
        self.display.trial_result(trial.trial_id, result)

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        self.store.set_checkpoint(trial.trial_id, checkpoint.path)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.store.end_trial(trial.trial_id, status="finished")
        self.ended += 1
        self.display.trial_ended(trial.trial_id, "finished")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        error = trial.get_error()
        message = str(error).strip().splitlines()[-1] if error else "unknown error"
        self.store.end_trial(trial.trial_id, status="error", error=message)
        self.ended += 1
        self.display.trial_ended(trial.trial_id, "error")


def quiet_ray(*, verbose: bool) -> None:
    """Our live table replaces Tune's own reporting; Ray's log noise only with --verbose."""
    # Tune's CSV/JSON/TensorBoard loggers duplicate what the store keeps; skip their file I/O.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    if not verbose:
        # The new console output prints an experiment banner even at verbose=0; the old
        # engine prints nothing at verbose=0.
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        for name in ("ray", "ray.tune", "ray.train"):
            logging.getLogger(name).setLevel(logging.ERROR)


def start_ray(*, verbose: bool) -> bool:
    """Start a local Ray instance unless one is already up; True when we started it."""
    if ray.is_initialized():
        return False
    ray.init(
        include_dashboard=False,
        log_to_driver=verbose,
        logging_level=logging.INFO if verbose else logging.ERROR,
    )
    return True


def prepare_data(spec: SweepSpec) -> dict[str, Any]:
    """Decode the task once into the cache, on the driver, before any trial starts; trials only
    map it. Returns what the sweep records about its data (source, counts, skipped files)."""
    with err_console.status(f"preparing {spec.task} data (decoded once, then cached)"):
        meta = prepare(spec.task, spec.data_dir, variant=spec.variant, image_size=spec.image_size)
    if meta["skipped"]:
        first = ", ".join(meta["skipped"][:3])
        print_warning(f"skipped {len(meta['skipped'])} unreadable image file(s) of {spec.task}, first: {first}")
    keys = ("source", "variant", "image_size", "counts", "folder", "bytes")
    return {**{k: meta[k] for k in keys}, "skipped": len(meta["skipped"]), "skipped_first": meta["skipped"][:5]}


def run_sweep(
    spec: SweepSpec,
    *,
    results_dir: Path,
    argv: list[str] | None = None,
    verbose: bool = False,
    live: bool = True,
) -> str:
    """Run the grid to completion, writing every epoch to the store; return the sweep id.

    `spec` must already be validated: nothing here should fail because of a user's typo.
    """
    import torch

    task = get_task(spec.task)
    request = task.request(spec.variant, spec.image_size)
    # Resolved here so that workers on other nodes get the path and the defaults, not our environment.
    spec = replace(spec, data_dir=str(resolve_data_root(spec.data_dir)), variant=request.variant,
                   image_size=request.image_size)  # fmt: skip
    data = prepare_data(spec)  # before the store: missing data is a user's error and writes nothing
    sweep_id = new_sweep_id()
    store = Store.create(results_dir)
    env = {**collect_environment(seed=spec.seed, argv=argv), "data": data}
    store.create_sweep(
        sweep_id=sweep_id, task=spec.task, seed=spec.seed, command=env["command"],
        spec_json=spec.to_json(), environment=env,
    )  # fmt: skip
    quiet_ray(verbose=verbose)
    started_ray = start_ray(verbose=verbose)
    status = "failed"
    try:
        display = SweepDisplay(
            title=f"sweep {sweep_id}: {spec.task}, {spec.num_trials} trials", total=spec.num_trials,
            metric=task.metric, mode=task.mode, live=live,
        )  # fmt: skip
        callback = StoreCallback(store=store, sweep_id=sweep_id, display=display)
        trainable = tune.with_resources(run_trial, trial_resources(spec, cuda=torch.cuda.is_available()))
        tuner = tune.Tuner(
            trainable,
            param_space=param_space(spec),
            # Reusing trial processes skips a Python start and a torch import per trial:
            # the default sweep takes about 23 s instead of 40 s on 2 cores.
            tune_config=tune.TuneConfig(metric=task.metric, mode=task.mode, reuse_actors=True),
            run_config=tune.RunConfig(
                name=sweep_id,
                storage_path=str((results_dir / "ray").resolve()),
                callbacks=[callback],
                # The kept checkpoint is the best by the task's metric: the one export wants.
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=1, checkpoint_score_attribute=task.metric, checkpoint_score_order=task.mode
                ),
                failure_config=tune.FailureConfig(max_failures=1),
                verbose=2 if verbose else 0,
            ),
        )
        with display:
            tuner.fit()
        # Tune catches Ctrl-C itself and returns early instead of raising, with the stopped
        # trials counted as terminated: only our own tally of ended trials tells.
        if callback.ended < spec.num_trials:
            raise KeyboardInterrupt
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        store.interrupt_trials(sweep_id)
        raise
    finally:
        store.finish_sweep(sweep_id, status)
        store.close()
        if started_ray:
            ray.shutdown()
    return sweep_id
