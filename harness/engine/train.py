"""The pure training loop: train_one_epoch and evaluate return dicts of floats.

No printing, no Ray, no files. The whole split lives in one uint8 tensor, on the training
device when it fits the trial's share of the GPU, else in host memory (the memory-mapped
cache), from which each batch is gathered into pinned memory and copied asynchronously; an
epoch indexes it with a shuffled permutation and normalises whole batches with tensor ops, so
there is no per-sample Python inside an epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.engine.device import Placement
from harness.engine.steps import Steps
from harness.heads import Head
from harness.stats import bootstrap


@dataclass(frozen=True)
class Objective:
    """How a head kind is trained and scored."""

    loss: Callable[[Tensor, Tensor], Tensor]  # mean loss over the batch
    # Sums over the batch's samples of each score ("acc" always, extras such as "psnr"): summed on
    # the device during an epoch and divided by the sample count once at its end.
    scores: Callable[[Tensor, Tensor], dict[str, Tensor]]
    predict: Callable[[Tensor], Tensor]  # class index per sample (for images: the binarised pixels)
    # Per-sample scores whose mean has no binomial form (an image's PSNR and pixel accuracy): the
    # test scoring bootstraps their intervals over the test images. None: a classifier (Wilson).
    per_sample: Callable[[Tensor, Tensor], dict[str, Tensor]] | None = None
    # The training loss with label smoothing eps in [0, 1): (out, y, eps) -> mean loss. None: the
    # head has no classes to smooth over (SweepSpec.validate refuses --label-smoothing for it).
    smoothed: Callable[[Tensor, Tensor, float], Tensor] | None = None

    def training_loss(self, label_smoothing: float = 0.0) -> Callable[[Tensor, Tensor], Tensor]:
        """The loss training minimises: `loss`, or its label-smoothed form. Evaluation always
        scores the plain `loss`, so validation losses compare across smoothing settings."""
        if not label_smoothing:
            return self.loss
        if self.smoothed is None:
            raise ValueError("this objective has no label smoothing")
        smoothed = self.smoothed
        return lambda out, y: smoothed(out, y, label_smoothing)


def _single_logit_loss(out: Tensor, y: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(out.squeeze(1), y.to(out.dtype))


def _single_logit_predict(out: Tensor) -> Tensor:
    return (out.squeeze(1) > 0).long()  # sigmoid(z) > 0.5 exactly when z > 0


def _image_target(y: Tensor) -> Tensor:
    return y.float() / 255.0  # targets are stored as uint8 images


def _image_loss(out: Tensor, y: Tensor) -> Tensor:
    return F.binary_cross_entropy(out.float(), _image_target(y))  # the module ends in a sigmoid


def _image_per_sample(out: Tensor, y: Tensor) -> dict[str, Tensor]:
    """Per image: pixel accuracy against the target binarised at 0.5, PSNR, and the Keras-style
    accuracy the report printed (round(prediction) == raw target: grey target pixels can never match)."""
    target, out = _image_target(y), out.float()
    mse = (out - target).square().mean((1, 2, 3)).clamp_min(1e-10)
    return {
        "acc": ((out > 0.5) == (target >= 0.5)).float().mean((1, 2, 3)),
        "psnr": 10.0 * torch.log10(1.0 / mse),
        "keras_acc": (out.round() == target).float().mean((1, 2, 3)),
    }


def _image_scores(out: Tensor, y: Tensor) -> dict[str, Tensor]:
    return {key: values.sum() for key, values in _image_per_sample(out, y).items()}


# Keyed by the head kinds of harness.heads (a Head is a str: a kind read back as text finds its entry too).
OBJECTIVES: dict[str, Objective] = {
    Head.LOGITS: Objective(
        loss=F.cross_entropy,
        scores=lambda out, y: {"acc": (out.argmax(1) == y).sum()},
        predict=lambda out: out.argmax(1),
        smoothed=lambda out, y, eps: F.cross_entropy(out, y, label_smoothing=eps),
    ),
    Head.SINGLE_LOGIT: Objective(
        loss=_single_logit_loss,
        scores=lambda out, y: {"acc": (_single_logit_predict(out) == y).sum()},
        predict=_single_logit_predict,
    ),
    Head.IMAGE: Objective(
        loss=_image_loss, scores=_image_scores, predict=lambda out: out > 0.5, per_sample=_image_per_sample
    ),
}


TRAIN_LIMIT_SEED = 0  # the draw of every --train-limit subset


def train_subset(n: int, limit: int) -> Tensor:
    """The rows of a training split of `n` images that a `--train-limit` trial trains on: a
    seeded random draw (some stored splits are ordered by class), the same wherever it is drawn
    (the trial, and the probes that measure what it trained on)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(TRAIN_LIMIT_SEED))[:limit]


