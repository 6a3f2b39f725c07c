"""The epochs of one trial, pure: resume, per-epoch metrics, divergence, the best checkpoint, test scoring.

`fit` runs train_one_epoch and evaluate epoch after epoch and yields one `EpochResult` each;
it knows nothing of Ray, files or the clock beyond what train.py measures. The caller (the Ray
trainable in trial.py) reports each result and saves a checkpoint when the result says the
epoch is a new best, so the kept checkpoint is always the best one. After the last epoch the
best weights are scored once on the test split, which selects nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from harness.config.techniques import Lookahead, LrSchedule
from harness.engine.device import Placement
from harness.engine.steps import Steps
from harness.engine.train import Augmentation, Normalizer, Objective, evaluate, train_one_epoch
from harness.kinds import Mode, better

EVAL_BATCH = 512  # evaluation needs no gradients, so larger batches only save overhead
BASE = ("loss", "acc", "time_s", "cpu_s", "samples_per_s")  # what every objective reports; the rest are extras

Split = tuple[Tensor, Tensor]  # (images, labels) of one split, already on the training device


@dataclass(frozen=True)
class Resume:
    """Where a checkpointed trial continues from: the state saved after its best epoch."""

    epoch: int  # the epoch the checkpoint was saved after (the best so far); training goes on at epoch + 1
    best: float  # that epoch's validation metric, as reported (larger or smaller is better by the mode)
    model_state: Mapping[str, Tensor]
    optimizer_state: dict[str, Any]  # torch's own state_dict, handed back to load_state_dict as it is
    generator_state: Tensor  # the shuffling and augmentation generator, so the next epochs draw as if never stopped

    @classmethod
    def from_checkpoint(cls, ckpt: Mapping[str, Any], *, metric: str) -> Resume:
        """From the dict `harness.engine.checkpoint.save_checkpoint` wrote (loaded with torch.load)."""
        return cls(
            epoch=ckpt["epoch"],
            best=ckpt["metrics"][metric],
            model_state=ckpt["model_state"],
            optimizer_state=ckpt["optimizer_state"],
            generator_state=ckpt["generator_state"],
        )


@dataclass(frozen=True)
class EpochResult:
    """One epoch as the trial reports it."""

    epoch: int  # 1-based
    # train_loss, train_acc, val_loss, val_acc, epoch_time_s (training only, synchronised),
    # eval_time_s, cpu_s (the process's CPU seconds over training and validation), samples_per_s,
    # and the objective's extras as train_<name> / val_<name> (val_psnr)
    metrics: dict[str, float]
    diverged: bool  # a non-finite train or val loss: this is the last result
    improved: bool  # a new best validation metric: the caller checkpoints the model now
    best_epoch: int  # the epoch of the best weights so far (0: none yet)
    # Only on the last epoch (unless it diverged): the best weights on the test split, as
    # evaluate returns them (loss, acc, extras, time_s, "confusion" when num_classes is given):
    # open, as the task's objective decides its extras.
    test: dict[str, Any] | None = None
    # Only on the last epoch, where it is not the best: the weights training ended with (the model
    # holds the best ones by then), which the caller keeps beside the best checkpoint.
    last_weights: dict[str, Tensor] | None = None


def fit(
    *,
    model: nn.Module,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    train: Split,
    val: Split,
    test: Split,
    epochs: int,
    batch_size: int,
    normalize: Normalizer,
    generator: torch.Generator,
    metric: str,
    mode: Mode,
    augment: Augmentation | None = None,
    placement: Placement | None = None,
    num_classes: int | None = None,
    resume: Resume | None = None,
    label_smoothing: float = 0.0,
    schedule: LrSchedule | None = None,
    averaging: Lookahead | None = None,
    views: tuple[str, ...] = ("identity",),
    steps_per_epoch: int | None = None,
) -> Iterator[EpochResult]:
    """Train epochs (resume.epoch + 1 or 1) .. `epochs` and yield each one's result; stop after a
    diverged epoch. `metric` names the validation metric (a key of EpochResult.metrics) that
    selects the best epoch, `mode` ("max" or "min") says which way is better. On the last epoch
    the model is left holding the best weights (the ones the test scores are from).
    `schedule` sets each step's learning rate over the whole run, `averaging` keeps a lookahead
    average of the weights (harness.config.techniques); `views` are the test-time augmentation's,
    used in validation and on the test split, which then also reports `acc_without_tta`.
    `steps_per_epoch`: batches per epoch, drawn from passes that run on (default: one pass)."""
    best: float | None = None  # the best validation metric so far
    best_epoch, start = 0, 1
    if resume:
        model.load_state_dict(resume.model_state)
        optimizer.load_state_dict(resume.optimizer_state)
        generator.set_state(resume.generator_state)
        best, best_epoch, start = resume.best, resume.epoch, resume.epoch + 1
    best_state = _copy_state(model)  # the best weights so far, kept for the final test scoring
    # fp16's loss scaler, kept across epochs (a resumed trial starts a new one: it recalibrates in a few steps)
    scaler = placement.grad_scaler() if placement else None
    # optimizer steps per epoch (the last batch of a pass may be short)
    per_epoch = steps_per_epoch or math.ceil(len(train[1]) / batch_size)
    # A resumed trial's schedule goes on where it stopped; its lookahead average starts again
    # from the restored weights (which were the average when they were saved, at an epoch's end).
    steps = (
        Steps(
            optimizer=optimizer,
            model=model,
            total=per_epoch * epochs,
            done=per_epoch * (start - 1),
            schedule=schedule,
            averaging=averaging,
        )
        if (schedule and not schedule.constant) or averaging
        else None  # the plain loop: nothing around each step
    )

    for epoch in range(start, epochs + 1):
        trained = train_one_epoch(
            model=model,
            objective=objective,
            optimizer=optimizer,
            images=train[0],
            labels=train[1],
            batch_size=batch_size,
            normalize=normalize,
            generator=generator,
            augment=augment,
            placement=placement,
            scaler=scaler,
            label_smoothing=label_smoothing,
            steps=steps,
            steps_per_epoch=steps_per_epoch,
        )
        validated = evaluate(
            model=model,
            objective=objective,
            images=val[0],
            labels=val[1],
            batch_size=EVAL_BATCH,
            normalize=normalize,
            placement=placement,
            views=views,
        )
        diverged = not (math.isfinite(trained["loss"]) and math.isfinite(validated["loss"]))
        metrics = _epoch_metrics(trained=trained, validated=validated)
        improved = not diverged and (best is None or better(metrics[metric], best, mode))
        if improved:
            best, best_epoch, best_state = metrics[metric], epoch, _copy_state(model)
        scores, last_weights = None, None
        if epoch == epochs and not diverged:
            # The last epoch: the best checkpoint's weights, once, on the test split. Trials that
            # ASHA or a time budget stop earlier carry no test score (export verification has one).
            # The last weights are scored too, under "last": what a report that printed its final
            # epoch measured (the reports' scripts kept training past their best epoch).
            last = None
            if best_epoch != epoch:
                last = _test_scores(model, objective, test, normalize, placement, views)
                last_weights = _copy_state(model)
            model.load_state_dict(best_state)
            scores = _test_scores(model, objective, test, normalize, placement, views, num_classes=num_classes)
            scores["last"] = {"epoch": epoch, **(last or {k: v for k, v in scores.items() if k != "confusion"})}
            if len(views) > 1:  # the figure says it used test-time augmentation, and what it gave without
                plain = evaluate(
                    model=model,
                    objective=objective,
                    images=test[0],
                    labels=test[1],
                    batch_size=EVAL_BATCH,
                    normalize=normalize,
                    placement=placement,
                )
                scores.update(tta=list(views), acc_without_tta=plain["acc"])
        yield EpochResult(
            epoch=epoch,
            metrics=metrics,
            diverged=diverged,
            improved=improved,
            best_epoch=best_epoch,
            test=scores,
            last_weights=last_weights,
        )
        if diverged:
            return  # a NaN/inf loss never recovers


def _test_scores(
    model: nn.Module,
    objective: Objective,
    test: Split,
    normalize: Normalizer,
    placement: Placement | None,
    views: tuple[str, ...],
    num_classes: int | None = None,
) -> dict[str, Any]:
    """The model as it stands on the test split: scores, n, the image outputs' bootstrap intervals
    over the test images, and with `num_classes` the confusion matrix."""
    return evaluate(
        model=model,
        objective=objective,
        images=test[0],
        labels=test[1],
        batch_size=EVAL_BATCH,
        normalize=normalize,
        placement=placement,
        num_classes=num_classes,
        intervals=True,
        views=views,
    )


def _epoch_metrics(*, trained: Mapping[str, float], validated: Mapping[str, float]) -> dict[str, float]:
    return {
        "train_loss": trained["loss"],
        "train_acc": trained["acc"],
        "val_loss": validated["loss"],
        "val_acc": validated["acc"],
        "epoch_time_s": trained["time_s"],
        "eval_time_s": validated["time_s"],
        # the CPU cost of the same span as epoch_time_s + eval_time_s (the cost columns' unit)
        "cpu_s": trained["cpu_s"] + validated["cpu_s"],
        "samples_per_s": trained["samples_per_s"],
        # the task's own scores beyond acc (PSNR, Keras-style accuracy for upsampling)
        **{
            f"{split}_{k}": v
            for split, r in (("train", trained), ("val", validated))
            for k, v in r.items()
            if k not in BASE
        },
    }


def _copy_state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
