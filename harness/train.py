"""The pure training loop: train_one_epoch and evaluate return dicts of floats.

No printing, no Ray, no files. The whole split lives in one uint8 tensor (on the training
device when it fits); an epoch indexes it with a shuffled permutation and normalises whole
batches with tensor ops, so there is no per-sample Python inside an epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class Objective:
    """How a head kind is trained and scored."""

    loss: Callable[[Tensor, Tensor], Tensor]  # mean loss over the batch
    correct: Callable[[Tensor, Tensor], Tensor]  # number of correct predictions in the batch
    predict: Callable[[Tensor], Tensor]  # class index per sample


def _single_logit_loss(out: Tensor, y: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(out.squeeze(1), y.to(out.dtype))


def _single_logit_predict(out: Tensor) -> Tensor:
    return (out.squeeze(1) > 0).long()  # sigmoid(z) > 0.5 exactly when z > 0


OBJECTIVES: dict[str, Objective] = {
    "logits": Objective(
        loss=F.cross_entropy,
        correct=lambda out, y: (out.argmax(1) == y).sum(),
        predict=lambda out: out.argmax(1),
    ),
    "single_logit": Objective(
        loss=_single_logit_loss,
        correct=lambda out, y: (_single_logit_predict(out) == y).sum(),
        predict=_single_logit_predict,
    ),
}


def pick_device() -> torch.device:
    """CUDA when present (Ray has already narrowed CUDA_VISIBLE_DEVICES to our share), else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Normalizer:
    """uint8 (N, C, H, W) 0..255 -> float32 ((x / 255) - mean) / std, on the batch's device."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> None:
        self.scale = (1.0 / (255.0 * torch.tensor(std, device=device))).view(1, -1, 1, 1)
        self.shift = (torch.tensor(mean, device=device) / torch.tensor(std, device=device)).view(1, -1, 1, 1)

    def __call__(self, images: Tensor) -> Tensor:
        return images.float() * self.scale - self.shift


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # so that timings cover the kernels, not their launch


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
) -> dict[str, float]:
    """One pass over the split in a random order; returns loss, acc, time_s, samples_per_s."""
    model.train()
    device = images.device
    n = len(labels)
    order = torch.randperm(n, generator=generator).to(device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    _sync(device)
    start = time.perf_counter()
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        x, y = normalize(images[idx]), labels[idx]
        out = model(x)
        loss = objective.loss(out, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        # Accumulate on the device: a .item() per step would stall the GPU every batch.
        loss_sum += loss.detach() * len(idx)
        correct += objective.correct(out.detach(), y)
    _sync(device)
    elapsed = time.perf_counter() - start
    return {
        "loss": loss_sum.item() / n,
        "acc": correct.item() / n,
        "time_s": elapsed,
        "samples_per_s": n / elapsed,
    }


@torch.no_grad()
def predict_outputs(*, model: nn.Module, images: Tensor, batch_size: int, normalize: Normalizer) -> Tensor:
    """Raw model outputs for a whole split, in eval mode, in order."""
    model.eval()
    return torch.cat([model(normalize(images[i : i + batch_size])) for i in range(0, len(images), batch_size)])


def evaluate(
    *,
    model: nn.Module,
    objective: Objective,
    images: Tensor,
    labels: Tensor,
    batch_size: int,
    normalize: Normalizer,
) -> dict[str, float]:
    """Clean evaluation (eval mode, no augmentation): loss, acc, time_s."""
    device = images.device
    _sync(device)
    start = time.perf_counter()
    out = predict_outputs(model=model, images=images, batch_size=batch_size, normalize=normalize)
    loss = objective.loss(out, labels).item()
    acc = objective.correct(out, labels).item() / len(labels)
    _sync(device)
    return {"loss": loss, "acc": acc, "time_s": time.perf_counter() - start}
