"""Sweeps on Ray Tune: the search space, searcher and scheduler, resources, joining or starting
Ray, running and resuming the Tuner, and the driver-side store writer.

The driver is the only writer of the store: `StoreCallback` receives each trial's results from
Ray's result stream and writes one transaction per epoch as it arrives. Whether a sweep ended
or was interrupted is read back from the store, since Tune swallows Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import ray
from ray import tune

from harness.config import SweepSpec
from harness.console import SweepDisplay, err_console, print_warning
from harness.datasets import get_task, prepare, resolve_data_root
from harness.environment import collect_environment
from harness.errors import HarnessError
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
    """Ray Tune's space: grid_search over every list for a grid, choices (and a log-uniform
    learning rate when a range is given) for random and Optuna search."""
    pick = tune.grid_search if spec.search == "grid" else tune.choice
    lr = tune.loguniform(*spec.lr_range) if spec.lr_range else pick(list(spec.lrs))
    return {
        "task": spec.task,
        "arch": pick(list(spec.archs)),
        "optimizer": pick(list(spec.optimizers)),
        "lr": lr,
        "batch_size": pick(list(spec.batch_sizes)),
        "weight_decay": pick(list(spec.weight_decays)),
        "seed": pick(list(spec.seeds)),
        "epochs": spec.epochs,
        "data_dir": spec.data_dir,
        "variant": spec.variant,
        "image_size": spec.image_size,
        "augment": spec.augment,
        "pixels": spec.pixels,
        "train_limit": spec.train_limit,
    }


def search_algorithm(spec: SweepSpec) -> Any:
    """None for grid and random (Tune's own variant generator), OptunaSearch for optuna."""
    if spec.search != "optuna":
        return None
    from ray.tune.search.optuna import OptunaSearch

    return OptunaSearch(seed=spec.seed)


def scheduler(spec: SweepSpec) -> Any:
    """FIFO runs every trial to its last epoch; ASHA stops trials that trail at each rung
    (epochs 1, 2, 4, ... with reduction factor 2), so more of the budget goes to good ones."""
    if spec.scheduler == "fifo":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="training_iteration", max_t=spec.epochs, grace_period=1, reduction_factor=2)


# Stores and displays of the sweeps this driver is running, by sweep id: a restored Tuner
# unpickles its callbacks, and a database connection cannot travel through a pickle.
_ACTIVE: dict[str, tuple[Store, SweepDisplay]] = {}


class StoreCallback(tune.Callback):
    """Runs in the driver: mirrors Ray's result stream into the store and the live display."""

    def __init__(self, *, sweep_id: str) -> None:
        self.sweep_id = sweep_id
        self.store, self.display = _ACTIVE[sweep_id]
        self._ended: list[tuple[str, str, str | None]] = []  # (trial, status, error), stored at the step's end

    def __getstate__(self) -> dict[str, Any]:
        return {"sweep_id": self.sweep_id}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(sweep_id=state["sweep_id"])  # the resuming driver registered its store first

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.store.start_trial(trial_id=trial.trial_id, sweep_id=self.sweep_id, config=trial.config)
        self.display.trial_started(trial.trial_id, trial.config)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.store.record_epoch(trial_id=trial.trial_id, result=result, node=result.get("node") or result.get("node_ip"))
        self.display.trial_result(trial.trial_id, result)

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        self.store.set_checkpoint(trial.trial_id, checkpoint.path)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = (trial.last_result or {}).get("epoch", 0)
        status = "finished" if last >= trial.config["epochs"] else "stopped"  # stopped early by ASHA
        self._ended.append((trial.trial_id, status, None))
        self.display.trial_ended(trial.trial_id, status)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        error = trial.get_error()
        message = str(error).strip().splitlines()[-1] if error else "unknown error"
        self._ended.append((trial.trial_id, "error", message))
        self.display.trial_ended(trial.trial_id, "error")

    # Tune saves its experiment state between a trial's end and the step's end. Only then does the
    # store call the trial ended: a driver killed in between leaves it "running" in both, and a
    # resume finishes it, rather than the store saying "finished" about a trial Tune runs again.
    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._flush()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._flush()

    def _flush(self) -> None:
        for trial_id, status, error in self._ended:
            self.store.end_trial(trial_id, status=status, error=error)
        self._ended.clear()


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


