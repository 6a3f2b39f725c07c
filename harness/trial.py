"""The Ray Tune trainable: one trial trains one configuration and reports every epoch.

This is a thin shell around harness.train: it reads its config, sizes torch's thread pool to
the CPUs Ray gave it, places itself (device, autocast, memory format), continues from its
checkpoint when a sweep is resumed, and turns each epoch into a `tune.report` (with a
checkpoint whenever the validation metric improves, so the kept checkpoint is always the best;
after the last epoch the best weights are scored once on the test split, which selects nothing).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import torch
from ray import tune

from harness.architectures import count_params, create_model, get_arch
from harness.augment import get_augment
from harness.checkpoint import CHECKPOINT_FILE, save_checkpoint
from harness.config import TrialSpec
from harness.datasets import DatasetSpec, get_task, load_task
from harness.device import placement
from harness.kinds import better
from harness.optim import create_optimizer
from harness.train import OBJECTIVES, Augmentation, Normalizer, evaluate, train_one_epoch

EVAL_BATCH = 512  # evaluation needs no gradients, so larger batches only save overhead
BASE = ("loss", "acc", "time_s", "samples_per_s")  # what every objective reports; the rest are extras


def allotted_cpus() -> int:
    """The CPUs Ray reserved for this trial (Ray itself sets OMP_NUM_THREADS=1)."""
    resources = tune.get_context().get_trial_resources().required_resources
    return max(1, int(resources.get("CPU", 1)))


def _augmentation(spec: TrialSpec, task: DatasetSpec) -> Augmentation | None:
    augment = get_augment(spec.augment or task.augment)
    return None if augment.identity else augment


def _node_name() -> str:
    """The Ray node this trial runs on: its IP and the start of its node id (two nodes of a
    one-machine cluster share an IP)."""
    import ray

    context = ray.get_runtime_context()
    return f"{ray.util.get_node_ip_address()}/{context.get_node_id()[:8]}"


def _test_scores(
    model: torch.nn.Module,
    objective: Any,
    test: tuple[torch.Tensor, torch.Tensor],
    task: DatasetSpec,
    normalize: Normalizer,
    where: Any,
) -> dict[str, Any]:
    """The best checkpoint on the test split: loss, acc, the task's extras, time_s and, for
    classification, the confusion matrix (the leaderboard's test column, `harness show`)."""
    classes = len(task.classes) if task.kind == "classification" else None
    return evaluate(
        model=model,
        objective=objective,
        images=test[0],
        labels=test[1],
        batch_size=EVAL_BATCH,
        normalize=normalize,
        placement=where,
        num_classes=classes,
    )


def run_trial(config: dict[str, Any]) -> None:
    spec = TrialSpec.from_config(config)
    torch.set_num_threads(allotted_cpus())
    torch.manual_seed(spec.seed)

    task = get_task(spec.task)
    head = get_arch(spec.arch).head
    model = create_model(spec.arch, in_shape=task.shape(spec.image_size), num_outputs=task.num_outputs(head))
    where = placement(model)  # CUDA (bf16 autocast) when Ray gave us a GPU share; channels_last for conv nets
    model, device = where.model(model), where.device
    # Memory-mapped from the decode-once cache (built by the driver; built here, under its lock,
    # only on a node that has none): trials on one node share the page cache.
    data = load_task(spec.task, spec.data_dir, variant=spec.variant, image_size=spec.image_size)
    # Val selects; the test split is scored once, for the best checkpoint, and never chooses.
    # On CUDA the splits move to the GPU once; on CPU they stay memory maps.
    train_images, train_labels = torch.from_numpy(data.train.images), torch.from_numpy(data.train.labels)
    if spec.train_limit:  # a seeded subset: some stored splits are ordered by class
        keep = torch.randperm(len(train_labels), generator=torch.Generator().manual_seed(0))[: spec.train_limit]
        train_images, train_labels = train_images[keep], train_labels[keep]
    tensors = {
        "train": (train_images.to(device), train_labels.to(device)),
        **{
            name: (torch.from_numpy(split.images).to(device), torch.from_numpy(split.labels).to(device))
            for name, split in (("val", data.val), ("test", data.test))
        },
    }
    params = count_params(model)
    optimizer = create_optimizer(spec.optimizer, model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    objective = OBJECTIVES[head]
    mean, std = task.pixel_stats(spec.pixels)
    normalize = Normalizer(mean, std, device)
    augment = _augmentation(spec, task)
    generator = torch.Generator().manual_seed(spec.seed)
    best: float | None = None  # the best validation metric so far
    best_epoch, start = 0, 1
    restored = tune.get_checkpoint()  # set when a resumed sweep continues this trial
    if restored:
        with restored.as_directory() as directory:
            ckpt = torch.load(Path(directory) / CHECKPOINT_FILE, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model_state"])
        optimizer.load_state_dict(ckpt["optimizer_state"])
        generator.set_state(ckpt["generator_state"])
        best, best_epoch, start = ckpt["metrics"][task.metric], ckpt["epoch"], ckpt["epoch"] + 1
    best_state = _copy_state(model)  # the best weights so far, kept for the final test scoring
    node = _node_name()

    for epoch in range(start, spec.epochs + 1):
        train = train_one_epoch(
            model=model,
            objective=objective,
            optimizer=optimizer,
            images=tensors["train"][0],
            labels=tensors["train"][1],
            batch_size=spec.batch_size,
            normalize=normalize,
            generator=generator,
            augment=augment,
            placement=where,
        )
        val = evaluate(
            model=model,
            objective=objective,
            images=tensors["val"][0],
            labels=tensors["val"][1],
            batch_size=EVAL_BATCH,
            normalize=normalize,
            placement=where,
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
            "node": node,
            # the task's own scores beyond acc (PSNR, Keras-style accuracy for upsampling)
            **{
                f"{split}_{k}": v
                for split, r in (("train", train), ("val", val))
                for k, v in r.items()
                if k not in BASE
            },
        }
        improved = not diverged and (best is None or better(metrics[task.metric], best, task.mode))
        if improved:
            best, best_epoch, best_state = metrics[task.metric], epoch, _copy_state(model)
        metrics["best_epoch"] = best_epoch
        if epoch == spec.epochs and not diverged:
            # The last epoch: the best checkpoint's weights, once, on the test split. Trials that
            # ASHA or a time budget stop earlier carry no test score (export verification has one).
            model.load_state_dict(best_state)
            metrics["test_json"] = json.dumps(
                {"epoch": best_epoch, **_test_scores(model, objective, tensors["test"], task, normalize, where)}
            )
        if improved:
            with tempfile.TemporaryDirectory() as tmp:
                save_checkpoint(
                    tmp, model=model, spec=spec, epoch=epoch, metrics=metrics, optimizer=optimizer, generator=generator
                )
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
        else:
            tune.report(metrics)
        if diverged:
            return  # a NaN/inf loss never recovers; the store marks the trial diverged


def _copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
