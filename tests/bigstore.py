"""A large results store built without Ray, through the store's own writes, as a sweep driver
would write it: for the leaderboard's tests and benchmark at scale. (On the test path through
`pythonpath` in pyproject.toml.)"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

from harness.config.spec import TrialSpec
from harness.engine.reported import EpochReport
from harness.kinds import Status
from harness.store.db import Store

TASK = "cifar10"
# A wide cifar10 grid: 5 x 4 x 5 x 2 x 2 = 400 configurations, then seeds until the store is full.
ARCHS = ("mlp", "cnn_small", "vgg4_bn", "vgg8_bn", "resnet9")
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")
LRS = (0.001, 0.003, 0.01, 0.03, 0.1)
BATCH_SIZES = (64, 128)
WEIGHT_DECAYS = (0.0, 5e-4)
TRIALS_PER_SWEEP = 256  # one store holds many sweeps, as a long-lived results folder does


def build_store(results: Path, *, trials: int, epochs: int = 3, seed: int = 0) -> Path:
    """A store at `results` of `trials` cifar10 trials over the grid above, `epochs` each (some
    stopped early, a few failed or diverged, a few exported and verified); returns `results`."""
    rng = random.Random(seed)
    grid = list(itertools.product(ARCHS, OPTIMIZERS, LRS, BATCH_SIZES, WEIGHT_DECAYS))
    with Store.create(results) as store:
        # A test fixture's store, rebuilt at will: skip the fsync after each of its ~5 commits a trial.
        store.conn.execute("PRAGMA synchronous = OFF")
        for n in range(trials):
            sweep_id, index = divmod(n, TRIALS_PER_SWEEP)
            sweep = f"2026-01-01_00-{sweep_id:05d}"
            if index == 0:
                command = "harness sweep --task cifar10"
                store.create_sweep(sweep_id=sweep, task=TASK, seed=0, command=command, spec_json="{}", environment={})
            arch, optimizer, lr, batch_size, weight_decay = grid[n % len(grid)]
            config = TrialSpec(
                task=TASK,
                epochs=epochs,
                variant="report",
                arch=arch,
                optimizer=optimizer,
                lr=lr,
                batch_size=batch_size,
                weight_decay=weight_decay,
                seed=n // len(grid),
            ).config()
            trial = store.start_trial(trial_id=f"{sweep_id:05x}_{index:05d}", sweep_id=sweep, config=config)
            _train(store, trial, rng=rng, epochs=epochs, index=n)
    return results


def _train(store: Store, trial: str, *, rng: random.Random, epochs: int, index: int) -> None:
    """A trial's epochs as the driver records them, then how it ended."""
    if index % 101 == 7:  # failed before its first epoch
        store.end_trial(trial, status=Status.ERROR, error="RuntimeError: CUDA out of memory")
        return
    ran = 1 if index % 13 == 5 else epochs  # ASHA stopped it
    best, best_epoch = 0.0, 1
    for epoch in range(1, ran + 1):
        acc = min(0.95, rng.uniform(0.1, 0.5) + 0.1 * epoch)
        if acc > best:
            best, best_epoch = acc, epoch
        result: EpochReport = {
            "epoch": epoch,
            "train_loss": rng.uniform(0.5, 2.0),
            "train_acc": acc + 0.05,
            "val_loss": rng.uniform(0.5, 2.0),
            "val_acc": acc,
            "epoch_time_s": rng.uniform(5.0, 40.0),
            "eval_time_s": rng.uniform(1.0, 8.0),
            "samples_per_s": rng.uniform(300.0, 3000.0),
            "params": 100_000 + 1_000 * (index % 400),
            "best_epoch": best_epoch,
            "diverged": index % 211 == 3 and epoch == ran,
        }
        if epoch == ran == epochs:  # the last epoch scores the best checkpoint on the test split
            # counts, as evaluate gives them: 1,000 test images per class on the report split
            confusion = [[rng.randrange(1000) for _ in range(10)] for _ in range(10)]
            test = {"loss": rng.uniform(0.5, 2.0), "acc": best - 0.01, "time_s": 3.0, "confusion": confusion}
            result["test_json"] = json.dumps({"epoch": best_epoch, **test})
        store.record_epoch(trial_id=trial, result=result, node="10.0.0.1/abcdef")
    store.end_trial(trial, status=Status.FINISHED if ran == epochs else Status.STOPPED)
    if index % 1000 == 0:  # a few exported, verified with latency figures
        export = store.add_export(trial_id=trial, path=f"/tmp/{trial}.onnx", opset=18, ir_version=10)
        store.set_verification(
            export,
            status="verified",
            provider="CPUExecutionProvider",
            max_abs_diff=1e-6,
            top1_agreement=1.0,
            torch_metric=best,
            ort_metric=best,
            details={"latency": {"onnxruntime_b1_p50_ms": 0.7, "speedup_b1": 3.1, "speedup_b1_clear": True}},
        )