def start_ray(*, verbose: bool, address: str | None = None) -> bool:
    """Join the cluster at `address`, or start a local Ray instance unless one is already up;
    True when we connected (and so must disconnect)."""
    if ray.is_initialized():
        return False
    if address not in (None, "auto"):
        _check_reachable(address)
    options: dict[str, Any] = {"log_to_driver": verbose, "logging_level": logging.INFO if verbose else logging.ERROR}
    if address is None:
        # "local": a fresh instance of our own, even when `ray start` left a cluster running here
        # (a plain ray.init() would quietly join that one).
        address, options["include_dashboard"] = "local", False
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise HarnessError(
            f"cannot join the Ray cluster at {address!r} ({str(exc).splitlines()[0][:160]})",
            "check `ray status` on the head node; a token-auth cluster also needs RAY_AUTH_MODE=token here",
        ) from None
    return True


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes: ray.init waits a long time for a head that is not there."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise HarnessError(f"cannot join the Ray cluster at {address!r} ({exc})",
                           "check the head's address with `ray status` on it; HOST:PORT, ray://HOST:PORT or auto") from None  # fmt: skip


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


def storage_path(spec: SweepSpec, results_dir: Path) -> str:
    """Where Ray keeps experiment state and checkpoints: shared by every node of a cluster."""
    return spec.storage or str((results_dir / "ray").resolve())


def run_sweep(
    spec: SweepSpec,
    *,
    results_dir: Path,
    argv: list[str] | None = None,
    verbose: bool = False,
    live: bool = True,
) -> str:
    """Run the sweep to completion, writing every epoch to the store; return the sweep id.

    `spec` must already be validated: nothing here should fail because of a user's typo.
    """
    task = get_task(spec.task)
    request = task.request(spec.variant, spec.image_size)
    # Resolved here so that workers on other nodes get the path and the defaults, not our environment.
    spec = replace(spec, data_dir=str(resolve_data_root(spec.data_dir)), variant=request.variant,
                   image_size=request.image_size, storage=storage_path(spec, results_dir))  # fmt: skip
    data = prepare_data(spec)  # before the store: missing data is a user's error and writes nothing
    quiet_ray(verbose=verbose)
    started_ray = start_ray(verbose=verbose, address=spec.address)  # a bad address also writes nothing
    sweep_id = new_sweep_id()
    store = Store.create(results_dir)
    env = {**collect_environment(seed=spec.seed, argv=argv), "data": data, "ray_nodes": len(ray.nodes())}
    store.create_sweep(
        sweep_id=sweep_id, task=spec.task, seed=spec.seed, command=env["command"],
        spec_json=spec.to_json(), environment=env,
    )  # fmt: skip

    def fit(display: SweepDisplay) -> None:
        tuner = tune.Tuner(
            tune.with_resources(run_trial, trial_resources(spec, cuda=_cuda())),
            param_space=param_space(spec),
            tune_config=tune_config(spec, task.metric, task.mode),
            run_config=run_config(spec, sweep_id, task.metric, task.mode, verbose=verbose),
        )
        tuner.fit()

    return _drive(spec, sweep_id, store, fit, started_ray=started_ray, verbose=verbose, live=live)


