"""Sweeps on Ray Tune: a plan's data and resources, running and resuming its Tuner.

The driver is the only writer of the store: `StoreCallback` (harness.sweeps.callback) receives each trial's results from
Ray's result stream and writes one transaction per epoch as it arrives. How a sweep ended is
read back from the store, since Tune swallows Ctrl-C, and returned as an `Outcome`. The store,
not Tune's saved state, is the record a resume goes by (harness.sweeps.resume): a resume reads
nothing Ray saved, so Tune saves its state on its own cadence.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import ray
from ray import tune

from harness.architectures import create_model, get_arch, load_user_code
from harness.config.spec import SweepSpec
from harness.datasets import get_task, prepare
from harness.engine.shipped import collect
from harness.engine.trial import run_trial
from harness.environment import Environment, collect_environment
from harness.errors import HarnessError
from harness.formats import plural
from harness.kinds import Mode, Status, SweepStatus
from harness.paths import is_uri
from harness.safefile import subfolder
from harness.signals import passed_to_tune
from harness.store.db import Store, trial_key
from harness.sweeps.callback import ACTIVE, UNWRITTEN, StoreCallback
from harness.sweeps.cluster import check_resources, cluster_may_grow, node_resources, quiet_ray, start_ray
from harness.sweeps.lock import DriverLock
from harness.sweeps.outcome import Outcome
from harness.sweeps.plan import Plan, trial_resources
from harness.sweeps.reporter import Quiet, Reporter
from harness.sweeps.resume import Resumption, replan, show_stored
from harness.sweeps.resume_tune import resumed_search


def new_sweep_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


class DataRecord(TypedDict):
    """What a sweep records about one data it trained on (its environment's `data`)."""

    source: str
    variant: str | None
    image_size: int | None
    counts: dict[str, int]  # images per split
    folder: str  # the decoded cache
    bytes: int  # the cache's arrays
    skipped: int  # unreadable source files
    skipped_first: list[str]  # the first 5 of them
    notes: list[str]  # what the reader left out on purpose (class folders the task does not know)


class SweepEnvironment(Environment, total=False):
    """What the store records with a sweep: the machine, the data (a reproduction: by recipe
    label), how many nodes Ray had, and the users' code it imported (harness.plugins)."""

    data: DataRecord | dict[str, DataRecord]
    ray_nodes: int
    plugins: list[dict[str, str | None]]  # Plugin.record(): path (or module) and sha256


def prepare_data(spec: SweepSpec, reporter: Reporter) -> DataRecord:
    """Decode the task once into the cache, on the driver, before any trial starts; trials only
    map it. Returns what the sweep records about its data (source, counts, skipped files)."""
    with reporter.preparing(f"preparing {spec.task} data (decoded once, then cached; checked against its sources)"):
        meta = prepare(spec.task, spec.data_dir, variant=spec.variant, image_size=spec.image_size, verify=True)
    if meta.get("rebuilt"):
        reporter.warning(f"the decoded cache of {spec.task} ({spec.variant}) was rebuilt: {meta['rebuilt']}")
    for note in meta.get("notes", []):
        reporter.warning(note)
    if meta["skipped"]:
        first = ", ".join(meta["skipped"][:3])
        reporter.warning(f"skipped {len(meta['skipped'])} unreadable image file(s) of {spec.task}, first: {first}")
    return {
        "source": meta["source"],
        "variant": meta["variant"],
        "image_size": meta["image_size"],
        "counts": meta["counts"],
        "folder": meta["folder"],
        "bytes": meta["bytes"],
        "skipped": len(meta["skipped"]),
        "skipped_first": meta["skipped"][:5],
        "notes": meta.get("notes", []),
    }


def prepare_plan_data(plan: Plan, reporter: Reporter) -> DataRecord | dict[str, DataRecord]:
    """Every distinct data the plan trains on, prepared once; a sweep records its one entry as
    before, a reproduction one per recipe."""
    seen: dict[tuple, DataRecord] = {}
    for spec in plan.specs:
        key = (spec.task, spec.data_dir, spec.variant, spec.image_size)
        if key not in seen:
            seen[key] = prepare_data(spec, reporter)
    if not plan.recipes:
        return next(iter(seen.values()))
    return {label: seen[(s.task, s.data_dir, s.variant, s.image_size)] for label, s in plan.recipes}


def _metric(plan: Plan) -> tuple[str, Mode]:
    """The metric and mode Tune ranks checkpoints by: the tasks' own, which must agree."""
    pairs = {(get_task(t).metric, get_task(t).mode) for t in plan.tasks}
    if len(pairs) != 1:
        raise HarnessError(
            f"the tasks {', '.join(plan.tasks)} rank by different metrics", "run them as separate sweeps"
        )
    return pairs.pop()


def _resources(plan: Plan) -> tuple[dict[str, float], str | None]:
    """The trial's resources and, on a cluster that may grow, a line to show while waiting;
    a request no node can ever hold is refused here, before the store is touched."""
    nodes = node_resources()
    resources = trial_resources(plan.spec, nodes=nodes)
    return resources, check_resources(resources, nodes, may_grow=cluster_may_grow())


def run_plan(
    plan: Plan,
    *,
    results_dir: Path,
    argv: list[str] | None = None,
    verbose: bool = False,
    reporter: Reporter | None = None,
) -> Outcome:
    """Run the plan to its end, writing every epoch to the store; return how it ended.

    Every spec must already be validated: nothing here should fail because of a user's typo.
    """
    loaded = load_user_code(plan.archs, plan.spec.plugins)  # done by validate() already: a no-op then
    plan = plan.resolved(results_dir)
    metric, mode = _metric(plan)
    reporter = reporter or Quiet()
    data = prepare_plan_data(plan, reporter)  # before the store: missing data is a user's error and writes nothing
    fetch_pretrained(plan)
    Store.check_writable(results_dir)  # an existing store that cannot be written: refused before Ray starts
    quiet_ray(verbose=verbose)
    started_ray = start_ray(verbose=verbose, address=plan.spec.address)  # a bad address also writes nothing
    try:
        resources, waiting = _resources(plan)
        store = Store.create(results_dir)
    except BaseException:
        if started_ray:
            ray.shutdown()
        raise
    sweep_id = new_sweep_id()
    lock = DriverLock(results_dir, sweep_id).acquire()  # a new id: free, and held until the sweep ends
    env: SweepEnvironment = {
        **collect_environment(seed=plan.spec.seed, argv=argv),
        "data": data,
        "ray_nodes": len(ray.nodes()),
        "plugins": [p.record() for p in loaded],
    }
    shipped = collect(plan.archs, plan.tasks)
    store.create_sweep(
        sweep_id=sweep_id,
        task=",".join(plan.tasks),
        seed=plan.spec.seed,
        command=env["command"],
        spec_json=plan.to_json(),
        environment=env,
    )

    def fit() -> None:
        tune.Tuner(
            tune.with_resources(tune.with_parameters(run_trial, shipped=shipped), resources),
            param_space=plan.space(),
            tune_config=plan.tune_config(metric, str(mode)),
            run_config=run_config(plan.spec, sweep_id, metric, mode, verbose=verbose),
        ).fit()

    return _drive(plan, sweep_id, store, fit, started_ray=started_ray, reporter=reporter, waiting=waiting, lock=lock)


def run_sweep(
    spec: SweepSpec,
    *,
    results_dir: Path,
    argv: list[str] | None = None,
    verbose: bool = False,
    reporter: Reporter | None = None,
) -> Outcome:
    return run_plan(Plan(spec=spec), results_dir=results_dir, argv=argv, verbose=verbose, reporter=reporter)


def resume_sweep(
    results_dir: Path,
    sweep_id: str | None,
    *,
    verbose: bool = False,
    reporter: Reporter | None = None,
    report: str | None = None,
    plugins: tuple[str, ...] = (),
) -> Outcome:
    """Continue an interrupted sweep from the store alone (harness.sweeps.resume): finished trials
    stay finished, unfinished ones continue from their checkpoint, the rest of the plan runs; no
    state Ray saved is read. `report`: only a reproduction of it. `plugins`: the plugin files the
    sweep used, named again (never imported from the store)."""
    store = Store.existing(results_dir, writer=True)
    started_ray, lock = False, None
    try:
        row = store.sweep(sweep_id) if sweep_id or not report else store.latest_reproduction(report)
        lock = DriverLock(results_dir, row["id"]).acquire()  # refused while another driver runs it
        plan = Plan.from_json(row["spec_json"])
        recorded_plugins = json.loads(row["environment_json"]).get("plugins", [])
        load_user_code(plan.archs, plugins, recorded=recorded_plugins, what=f"sweep {row['id']}")
        if report and plan.report != report:
            raise HarnessError(
                f"sweep {row['id']} is not a reproduction of {report}", "`harness sweeps` lists the stored sweeps"
            )
        if row["status"] == SweepStatus.FINISHED:
            raise HarnessError(f"sweep {row['id']} already finished", "start a new one")
        metric, mode = _metric(plan)
        reporter = reporter or Quiet()
        prepare_plan_data(plan, reporter)  # normally a cache hit; rebuilt here if the cache was cleared meanwhile
        storage = plan.spec.storage or str(results_dir / "ray")
        left = replan(plan, store.sweep_record(row["id"]), metric=metric, storage=storage)  # checkpoints checked
        if not left.empty:  # else every trial had ended: only the sweep's status is left to settle, no Ray
            space, search, schedule, num_samples = resumed_search(plan, left, metric=metric)
            name = resumed_name(row["id"], storage)
            quiet_ray(verbose=verbose)
            started_ray = start_ray(verbose=verbose, address=plan.spec.address)
        resources, waiting = _resources(plan) if started_ray else ({}, None)
    except BaseException:
        store.close()  # nothing was written: the sweep keeps the status it had
        if lock:
            lock.release()
        if started_ray:
            ray.shutdown()
        raise
    store.reopen_sweep(row["id"])
    for ray_id, damage in left.restarted.items():
        store.restart_trial(trial_key(row["id"], ray_id))
        reporter.warning(f"trial {ray_id} starts again from epoch 1: its checkpoint cannot be used ({damage})")

    def fit() -> None:
        if left.empty:
            return
        tune.Tuner(
            tune.with_resources(
                tune.with_parameters(run_trial, recorded=left.recorded, shipped=collect(plan.archs, plan.tasks)),
                resources,
            ),
            param_space=space,
            tune_config=plan.tuned(metric, str(mode), search=search, scheduler=schedule, num_samples=num_samples),
            run_config=run_config(plan.spec, row["id"], metric, mode, verbose=verbose, name=name),
        ).fit()

    return _drive(
        plan, row["id"], store, fit, started_ray=started_ray, reporter=reporter, waiting=waiting, lock=lock, left=left
    )


def fetch_pretrained(plan: Plan) -> None:
    """With --pretrained, get each network's published weights once, on the driver, before the
    store is touched: offline, that is one line here rather than a failure in every trial."""
    for spec in plan.specs:
        if not spec.pretrained:
            continue
        task = get_task(spec.task)
        for arch in spec.archs:
            head = get_arch(arch).head
            try:
                create_model(
                    arch, in_shape=task.shape(spec.image_size), num_outputs=task.num_outputs(head), pretrained=True
                )
            except HarnessError:
                raise
            except Exception as exc:  # the libraries' download errors: no network, no such weights
                detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
                raise HarnessError(
                    f"cannot get the published weights of {arch} ({detail})",
                    "run once where the network is reachable (they are cached), or drop --pretrained",
                ) from None


def resumed_name(sweep_id: str, storage: str) -> str:
    """A resumed run's experiment folder in the storage: a new one, of a name nobody could guess.
    Ray writes its state files (tuner.pkl, ...) through any link at their names, and the old
    folder's name is the sweep's id, which anyone who reads the store knows."""
    name = f"{sweep_id}-resumed-{secrets.token_hex(4)}"
    if not is_uri(storage):
        subfolder(storage, name, what="the resumed sweep's Ray folder")
    return name


def run_config(
    spec: SweepSpec, sweep_id: str, metric: str, mode: Mode, *, verbose: bool, name: str | None = None
) -> tune.RunConfig:
    """`name`: the experiment's folder in the storage (default: the sweep's id)."""
    return tune.RunConfig(
        name=name or sweep_id,
        storage_path=spec.storage,
        callbacks=[StoreCallback(sweep_id=sweep_id)],
        # The store callback keeps each trial's best checkpoint (the one export wants) and deletes
        # the one it replaces; Tune's pruning (num_to_keep) would save its whole experiment state
        # at every checkpoint, a cost that grows with the sweep's trials.
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=None, checkpoint_score_attribute=metric, checkpoint_score_order=str(mode)
        ),
        failure_config=tune.FailureConfig(max_failures=1),  # one retry, then the trial is an `error`
        verbose=2 if verbose else 0,
    )


