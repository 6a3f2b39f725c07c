"""The Ray Tune trainable: one trial trains one configuration and reports every epoch.

This is a thin shell around harness.train: it reads its config, sizes torch's thread pool to
the CPUs Ray gave it, and turns each epoch into a `tune.report` (with a checkpoint whenever
the validation metric improves, so the kept checkpoint is always the best one).
"""

from __future__ import annotations

import math
import tempfile
from typing import Any

import torch
from ray import tune

from harness.architectures import count_params, create_model
from harness.checkpoint import save_checkpoint
from harness.config import TrialSpec
from harness.datasets import get_task
from harness.optim import create_optimizer
from harness.train import OBJECTIVES, Normalizer, evaluate, pick_device, train_one_epoch

EVAL_BATCH = 512  # evaluation needs no gradients, so larger batches only save overhead


def allotted_cpus() -> int:
    """The CPUs Ray reserved for this trial (Ray itself sets OMP_NUM_THREADS=1)."""
    resources = tune.get_context().get_trial_resources().required_resources
    return max(1, int(resources.get("CPU", 1)))


def run_trial(config: dict[str, Any]) -> None:
    spec = TrialSpec.from_config(config)
    torch.set_num_threads(allotted_cpus())
    torch.manual_seed(spec.seed)
    device = pick_device()

    task = get_task(spec.task)
    data = task.load(spec.data_dir)
    # Only train and val: the test split is for export verification, never for selection.
    tensors = {
        name: (torch.from_numpy(s.images).to(device), torch.from_numpy(s.labels).to(device))
        for name, s in (("train", data.train), ("val", data.val))
    }
    model = create_model(spec.arch, in_shape=task.input_shape, num_outputs=task.num_outputs).to(device)
    params = count_params(model)
    optimizer = create_optimizer(spec.optimizer, model.parameters(), lr=spec.lr)
    objective = OBJECTIVES[task.head]
    normalize = Normalizer(task.mean, task.std, device)
    generator = torch.Generator().manual_seed(spec.seed)
    sign = 1.0 if task.mode == "max" else -1.0
    best = -math.inf

    for epoch in range(1, spec.epochs + 1):
        train = train_one_epoch(
            model=model, objective=objective, optimizer=optimizer, images=tensors["train"][0],
            labels=tensors["train"][1], batch_size=spec.batch_size, normalize=normalize, generator=generator,
        )
        val = evaluate(
            model=model, objective=objective, images=tensors["val"][0], labels=tensors["val"][1],
            batch_size=EVAL_BATCH, normalize=normalize,
        )
        diverged = not (math.isfinite(train["loss"]) and math.isfinite(val["loss"]))
        metrics = {
            "epoch": epoch,
            "train_loss": train["loss"],
            "train_acc": train["acc"],
            "val_loss": val["loss"],
            "val_acc": val["acc"],
            "epoch_time_s": train["time_s"],
            "eval_time_s": val["time_s"],
            "samples_per_s": train["samples_per_s"],
            "params": params,
            "diverged": diverged,
        }
        score = sign * metrics[task.metric]
        if diverged or score <= best:
            tune.report(metrics)
        else:
            best = score
            with tempfile.TemporaryDirectory() as tmp:
                save_checkpoint(tmp, model=model, spec=spec, epoch=epoch, metrics=metrics)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
        if diverged:
            return  # a NaN/inf loss never recovers; the store marks the trial diverged