PLAIN = Placement(torch.device("cpu"), None, False)  # float32, NCHW: what callers get unless they ask


class Normalizer:
    """uint8 (N, C, H, W) 0..255 -> float32 ((x / 255) - mean) / std, on the batch's device."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> None:
        self.scale = (1.0 / (255.0 * torch.tensor(std, device=device))).view(1, -1, 1, 1)
        self.shift = (torch.tensor(mean, device=device) / torch.tensor(std, device=device)).view(1, -1, 1, 1)

    def __call__(self, images: Tensor) -> Tensor:
        x = images.to(torch.float32, copy=True)  # a fresh tensor: the in-place steps never touch the input
        return x.mul_(self.scale).sub_(self.shift)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # so that timings cover the kernels, not their launch


# augment(pixels 0..255 (N, C, H, W), uint8 or float, CPU generator) -> same shape; see harness.engine.augment
Augmentation = Callable[[Tensor, torch.Generator], Tensor]


def fetch(source: Tensor, rows: Tensor | slice, device: torch.device) -> Tensor:
    """`source[rows]` on `device`. Rows of a split kept in host memory are gathered straight into
    pinned memory, so the copy to the GPU runs asynchronously (non_blocking); torch's caching
    host allocator reuses a pinned block only once its copy has completed."""
    if source.device == device:
        return source[rows]
    if device.type != "cuda":
        return source[rows].to(device)
    if isinstance(rows, slice):
        picked = source[rows]
        staged = torch.empty(picked.shape, dtype=picked.dtype, pin_memory=True).copy_(picked)
    else:
        staged = torch.empty((len(rows), *source.shape[1:]), dtype=source.dtype, pin_memory=True)
        torch.index_select(source, 0, rows, out=staged)
    return staged.to(device, non_blocking=True)


def batch_inputs(
    images: Tensor,
    idx: Tensor,
    *,
    normalize: Normalizer,
    augment: Augmentation | None,
    generator: torch.Generator,
    device: torch.device | None = None,
) -> Tensor:
    """The model's input for the samples `idx`: gathered (onto `device`, default the split's
    own), augmented while still uint8 where the augmentation allows (a quarter of the bytes to
    move), then normalised to float32."""
    x = fetch(images, idx, device or images.device)
    return normalize(augment(x, generator) if augment else x)


def epoch_order(n: int, batch_size: int, steps_per_epoch: int | None, generator: torch.Generator) -> Tensor:
    """The indices one epoch trains on, in order: a random permutation of the split; with
    `steps_per_epoch`, that many batches from fresh permutations one after another (Keras's
    steps_per_epoch over a generator that reshuffles after each pass). The rest of a pass an
    epoch leaves unused is dropped: the next epoch starts a new pass (Keras would go on with it)."""
    if steps_per_epoch is None:
        return torch.randperm(n, generator=generator)
    wanted = steps_per_epoch * batch_size
    passes = [torch.randperm(n, generator=generator) for _ in range(math.ceil(wanted / n))]
    return torch.cat(passes)[:wanted]


def train_one_epoch(
    *,
    model: nn.Module,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    images: Tensor,
    labels: Tensor,
    batch_size: int,
    normalize: Normalizer,
    generator: torch.Generator,
    augment: Augmentation | None = None,
    placement: Placement | None = None,
    scaler: torch.amp.GradScaler | None = None,
    label_smoothing: float = 0.0,
    steps: Steps | None = None,
    steps_per_epoch: int | None = None,
) -> dict[str, float]:
    """One pass over the split in a random order (or `steps_per_epoch` batches: see `epoch_order`);
    returns loss, acc (and extra scores) per image seen, time_s, cpu_s (see `evaluate`), samples_per_s.
    `scaler` (fp16 only: Placement.grad_scaler) scales the loss; it carries its scale across epochs.
    `label_smoothing`: the training loss's (the reported loss is that one). `steps` sets each
    step's learning rate and keeps the lookahead average (harness.engine.steps); its work is
    inside the timed span, as airbench times it."""
    placement = placement or PLAIN
    model.train()
    device = next(model.parameters()).device  # where it computes; the split may live in host memory
    training_loss = objective.training_loss(label_smoothing)
    order = epoch_order(len(labels), batch_size, steps_per_epoch, generator).to(images.device)
    n = len(order)
    loss_sum = torch.zeros((), device=device)
    sums: dict[str, Tensor] = {}
    _sync(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        x = batch_inputs(images, idx, normalize=normalize, augment=augment, generator=generator, device=device)
        y = fetch(labels, idx, device)
        with placement.autocast():  # the forward only: losses such as BCE are unsafe under autocast
            out = model(placement.inputs(x))
        out = out.float()
        loss = training_loss(out, y)
        optimizer.zero_grad(set_to_none=True)
        if steps:
            steps.before()
        if scaler is None:  # fp32 and bf16: no loss scaling, nothing added to the step
            loss.backward()
            optimizer.step()
        else:  # fp16: scaled gradients; a step whose gradients overflowed is skipped and the scale lowered
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        if steps:
            steps.after()
        # Accumulate on the device: a .item() per step would stall the GPU every batch.
        loss_sum += loss.detach() * len(idx)
        for key, value in objective.scores(out.detach(), y).items():
            sums[key] = sums[key] + value if key in sums else value
    if steps:
        steps.end_epoch()
    _sync(device)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "loss": loss_sum.item() / n,
        **{key: value.item() / n for key, value in sums.items()},
        "time_s": elapsed,
        "cpu_s": cpu,
        "samples_per_s": n / elapsed,
    }


# The views test-time augmentation averages (harness.config.techniques.TTA names them): on the
# normalised batch (N, C, H, W).
VIEWS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda x: x,
    "hflip": lambda x: x.flip(3),
}


@torch.no_grad()
def predict_outputs(
    *,
    model: nn.Module,
    images: Tensor,
    batch_size: int,
    normalize: Normalizer,
    placement: Placement | None = None,
    views: tuple[str, ...] = ("identity",),
) -> Tensor:
    """Raw model outputs (float32) for a whole split, in eval mode, in order; with several
    `views` (test-time augmentation), the mean of the outputs over them (airbench averages logits)."""
    placement = placement or PLAIN
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    for i in range(0, len(images), batch_size):
        x = normalize(fetch(images, slice(i, i + batch_size), device))
        with placement.autocast():
            out = [model(placement.inputs(VIEWS[view](x))).float() for view in views]
        outputs.append(out[0] if len(out) == 1 else torch.stack(out).mean(0))
    return torch.cat(outputs)


def confusion_matrix(predicted: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Counts, row = true class, column = predicted class (one bincount, no Python loop)."""
    flat = labels.long() * num_classes + predicted.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def evaluate(
    *,
    model: nn.Module,
    objective: Objective,
    images: Tensor,
    labels: Tensor,
    batch_size: int,
    normalize: Normalizer,
    placement: Placement | None = None,
    num_classes: int | None = None,
    intervals: bool = False,
    views: tuple[str, ...] = ("identity",),
) -> dict[str, Any]:
    """Clean evaluation (eval mode, no augmentation but the test-time `views`, whose outputs are
    averaged): loss, acc (and extra scores), time_s; with
    `num_classes`, also "confusion": the confusion matrix as nested lists of counts; with
    `intervals`, "ci95": each per-sample score's bootstrap 95% interval (image outputs).
    `cpu_s`: the CPU time of this process over the same span (every thread: torch's intra-op
    pool, and a GPU trial's host side, waits for the GPU included), what the pass cost the CPUs."""
    device = next(model.parameters()).device
    _sync(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    out = predict_outputs(
        model=model, images=images, batch_size=batch_size, normalize=normalize, placement=placement, views=views
    )
    labels = labels.to(device)
    loss = objective.loss(out, labels).item()
    scores: dict[str, Any] = {key: value.item() / len(labels) for key, value in objective.scores(out, labels).items()}
    if num_classes:
        scores["confusion"] = confusion_matrix(objective.predict(out), labels, num_classes).tolist()
    if intervals and objective.per_sample:
        per_sample = objective.per_sample(out, labels)
        found = {key: bootstrap(values.double().cpu().numpy()) for key, values in per_sample.items()}
        scores["ci95"] = {key: [ci.low, ci.high] for key, ci in found.items()}
    _sync(device)
    # n: the images scored, so that an accuracy can be given its interval (harness.results.intervals)
    return {
        "loss": loss,
        **scores,
        "n": len(labels),
        "time_s": time.perf_counter() - start,
        "cpu_s": time.process_time() - cpu_start,
    }