def _drive(
    plan: Plan,
    sweep_id: str,
    store: Store,
    fit: Callable[[], None],
    *,
    started_ray: bool,
    reporter: Reporter,
    waiting: str | None,
    lock: DriverLock,
    left: Resumption | None = None,
) -> Outcome:
    """Run `fit` with the store and display registered for the callback; settle the sweep's status.
    `left`: a resume's plan, whose stored trials the display starts with."""
    status = SweepStatus.FAILED
    start = time.monotonic()
    metric, mode = _metric(plan)
    display = reporter.progress(
        title=f"sweep {sweep_id}: {plan.title}, {plural(plan.num_trials, 'trial')}",
        total=plan.num_trials,
        metric=metric,
        mode=mode,
        waiting=waiting,
    )
    ACTIVE[sweep_id] = (store, display)
    budget = plan.spec.time_budget_s
    try:
        with display, passed_to_tune():
            if left:
                show_stored(display, left.stored)
            fit()
        # Tune catches Ctrl-C itself and returns early instead of raising, with the stopped
        # trials counted as terminated: the store, which only our callback writes, tells.
        out_of_time = budget is not None and time.monotonic() - start >= budget
        if out_of_time:  # the budget is a normal end: what ran is ranked, stopped where it was
            store.interrupt_trials(sweep_id, status=Status.STOPPED)
        counts = store.trial_statuses(sweep_id)
        if counts.get(Status.RUNNING) or (sum(counts.values()) < plan.num_trials and not out_of_time):
            raise KeyboardInterrupt
        status = SweepStatus.FINISHED if Outcome.count_usable(store, sweep_id) else SweepStatus.FAILED
    except KeyboardInterrupt:
        status = SweepStatus.INTERRUPTED
        store.interrupt_trials(sweep_id)
    except Exception:
        if sweep_id not in UNWRITTEN:  # Tune ends the sweep with the callback's StoreUnwritten
            raise
    finally:
        ACTIVE.pop(sweep_id, None)
        unwritten = UNWRITTEN.pop(sweep_id, None)
        _settle(store, sweep_id, status, unwritten=unwritten is not None)
        outcome = Outcome.read(store, sweep_id, tasks=plan.tasks)
        store.close()
        lock.release()
        if started_ray:
            ray.shutdown()
    if unwritten:
        raise HarnessError(
            f"the sweep stopped: its results store {str(store.path)!r} could not be written ({unwritten});"
            " every epoch stored before stands",
            f"free space (or make it writable), then `harness sweep --resume {sweep_id}` continues it",
        )
    return outcome


def _settle(store: Store, sweep_id: str, status: SweepStatus, *, unwritten: bool) -> None:
    """Mark how the sweep ended. After a failed write (a full disk) the marks may fail too: the
    sweep then stays `running` in the store, which a resume continues all the same."""
    try:
        if unwritten:
            store.interrupt_trials(sweep_id)
        store.finish_sweep(sweep_id, SweepStatus.INTERRUPTED if unwritten else status)
    except sqlite3.Error:
        if not unwritten:
            raise