def resume_sweep(results_dir: Path, sweep_id: str | None, *, verbose: bool = False,
                 live: bool = True) -> tuple[str, str]:  # fmt: skip
    """Continue an interrupted sweep through Ray Tune's restore: finished trials stay finished,
    unfinished ones continue from their last checkpoint. Returns (sweep id, task)."""
    store = Store.existing(results_dir)
    try:
        row = store.sweep(sweep_id)
        spec = SweepSpec.from_json(row["spec_json"])
        path = str(Path(storage_path(spec, results_dir)) / row["id"])
        if row["status"] == "finished":
            raise HarnessError(f"sweep {row['id']} already finished", "start a new one with `harness sweep`")
        if not tune.Tuner.can_restore(path):
            raise HarnessError(f"sweep {row['id']} has no Ray experiment state at {path}",
                               "pass --storage as the sweep used it, or start a new sweep")  # fmt: skip
        prepare_data(spec)  # normally a cache hit; rebuilt here if the cache was cleared meanwhile
        quiet_ray(verbose=verbose)
        started_ray = start_ray(verbose=verbose, address=spec.address)
    except BaseException:
        store.close()  # nothing was written: the sweep keeps the status it had
        raise
    store.reopen_sweep(row["id"])

    def fit(display: SweepDisplay) -> None:
        tuner = tune.Tuner.restore(
            path, trainable=tune.with_resources(run_trial, trial_resources(spec, cuda=_cuda())),
            resume_unfinished=True, resume_errored=False, restart_errored=False, param_space=param_space(spec),
        )  # fmt: skip
        tuner.fit()

    return _drive(spec, row["id"], store, fit, started_ray=started_ray, verbose=verbose, live=live), spec.task


def tune_config(spec: SweepSpec, metric: str, mode: str) -> tune.TuneConfig:
    return tune.TuneConfig(
        metric=metric, mode=mode, search_alg=search_algorithm(spec), scheduler=scheduler(spec),
        num_samples=spec.num_samples, max_concurrent_trials=spec.max_concurrent, time_budget_s=spec.time_budget_s,
        # Reusing trial processes skips a Python start and a torch import per trial:
        # the default sweep takes about 23 s instead of 40 s on 2 cores.
        reuse_actors=True,
    )  # fmt: skip


def run_config(spec: SweepSpec, sweep_id: str, metric: str, mode: str, *, verbose: bool) -> tune.RunConfig:
    return tune.RunConfig(
        name=sweep_id,
        storage_path=spec.storage,
        callbacks=[StoreCallback(sweep_id=sweep_id)],
        # The kept checkpoint is the best by the task's metric: the one export wants.
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=1, checkpoint_score_attribute=metric, checkpoint_score_order=mode
        ),
        failure_config=tune.FailureConfig(max_failures=1),  # one retry, then the trial is an `error`
        verbose=2 if verbose else 0,
    )


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _drive(spec: SweepSpec, sweep_id: str, store: Store, fit: Callable[[SweepDisplay], None], *,
           started_ray: bool, verbose: bool, live: bool) -> str:  # fmt: skip
    """Run `fit` with the store and display registered for the callback; settle the sweep's status."""
    task = get_task(spec.task)
    # Save Tune's experiment state at every step, not every ~10 s: a driver killed at any moment
    # then resumes without re-running a trial that had already finished.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "0")
    status = "failed"
    start = time.monotonic()
    display = SweepDisplay(
        title=f"sweep {sweep_id}: {spec.task}, {spec.num_trials} trials", total=spec.num_trials,
        metric=task.metric, mode=task.mode, live=live,
    )  # fmt: skip
    _ACTIVE[sweep_id] = (store, display)
    try:
        with display:
            fit(display)
        # Tune catches Ctrl-C itself and returns early instead of raising, with the stopped
        # trials counted as terminated: the store, which only our callback writes, tells.
        counts = store.trial_statuses(sweep_id)
        out_of_time = spec.time_budget_s is not None and time.monotonic() - start >= spec.time_budget_s
        if counts.get("running") or (sum(counts.values()) < spec.num_trials and not out_of_time):
            raise KeyboardInterrupt
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        store.interrupt_trials(sweep_id)
        raise
    finally:
        _ACTIVE.pop(sweep_id, None)
        store.finish_sweep(sweep_id, status)
        store.close()
        if started_ray:
            ray.shutdown()
    return sweep_id
