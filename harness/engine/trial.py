"""The Ray Tune trainable: one trial trains one configuration and reports every epoch.

A thin adapter over harness.engine.fit (the pure epoch logic): it reads its config, sizes torch's
thread pool to the CPUs Ray gave it, places itself on the GPU Ray assigned it or the CPU
(device, precision, memory format: harness.engine.device decides from the ids passed in), builds
the model, data and optimizer, hands `fit` the checkpoint Ray restored when a sweep is resumed,
and turns each epoch's result into a `tune.report`, with a checkpoint whenever the result is a
new best (so the kept checkpoint is always the best one).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import cast

import torch
from ray import tune

from harness.architectures import DataInit, count_params, create_model, get_arch
from harness.config.frameworks import get_framework
from harness.config.spec import TrialSpec
from harness.config.techniques import get_averaging, get_schedule, get_tta
from harness.config.trial_config import TrialConfig
from harness.datasets import DatasetSpec, get_task, load_task
from harness.engine.augment import get_augment
from harness.engine.checkpoint import CHECKPOINT_FILE, save_checkpoint, save_last_weights
from harness.engine.device import Placement, choose_device, data_home, gpu_seconds, placement
from harness.engine.fit import EpochResult, Resume, fit
from harness.engine.optim import create_optimizer
from harness.engine.recorded import Recorded, stored_id
from harness.engine.reported import EpochReport
from harness.engine.shipped import Shipped, adopt
from harness.engine.train import OBJECTIVES, Augmentation, Normalizer, train_subset
from harness.engine.weights import adaptation_notes, load_init


def allotted_cpus() -> int:
    """The CPUs Ray reserved for this trial (Ray itself sets OMP_NUM_THREADS=1)."""
    resources = tune.get_context().get_trial_resources().required_resources
    return max(1, int(resources.get("CPU", 1)))


def allotted_gpu_share() -> float:
    """The GPU share Ray reserved for this trial (0.25: a quarter of one GPU; 0: none)."""
    return float(tune.get_context().get_trial_resources().required_resources.get("GPU", 0))


def assigned_gpus() -> list[str]:
    """The GPU ids Ray assigned to this trial's worker, as strings ([] when it holds no GPU).
    Ray's assignment, not torch.cuda.is_available(), decides: Ray 2.60 no longer hides GPUs
    from workers that hold none."""
    import ray

    return [str(g) for g in ray.get_runtime_context().get_accelerator_ids().get("GPU", [])]


def _augmentation(spec: TrialSpec, task: DatasetSpec) -> Augmentation | None:
    augment = get_augment(spec.augment or task.augment)
    return None if augment.identity else augment


def _node_name() -> str:
    """The Ray node this trial runs on: its IP and the start of its node id (two nodes of a
    one-machine cluster share an IP)."""
    import ray

    context = ray.get_runtime_context()
    return f"{ray.util.get_node_ip_address()}/{context.get_node_id()[:8]}"


def run_trial(config: TrialConfig, recorded: Recorded | None = None, shipped: Shipped | None = None) -> None:
    """`recorded`: a resumed sweep's checkpoints (harness.engine.recorded), the one this trial
    continues from when its config names a stored trial. `shipped`: the networks and tasks users'
    code registered on the driver (harness.engine.shipped)."""
    adopt(shipped)
    trial_id = stored_id(tune.get_context().get_trial_id(), config)
    spec = TrialSpec.from_config(config)
    torch.set_num_threads(allotted_cpus())
    torch.manual_seed(spec.seed)

    task = get_task(spec.task)
    head = get_arch(spec.arch).head
    in_shape = task.shape(spec.image_size)
    pretrained = bool(spec.pretrained)
    model = create_model(spec.arch, in_shape=in_shape, num_outputs=task.num_outputs(head), pretrained=pretrained)
    framework = get_framework(spec.framework)
    if not pretrained:
        framework.init(model)  # before placement: the same weights on any device
    notes = adaptation_notes(spec.arch, channels=in_shape[0], pretrained=pretrained)
    if spec.init:  # a file: the driver made a trial id its checkpoint's path
        notes.append(load_init(model, spec.init))
    # The GPU Ray assigned (or the CPU when none): a trial given a GPU it cannot use fails here.
    chosen = choose_device(assigned_gpus())
    where = placement(model, device=chosen, precision=spec.precision, probe=(spec.arch, (spec.batch_size, *in_shape)))
    where.configure_backends()
    model, device = where.model(model), where.device
    # Memory-mapped from the decode-once cache (built by the driver; built here, under its lock,
    # only on a node that has none): trials on one node share the page cache.
    data = load_task(spec.task, spec.data_dir, variant=spec.variant, image_size=spec.image_size)
    # Val selects; the test split is scored once, for the best checkpoint, and never chooses.
    train_images, train_labels = torch.from_numpy(data.train.images), torch.from_numpy(data.train.labels)
    if spec.train_limit:
        keep = train_subset(len(train_labels), spec.train_limit)
        train_images, train_labels = train_images[keep], train_labels[keep]
    val_images, val_labels = torch.from_numpy(data.val.images), torch.from_numpy(data.val.labels)
    if spec.eval_limit:  # the same seeded draw as --train-limit's, over the validation split
        keep = train_subset(len(val_labels), spec.eval_limit)
        val_images, val_labels = val_images[keep], val_labels[keep]
    splits = {
        "train": (train_images, train_labels),
        "val": (val_images, val_labels),
        "test": (torch.from_numpy(data.test.images), torch.from_numpy(data.test.labels)),
    }
    # The splits move to the GPU once when they fit this trial's share of its memory (the other
    # trials on that GPU have theirs); else, and on the CPU, they stay memory maps shared through
    # the page cache, and on a GPU each batch streams from them through pinned memory.
    gpu_share = allotted_gpu_share()
    data_on = data_home(
        device=chosen, data_bytes=sum(t.nbytes for pair in splits.values() for t in pair), gpu_share=gpu_share
    )
    home = device if data_on == "gpu" else torch.device("cpu")
    tensors = {name: (images.to(home), labels.to(home)) for name, (images, labels) in splits.items()}
    mean, std = task.pixel_stats(spec.pixels)
    normalize = Normalizer(mean, std, device)
    if isinstance(model, DataInit) and not spec.init:  # a network that sets weights from its data (whitening)
        model.init_from_data(_init_sample(train_images, normalize=normalize, seed=spec.seed, device=device))
    params = count_params(model)
    optimizer = create_optimizer(
        spec.optimizer,
        model.parameters(),
        lr=spec.lr,
        weight_decay=spec.weight_decay,
        **framework.optimizer_defaults.get(spec.optimizer, {}),
    )
    generator = torch.Generator().manual_seed(spec.seed)
    node = _node_name()
    # Tune's own restore is this run's retry of a failed attempt, newer than the store's
    checkpoint = tune.get_checkpoint() or (recorded.checkpoint(trial_id) if recorded else None)
    resume = _restored(metric=task.metric, checkpoint=checkpoint)
    results = fit(
        model=model,
        objective=OBJECTIVES[head],
        optimizer=optimizer,
        train=tensors["train"],
        val=tensors["val"],
        test=tensors["test"],
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        normalize=normalize,
        generator=generator,
        metric=task.metric,
        mode=task.mode,
        augment=_augmentation(spec, task),
        placement=where,
        # the test split's confusion matrix (the leaderboard's test column, `harness show`)
        num_classes=len(task.classes) if task.kind == "classification" else None,
        resume=resume[0] if resume else None,
        label_smoothing=spec.label_smoothing,
        steps_per_epoch=spec.steps_per_epoch,
        schedule=get_schedule(spec.lr_schedule),
        averaging=get_averaging(spec.averaging),
        views=get_tta(spec.tta),
    )
    reported = False
    # the best checkpoint's file as saved, kept to go beside the last weights in the final checkpoint
    best_file = _checkpoint_bytes(checkpoint) if resume else None
    for result in results:  # ends after the last epoch, or after a diverged one (the store marks the trial)
        reported = True
        metrics = _reported(result, params=params, node=node, where=where, data_on=data_on, gpu_share=gpu_share)
        metrics["notes"] = "; ".join(notes)
        if result.improved:
            with tempfile.TemporaryDirectory() as tmp:
                save_checkpoint(
                    tmp,
                    model=model,
                    spec=spec,
                    epoch=result.epoch,
                    metrics=metrics,
                    optimizer=optimizer,
                    generator=generator,
                )
                best_file = (Path(tmp) / CHECKPOINT_FILE).read_bytes()
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
        elif result.last_weights is not None and best_file is not None:
            # The last epoch, past the best: the best checkpoint again, with the weights training
            # ended with beside it (what a report that printed its final epoch measured; probes read them).
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / CHECKPOINT_FILE).write_bytes(best_file)
                save_last_weights(tmp, weights=result.last_weights, epoch=result.epoch)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
        else:
            tune.report(metrics)
    if not reported and resume:
        # Killed after its last epoch was checkpointed and before Tune heard the trial end: nothing
        # is left to train, and Tune wants the metric once more (the store keeps its epoch once).
        tune.report(dict(resume[1]))


INIT_SAMPLE = 5_000  # training images a data-dependent init sees (airbench whitens from 5,000)


def _init_sample(images: torch.Tensor, *, normalize: Normalizer, seed: int, device: torch.device) -> torch.Tensor:
    """Up to INIT_SAMPLE training images, a seeded draw, normalised as training sees them."""
    rows = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:INIT_SAMPLE]
    return normalize(images[rows].to(device))


def _checkpoint_bytes(checkpoint: tune.Checkpoint | None) -> bytes | None:
    if not checkpoint:
        return None
    with checkpoint.as_directory() as directory:
        path = Path(directory) / CHECKPOINT_FILE
        return path.read_bytes() if path.is_file() else None


def _restored(*, metric: str, checkpoint: tune.Checkpoint | None = None) -> tuple[Resume, EpochReport] | None:
    """The state to continue from and the epoch it was saved after, or None: start from epoch 1."""
    if not checkpoint:
        return None
    with checkpoint.as_directory() as directory:
        # On the CPU: load_state_dict copies weights and optimizer state onto the model's device,
        # and the generator's state must stay a CPU ByteTensor (set_state refuses a CUDA one).
        ckpt = torch.load(Path(directory) / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    return Resume.from_checkpoint(ckpt, metric=metric), ckpt["metrics"]


def _reported(
    result: EpochResult, *, params: int, node: str, where: Placement, data_on: str, gpu_share: float
) -> EpochReport:
    """One epoch as `tune.report` sends it to the driver's store callback (and as the checkpoint keeps it)."""
    # GPU-seconds over the span cpu_s covers
    wall_s = result.metrics["epoch_time_s"] + result.metrics["eval_time_s"]
    gpu_s = gpu_seconds(wall_s=wall_s, gpu_ids=where.gpu_ids, gpu_share=gpu_share)
    # cast: EpochResult.metrics's keys (the objective's extras among them) are EpochReport's
    metrics = cast(
        EpochReport,
        {
            **where.report(),  # device, gpu_ids, precision
            "data_on": data_on,
            "epoch": result.epoch,
            **result.metrics,
            "params": params,
            "diverged": result.diverged,
            "node": node,
            "best_epoch": result.best_epoch,
            **({} if gpu_s is None else {"gpu_s": gpu_s}),  # absent on the CPU (the store records NULL)
        },
    )
    if result.test is not None:
        metrics["test_json"] = json.dumps({"epoch": result.best_epoch, **result.test})
    return metrics
