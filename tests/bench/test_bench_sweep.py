"""Benchmarks of compute and scheduling: how close a vgg4_bn training step comes to the CPU's
matrix-multiply rate, and how much of a sweep's wall time the trials really spend training.

They measure and report (benchmark table, `extra_info`, one summary line each); they assert
only correctness (shapes, counts, finite positive figures), never a speed, because timings on
a shared 2-core machine are not a pass/fail signal. The goals of the issue (FLOP rate >= 0.6 of
a large matmul, scheduling efficiency >= 0.85) are reported beside the figures.
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from ray import tune
from ray.tune.execution.tune_controller import TuneController
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

import harness.sweeps.driver
from harness.architectures import count_params, create_model
from harness.cli.main import main
from harness.datasets import get_task, load_task, prepare
from harness.engine.device import choose_device, placement
from harness.engine.optim import create_optimizer
from harness.engine.train import OBJECTIVES, Normalizer, evaluate, train_one_epoch
from harness.store.db import Store
from harness.sweeps.callback import StoreCallback

pytestmark = pytest.mark.bench  # measures and reports; `pytest -m 'not bench'` skips it

THREADS = 2  # the whole machine
BATCH = 128  # uchile2020-cifar10's batch size
CIFAR_SHAPE = (3, 32, 32)
VGG4_PARAMS = 1_816_714  # the report's own count (README, `harness archs`)
WARMUP_STEPS = 3  # oneDNN picks and caches its kernels on the first calls of each shape and layout
TIMED_STEPS = 8  # per configuration; the best step counts, the median is reported beside it
MATMUL_N = 2048  # the reference: one large fp32 GEMM, 17.2 GFLOP, well inside MKL's peak regime
MATMUL_REPS = 4

SWEEP_OPTIMIZERS = ("adam", "momentum")
SWEEP_LRS = (0.001, 0.003, 0.01, 0.03)
SWEEP_TRIALS = len(SWEEP_OPTIMIZERS) * len(SWEEP_LRS)
# cnn_small on digits: ~0.22 s training + ~0.03 s validation per epoch, alone or in a two-trial
# sweep on a quiet machine (measured: 0.24 s and 0.26 s), so 80 epochs make trials of ~20 s, as the
# issue asks. Other work on a shared machine stretches epochs to 0.4-0.6 s and the sweep to ~3 min.
SWEEP_EPOCHS = 80
CPUS_PER_TRIAL = 1.0  # the sweep's default (harness.sweeps.driver.trial_resources): one trial per core
SOLO_EPOCHS = 6  # the same trial alone, in this process, for the contention reference
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _positive(figures: dict[str, float]) -> None:
    for key, value in figures.items():
        assert math.isfinite(value) and value > 0, f"{key} = {value}"


@pytest.fixture
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(previous)


# ------------------------------------------------------------------ helpers: compute


@dataclass
class Stepper:
    """One vgg4_bn training setup (model, Adam, a fixed CIFAR-shaped batch) in one memory layout."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    x: Tensor
    y: Tensor

    @classmethod
    def build(cls, *, channels_last: bool) -> Stepper:
        torch.manual_seed(0)  # the same weights and batch for every layout
        model = create_model("vgg4_bn", in_shape=CIFAR_SHAPE, num_outputs=10)
        task = get_task("cifar10")
        pixels = torch.randint(0, 256, (BATCH, *CIFAR_SHAPE), dtype=torch.uint8)
        # Normalised once, outside the timed step: this measures the network, not the data path.
        x = Normalizer(task.mean, task.std, torch.device("cpu"))(pixels)
        y = torch.randint(0, 10, (BATCH,))
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        return cls(model.train(), create_optimizer("adam", model.parameters(), lr=1e-3), x, y)

    def step(self) -> float:
        """Forward, cross-entropy, backward, Adam step; returns the loss (one .item() syncs nothing
        on CPU that was not already done)."""
        loss = OBJECTIVES["logits"].loss(self.model(self.x), self.y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def timed_steps(self, n: int) -> list[float]:
        seconds = []
        for _ in range(n):
            start = time.perf_counter()
            loss = self.step()
            seconds.append(time.perf_counter() - start)
            assert math.isfinite(loss)
        return seconds


def _count_flops(stepper: Stepper) -> tuple[int, int]:
    """(forward, forward + backward) FLOPs of one training step on the batch. The Adam update is
    element-wise and FlopCounterMode counts only matmuls and convolutions, as `harness archs` does."""
    with FlopCounterMode(display=False) as forward:
        out = stepper.model(stepper.x)
    assert tuple(out.shape) == (BATCH, 10)
    with FlopCounterMode(display=False) as whole:
        F.cross_entropy(stepper.model(stepper.x), stepper.y).backward()
    stepper.optimizer.zero_grad(set_to_none=True)
    return forward.get_total_flops(), whole.get_total_flops()


def _matmul_flop_rate(threads: int) -> tuple[float, list[float]]:
    """(best FLOP/s, seconds per rep) of an n x n fp32 matmul at `threads`: what this CPU's BLAS
    reaches on the friendliest possible problem, measured now, under the same load as the model."""
    torch.set_num_threads(threads)
    a, b = torch.randn(MATMUL_N, MATMUL_N), torch.randn(MATMUL_N, MATMUL_N)
    a @ b  # warm-up: MKL's first call sets up its threads and buffers
    seconds = []
    for _ in range(MATMUL_REPS):
        start = time.perf_counter()
        c = a @ b
        seconds.append(time.perf_counter() - start)
    assert tuple(c.shape) == (MATMUL_N, MATMUL_N) and bool(torch.isfinite(c[:4, :4]).all())
    return 2 * MATMUL_N**3 / min(seconds), seconds


@pytest.mark.benchmark(group="compute")
def test_bench_vgg4_bn_throughput_and_flop_rate(benchmark, two_threads):
    load_before = os.getloadavg()[0]
    plain, channels_last = Stepper.build(channels_last=False), Stepper.build(channels_last=True)
    assert count_params(plain.model) == VGG4_PARAMS
    assert plain.x.is_contiguous() and channels_last.x.is_contiguous(memory_format=torch.channels_last)
    forward_flops, step_flops = _count_flops(plain)
    # A backward pass costs about twice the forward (input and weight gradients), minus the first
    # layer's input gradient, which nobody asks for.
    assert 2 * forward_flops < step_flops <= 3 * forward_flops

    # -- 2 threads: plain NCHW (the benchmark table's figure) and channels_last in turns, then the
    # reference matmul right after, so that all three see the machine in the same state
    plain.timed_steps(WARMUP_STEPS)
    plain_seconds: list[float] = []

    def plain_step() -> float:
        start = time.perf_counter()
        loss = plain.step()
        plain_seconds.append(time.perf_counter() - start)
        return loss

    channels_last.timed_steps(WARMUP_STEPS)
    cl_seconds: list[float] = []
    # The layouts take turns, a channels_last step (untimed by the benchmark, timed by us) before
    # each plain round, so that a burst of other work on the machine hits both alike.
    benchmark.pedantic(
        plain_step, setup=lambda: cl_seconds.extend(channels_last.timed_steps(1)), rounds=TIMED_STEPS, iterations=1
    )
    assert len(plain_seconds) == len(cl_seconds) == TIMED_STEPS
    matmul_2t, matmul_2t_seconds = _matmul_flop_rate(THREADS)

    # -- 1 thread, plain: what one trial of a two-trial sweep gets
    torch.set_num_threads(1)
    plain.timed_steps(WARMUP_STEPS)
    one_seconds = plain.timed_steps(TIMED_STEPS)
    matmul_1t, matmul_1t_seconds = _matmul_flop_rate(1)
    torch.set_num_threads(THREADS)

    # Best step of each: on a shared machine other work only ever adds time.
    best = {"plain": min(plain_seconds), "channels_last": min(cl_seconds), "plain_1t": min(one_seconds)}
    figures = {
        "imgs_per_s_plain": BATCH / best["plain"],
        "imgs_per_s_channels_last": BATCH / best["channels_last"],
        "imgs_per_s_plain_1thread": BATCH / best["plain_1t"],
        "channels_last_speedup": best["plain"] / best["channels_last"],
        # the steps ran in adjacent pairs: the median of the pairs' ratios shrugs off a burst of load
        "channels_last_speedup_paired": statistics.median(p / c for p, c in zip(plain_seconds, cl_seconds)),
        "two_thread_speedup": best["plain_1t"] / best["plain"],
        "flops_per_step": float(step_flops),
        "flops_per_image": step_flops / BATCH,
        "achieved_gflops_plain": step_flops / best["plain"] / 1e9,
        "achieved_gflops_channels_last": step_flops / best["channels_last"] / 1e9,
        "achieved_gflops_plain_1thread": step_flops / best["plain_1t"] / 1e9,
        "matmul_gflops": matmul_2t / 1e9,
        "matmul_gflops_1thread": matmul_1t / 1e9,
        "ratio_plain": step_flops / best["plain"] / matmul_2t,
        "ratio_channels_last": step_flops / best["channels_last"] / matmul_2t,
        "ratio_plain_1thread": step_flops / best["plain_1t"] / matmul_1t,
    }
    _positive(figures)
    benchmark.extra_info.update({key: round(value, 3) for key, value in figures.items()})
    benchmark.extra_info.update(
        {
            "params": VGG4_PARAMS,
            "forward_flops_per_image": forward_flops / BATCH,
            "batch_size": BATCH,
            "threads": THREADS,
            "rate": "best step of the rounds; medians beside",
            "median_step_s": {
                "plain": round(statistics.median(plain_seconds), 4),
                "channels_last": round(statistics.median(cl_seconds), 4),
                "plain_1thread": round(statistics.median(one_seconds), 4),
            },
            "steps_s": {
                "plain": [round(s, 4) for s in plain_seconds],
                "channels_last": [round(s, 4) for s in cl_seconds],
                "plain_1thread": [round(s, 4) for s in one_seconds],
            },
            "matmul": f"{MATMUL_N}x{MATMUL_N} @ {MATMUL_N}x{MATMUL_N} fp32, best of {MATMUL_REPS}",
            "matmul_s": {
                "2t": [round(s, 4) for s in matmul_2t_seconds],
                "1t": [round(s, 4) for s in matmul_1t_seconds],
            },
            "flops": "torch FlopCounterMode, forward + backward of one step (convolutions and matmuls)",
            "loadavg_1m_before": round(load_before, 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
            "goal": "achieved / matmul FLOP rate >= 0.6; reported, not asserted",
        }
    )
    print(
        f"\nvgg4_bn training step, batch {BATCH}, {step_flops / 1e9:.1f} GFLOP: {THREADS} threads "
        f"{figures['imgs_per_s_plain']:.0f} img/s NCHW ({figures['achieved_gflops_plain']:.0f} GFLOP/s, "
        f"x{figures['ratio_plain']:.2f} of matmul), {figures['imgs_per_s_channels_last']:.0f} img/s channels_last "
        f"({figures['achieved_gflops_channels_last']:.0f} GFLOP/s, x{figures['ratio_channels_last']:.2f}); "
        f"1 thread {figures['imgs_per_s_plain_1thread']:.0f} img/s (x{figures['ratio_plain_1thread']:.2f} of "
        f"{figures['matmul_gflops_1thread']:.0f}); matmul {figures['matmul_gflops']:.0f} GFLOP/s; "
        f"load {load_before:.2f} -> {os.getloadavg()[0]:.2f}"
    )


# ------------------------------------------------------------------ helpers: scheduling


@dataclass
class TrialTimeline:
    """What the driver saw of one trial, on its own perf_counter clock."""

    start: float = math.nan  # on_trial_start
    complete: float = math.nan  # on_trial_complete
    arrivals: list[float] = field(default_factory=list)  # each result, as it reached the driver
    results: list[dict[str, Any]] = field(default_factory=list)  # the fields of each result we use
    checkpoint_epochs: set[int] = field(default_factory=set)
    store_write_s: list[float] = field(default_factory=list)  # our StoreCallback's time per result


@dataclass
class Timeline:
    """Driver-side timestamps of every trial event, by wrapping StoreCallback's hooks: Ray calls
    them in the driver's event loop, so they are exactly when the driver learnt of each event."""

    trials: dict[str, TrialTimeline] = field(default_factory=dict)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("on_trial_start", "on_trial_result", "on_checkpoint", "on_trial_complete"):
            monkeypatch.setattr(StoreCallback, name, self._hooked(name, getattr(StoreCallback, name)))

    def _hooked(self, name: str, original: Callable[..., None]) -> Callable[..., None]:
        def hook(callback: StoreCallback, *args: Any, **kwargs: Any) -> None:
            arrived = time.perf_counter()
            trial = kwargs["trial"] if "trial" in kwargs else args[2]
            self._note(name, self.trials.setdefault(trial.trial_id, TrialTimeline()), arrived, args, kwargs)
            original(callback, *args, **kwargs)
            if name == "on_trial_result":
                self.trials[trial.trial_id].store_write_s.append(time.perf_counter() - arrived)

        return hook

    @staticmethod
    def _note(name: str, t: TrialTimeline, arrived: float, args: tuple, kwargs: dict[str, Any]) -> None:
        if name == "on_trial_start":
            t.start = arrived
        elif name == "on_trial_complete":
            t.complete = arrived
        elif name == "on_trial_result":
            result = kwargs["result"] if "result" in kwargs else args[3]
            t.arrivals.append(arrived)
            t.results.append(
                {k: result.get(k) for k in ("epoch", "time_this_iter_s", "pid", "epoch_time_s", "eval_time_s")}
            )
        elif t.results:  # on_checkpoint: it follows the result that carried the checkpoint
            t.checkpoint_epochs.add(t.results[-1]["epoch"])


def _proc_ticks(pid: int) -> int | None:
    """utime + stime of a process in clock ticks; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted after the name


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                ppid = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:  # it exited meanwhile
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendants(root: int) -> list[int]:
    """Only our own process tree (raylet, gcs, workers of ray_session): other sessions on this
    machine may run Ray too."""
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += tree.get(pid, [])
    return found


def _role(pid: int, me: int) -> str:
    """driver (this process), worker (a Ray worker process: trials run in these) or ray (raylet,
    gcs_server, Ray's agents and monitors: the cluster's own machinery)."""
    if pid == me:
        return "driver"
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return "ray"
    return "worker" if title.startswith("ray::") and not title.split()[0].endswith("Agent") else "ray"


def _machine_ticks() -> tuple[int, int]:
    """(busy, steal) ticks of the whole machine, from the first line of /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return user + nice + system + irq + softirq + steal, steal


@dataclass
class CpuSampler:
    """CPU seconds used during the sweep by each role of our process tree, and by the whole
    machine: with 2 cores, whatever the driver and Ray's own processes use is taken from the trials.

    Sampled every `interval` s so that a worker that exits before the end still counts up to its
    last sample."""

    interval: float = 0.5
    first: dict[int, int] = field(default_factory=dict)  # ticks when first seen (0 if born later)
    last: dict[int, int] = field(default_factory=dict)
    roles: dict[int, str] = field(default_factory=dict)
    machine_start: tuple[int, int] = (0, 0)
    machine_end: tuple[int, int] = (0, 0)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self, *, initial: bool = False) -> None:
        me = os.getpid()
        for pid in _descendants(me):
            ticks = _proc_ticks(pid)
            if ticks is None:
                continue
            if pid not in self.first:
                self.first[pid] = ticks if initial else 0
                self.roles[pid] = _role(pid, me)
            elif self.roles[pid] == "ray" and pid != me:
                self.roles[pid] = _role(pid, me)  # a new worker's title is set just after its start
            self.last[pid] = ticks

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> CpuSampler:
        self.machine_start = _machine_ticks()
        self.sample(initial=True)
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.sample()
        self.machine_end = _machine_ticks()

    def seconds(self) -> dict[str, float]:
        used = dict.fromkeys(("driver", "worker", "ray"), 0.0)
        for pid, role in self.roles.items():
            used[role] += (self.last[pid] - self.first[pid]) / CLK_TCK
        busy = (self.machine_end[0] - self.machine_start[0]) / CLK_TCK
        used["machine"] = busy
        used["steal"] = (self.machine_end[1] - self.machine_start[1]) / CLK_TCK
        used["others"] = max(0.0, busy - used["driver"] - used["worker"] - used["ray"])
        return used


@dataclass
class CallTimer:
    """Calls of one function while the sweep runs: how many, their total time, and when the
    first began and the last ended (perf_counter)."""

    calls: int = 0
    seconds: float = 0.0
    first_in: float = math.nan
    last_out: float = math.nan

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> CallTimer:
        timer, original = cls(), getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            if math.isnan(timer.first_in):
                timer.first_in = start
            try:
                return original(*args, **kwargs)
            finally:
                timer.last_out = time.perf_counter()
                timer.calls += 1
                timer.seconds += timer.last_out - start

        monkeypatch.setattr(owner, name, timed)
        return timer


def _solo_epoch_s() -> float:
    """Median training + validation time of one cnn_small epoch on digits with the sweep's
    recipe (adam, batch 64, 1 thread) alone in this process: what a trial would take per epoch
    if the two trials, the driver and Ray's processes did not share the 2 cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        prepare("digits", None)  # the session's cache may not hold it yet; the sweep then finds it
        task, data = get_task("digits"), load_task("digits", None)
        images = {
            s: (torch.from_numpy(d.images), torch.from_numpy(d.labels))
            for s, d in (("train", data.train), ("val", data.val))
        }
        torch.manual_seed(0)
        model = create_model("cnn_small", in_shape=task.shape(None), num_outputs=10)
        where = placement(model, device=choose_device([]))  # as a CPU trial places it: channels_last for conv nets
        model = where.model(model)
        optimizer = create_optimizer("adam", model.parameters(), lr=1e-3)
        normalize = Normalizer(task.mean, task.std, torch.device("cpu"))
        generator = torch.Generator().manual_seed(0)
        seconds = []
        for _ in range(SOLO_EPOCHS):
            train = train_one_epoch(
                model=model,
                objective=OBJECTIVES["logits"],
                optimizer=optimizer,
                images=images["train"][0],
                labels=images["train"][1],
                batch_size=64,
                normalize=normalize,
                generator=generator,
                placement=where,
            )
            val = evaluate(
                model=model,
                objective=OBJECTIVES["logits"],
                images=images["val"][0],
                labels=images["val"][1],
                batch_size=512,
                normalize=normalize,
                placement=where,
            )
            assert math.isfinite(train["loss"]) and math.isfinite(val["loss"])
            seconds.append(train["time_s"] + val["time_s"])
    finally:
        torch.set_num_threads(previous)
    return statistics.median(seconds[1:])  # the first epoch pays oneDNN's set-up


def _recorded_span_s(rows: list[dict[str, Any]]) -> float:
    """First to last epoch's `recorded_at` (whole seconds in the store), plus the first epoch's
    own time, which happened before its row was recorded."""
    first, last = (datetime.fromisoformat(rows[i]["recorded_at"]) for i in (0, -1))
    return (last - first).total_seconds() + rows[0]["epoch_time_s"] + rows[0]["eval_time_s"]


def _trial_breakdown(t: TrialTimeline, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Where one trial's slot time went, in seconds, from the driver's timestamps, the worker's
    own `time_this_iter_s` (start of Ray's step() to its result, in the trial's process) and the
    store's per-epoch times. The parts add up to complete - start."""
    compute = [r["epoch_time_s"] + r["eval_time_s"] for r in rows]
    iters = [r["time_this_iter_s"] for r in t.results]
    startup = t.arrivals[0] - t.start - compute[0]
    worker_setup = iters[0] - compute[0]  # in run_trial before epoch 1: data map, model, optimizer
    report_in_worker = [i - c for i, c in zip(iters[1:], compute[1:])]  # tune.report, checkpoint copy
    between = (t.arrivals[-1] - t.arrivals[0]) - sum(iters[1:])  # driver round trip per epoch
    with_ckpt = [o for r, o in zip(t.results[1:], report_in_worker) if r["epoch"] in t.checkpoint_epochs]
    without = [o for r, o in zip(t.results[1:], report_in_worker) if r["epoch"] not in t.checkpoint_epochs]
    return {
        "occupancy": t.complete - t.start,
        "compute": sum(compute),
        "startup": startup,
        "startup_in_worker": worker_setup,
        "startup_dispatch": startup - worker_setup,  # actor start or reuse, reset_config, the first step() call
        "epoch_overhead_in_worker": sum(report_in_worker),
        "epoch_overhead_round_trip": between,
        "teardown": t.complete - t.arrivals[-1],
        "report_with_ckpt_ms": 1e3 * statistics.mean(with_ckpt) if with_ckpt else math.nan,
        "report_without_ckpt_ms": 1e3 * statistics.mean(without) if without else math.nan,
        "checkpoints": float(len(t.checkpoint_epochs)),
        "recorded_span": _recorded_span_s(rows),
    }


def _lost_slot_seconds(
    total: dict[str, float],
    *,
    start: float,
    end: float,
    fit: CallTimer,
    slots: int,
    first_start: float,
    last_complete: float,
) -> dict[str, float]:
    """Slot-seconds the trials did not spend training, by where; they add up to
    wall x slots - the sum of the trials' epoch times."""
    outside = slots * (first_start - start + end - last_complete)  # no trial is running at all
    return {
        # CLI, validation, data prepare (a cache hit here), store, environment, Tuner construction
        "before_fit": slots * (fit.first_in - start),
        # Tune's controller set-up and the first two trial processes' start, up to on_trial_start
        "fit_to_first_trial": slots * (first_start - fit.first_in),
        "last_trial_to_fit_end": slots * (fit.last_out - last_complete),  # Tune's shut-down
        "after_fit": slots * (end - fit.last_out),  # leaderboard, store close
        "idle_slots_between": slots * (end - start) - total["occupancy"] - outside,
        "trial_startup_dispatch": total["startup_dispatch"],
        "trial_startup_in_worker": total["startup_in_worker"],
        "epoch_report_in_worker": total["epoch_overhead_in_worker"],
        "epoch_round_trip": total["epoch_overhead_round_trip"],
        "trial_teardown": total["teardown"],
    }


@pytest.mark.benchmark(group="scheduling")
def test_bench_sweep_scheduling_efficiency(benchmark, ray_session, tmp_path, monkeypatch):
    results = tmp_path / "results"
    argv = [
        "sweep",
        "--task",
        "digits",
        "--arch",
        "cnn_small",
        "--optimizer",
        ",".join(SWEEP_OPTIMIZERS),
        "--lr",
        ",".join(map(str, SWEEP_LRS)),
        "--epochs",
        str(SWEEP_EPOCHS),
        "--no-export",
        "--no-live",
        "--results",
        str(results),
    ]
    slots = int(ray_session.cluster_resources()["CPU"] // CPUS_PER_TRIAL)
    assert slots == THREADS  # conftest's Ray instance: num_cpus=2
    timeline, cpu = Timeline(), CpuSampler()
    timeline.install(monkeypatch)
    prepare_timer = CallTimer.install(monkeypatch, harness.sweeps.driver, "prepare_data")
    fit = CallTimer.install(monkeypatch, tune.Tuner, "fit")
    # Tune's controller saves its experiment state (trials, searcher, callbacks) from its event
    # loop, throttled by TUNE_GLOBAL_CHECKPOINT_S; the trials wait on that loop at every report.
    state_saves = CallTimer.install(monkeypatch, TuneController, "checkpoint")
    marks: dict[str, float] = {}
    load_before = os.getloadavg()[0]
    solo_epoch_s = _solo_epoch_s()  # before the sweep, on the same quiet-or-not machine

    def run_sweep() -> int:
        with cpu:
            marks["start"] = time.perf_counter()
            code = main(argv)
            marks["end"] = time.perf_counter()
        return code

    assert benchmark.pedantic(run_sweep, rounds=1, iterations=1) == 0
    wall = marks["end"] - marks["start"]
    with Store.existing(results) as store:
        trials = list(store.trial_summaries(task="digits"))
        epochs = {t["ray_id"]: store.epochs(t["id"]) for t in trials}  # the timeline knows Ray's ids
    assert len(trials) == SWEEP_TRIALS and set(timeline.trials) == set(epochs)
    assert {(t["optimizer"], t["lr"]) for t in trials} == {(o, lr) for o in SWEEP_OPTIMIZERS for lr in SWEEP_LRS}
    assert all(t["status"] == "finished" and t["epochs_run"] == SWEEP_EPOCHS for t in trials)
    for trial_id, rows in epochs.items():
        assert [r["epoch"] for r in rows] == list(range(1, SWEEP_EPOCHS + 1))
        assert [r["epoch"] for r in timeline.trials[trial_id].results] == list(range(1, SWEEP_EPOCHS + 1))

    parts = {tid: _trial_breakdown(timeline.trials[tid], rows) for tid, rows in epochs.items()}
    total = {key: sum(p[key] for p in parts.values()) for key in next(iter(parts.values()))}
    capacity = wall * slots  # slot-seconds the sweep had
    pids = {r["pid"] for t in timeline.trials.values() for r in t.results}
    store_write_ms = [1e3 * s for t in timeline.trials.values() for s in t.store_write_s]
    used = cpu.seconds()
    figures = {
        "wall_s": wall,
        "sum_trial_s": total["compute"],
        "efficiency": total["compute"] / capacity,
        "mean_trial_s": total["compute"] / SWEEP_TRIALS,
        "sum_trial_span_s": total["recorded_span"],
        "efficiency_recorded_span": total["recorded_span"] / capacity,
        "sum_occupancy_s": total["occupancy"],
        "efficiency_occupancy": total["occupancy"] / capacity,
        "solo_epoch_s": solo_epoch_s,
        "mean_epoch_in_sweep_s": total["compute"] / (SWEEP_TRIALS * SWEEP_EPOCHS),
        "efficiency_vs_solo": SWEEP_TRIALS * SWEEP_EPOCHS * solo_epoch_s / capacity,
        "efficiency_cpu": used["worker"] / capacity,
        "cpu_s_workers": used["worker"],
        "cpu_s_driver": used["driver"],
    }
    _positive(figures)
    lost = _lost_slot_seconds(
        total,
        start=marks["start"],
        end=marks["end"],
        fit=fit,
        slots=slots,
        first_start=min(t.start for t in timeline.trials.values()),
        last_complete=max(t.complete for t in timeline.trials.values()),
    )
    assert math.isclose(sum(lost.values()), capacity - total["compute"], rel_tol=1e-6, abs_tol=1e-6)
    benchmark.extra_info.update({key: round(value, 3) for key, value in figures.items()})
    benchmark.extra_info.update(
        {
            "slots": slots,
            "trials": SWEEP_TRIALS,
            "epochs": SWEEP_EPOCHS,
            "cpus_per_trial": CPUS_PER_TRIAL,
            "ray_start_included": False,
            "ray_start_note": "ray_session (conftest) is already up: Ray's ~7 s start is not in wall_s",
            "sum_trial_s_is": "per trial, sum over epochs of epoch_time_s + eval_time_s (the store)",
            "recorded_span_note": "recorded_at has whole-second resolution: +-1 s per trial",
            "occupancy_is": "driver's on_trial_start -> on_trial_complete, per trial",
            "efficiency_cpu_is": "CPU seconds of the trial processes / (wall x slots): time a trial waited for a "
            "core (taken by the driver, Ray or other sessions) counts in its epochs, not here",
            "lost_slot_s": {key: round(value, 2) for key, value in lost.items()},
            "per_trial_mean_s": {
                key: round(value / SWEEP_TRIALS, 3) for key, value in total.items() if not key.endswith("_ms")
            },
            "report_ms": {
                "with_checkpoint": round(_nanmean(p["report_with_ckpt_ms"] for p in parts.values()), 2),
                "without_checkpoint": round(_nanmean(p["report_without_ckpt_ms"] for p in parts.values()), 2),
            },
            "checkpoints_per_trial": [int(p["checkpoints"]) for p in parts.values()],
            # in start order: the first trial of each worker process also pays its first imports
            "startup_in_worker_s": [
                round(parts[tid]["startup_in_worker"], 3)
                for tid in sorted(parts, key=lambda tid: timeline.trials[tid].start)
            ],
            "store_write_ms_mean": round(statistics.mean(store_write_ms), 2),
            "worker_processes": len(pids),
            "prepare_data_s": round(prepare_timer.seconds, 3),
            "experiment_state_saves": {
                "calls": state_saves.calls,
                "total_s": round(state_saves.seconds, 2),
                "ms_per_call": round(1e3 * state_saves.seconds / max(1, state_saves.calls), 2),
                "TUNE_GLOBAL_CHECKPOINT_S": os.environ.get("TUNE_GLOBAL_CHECKPOINT_S", "auto"),
            },
            "worker_on_cpu_fraction": round(used["worker"] / total["occupancy"], 3),
            "cpu_s_during_sweep": {key: round(value, 1) for key, value in used.items()},
            "cpu_capacity_s": round(wall * os.cpu_count(), 1),
            "loadavg_1m_before": round(load_before, 2),
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
            "goal": "efficiency >= 0.85; reported, not asserted",
        }
    )
    print(
        f"\nsweep {SWEEP_TRIALS} trials x {SWEEP_EPOCHS} epochs cnn_small/digits on {slots} slots: wall {wall:.1f} s, "
        f"trials trained {total['compute']:.1f} s (mean {figures['mean_trial_s']:.1f} s) -> efficiency "
        f"{figures['efficiency']:.2f} (occupancy {figures['efficiency_occupancy']:.2f}, cpu "
        f"{figures['efficiency_cpu']:.2f}, vs solo epochs "
        f"{figures['efficiency_vs_solo']:.2f}); epoch {figures['mean_epoch_in_sweep_s'] * 1e3:.0f} ms in sweep vs "
        f"{solo_epoch_s * 1e3:.0f} ms solo; lost slot-s "
        + ", ".join(f"{key} {value:.1f}" for key, value in lost.items())
        + f"; cpu-s workers {used['worker']:.0f} driver {used['driver']:.0f} ray {used['ray']:.0f} others "
        f"{used['others']:.0f} of {wall * os.cpu_count():.0f}; load {load_before:.2f} -> {os.getloadavg()[0]:.2f}"
    )


def _nanmean(values: Any) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return statistics.mean(kept) if kept else math.nan
