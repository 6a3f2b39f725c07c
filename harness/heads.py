"""The head registry: what each kind of model output is, in one place.

A head kind says how many outputs a model has for a task, their shape, what they mean in an
exported file's metadata ("output"), and how `harness predict` turns them into class
probabilities. Numpy only: `predict` must run where torch is not installed. How a head is
trained and scored with torch lives in `harness.engine.train.OBJECTIVES`, keyed by the same `Head`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.errors import lookup
from harness.kinds import ValueEnum


class Head(ValueEnum):
    LOGITS = "logits"
    SINGLE_LOGIT = "single_logit"
    IMAGE = "image"


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid_pair(x: np.ndarray) -> np.ndarray:
    """One logit per sample -> (N, 2): the negative class, then the positive."""
    p = 1.0 / (1.0 + np.exp(-x[:, 0]))
    return np.stack([1.0 - p, p], axis=1)


@dataclass(frozen=True)
class HeadSpec:
    kind: Head
    label: str  # in messages: "a single-logit model"
    meaning: str  # what the output is, for a reader of the exported file
    # (classes, channels) -> outputs per sample: one per class, one logit, or the image's channels
    count: Callable[[int, int], int]
    # (N, outputs) -> (N, classes) probabilities; None: the output is not a class prediction
    probabilities: Callable[[np.ndarray], np.ndarray] | None
    classes: int | None = None  # the number of classes the head can tell apart; None: any
    spatial: bool = False  # outputs an image (C, H, W) rather than a vector

    @property
    def classifier(self) -> bool:
        return self.probabilities is not None

    def num_outputs(self, *, classes: int, channels: int) -> int:
        """The model's outputs for a task of `classes` classes and `channels` image channels."""
        return self.count(classes, channels)

    def output_shape(self, *, in_shape: tuple[int, int, int], num_outputs: int, upscale: int = 1) -> tuple[int, ...]:
        """Per-sample output shape for an input of `in_shape`; `upscale`: output side / input side."""
        if self.spatial:
            return (num_outputs, in_shape[1] * upscale, in_shape[2] * upscale)
        return (num_outputs,)


# In the order the metadata check names them.
HEADS: dict[str, HeadSpec] = {
    spec.kind: spec
    for spec in (
        HeadSpec(
            Head.LOGITS,
            label="multi-class",
            meaning="one logit per class (softmax)",
            count=lambda classes, channels: classes,
            probabilities=_softmax,
        ),
        HeadSpec(
            Head.SINGLE_LOGIT,
            label="single-logit",
            meaning="one logit (pass it through a sigmoid) for two classes",
            count=lambda classes, channels: 1,
            probabilities=_sigmoid_pair,
            classes=2,
        ),
        HeadSpec(
            Head.IMAGE,
            label="image-to-image",
            meaning="an image in [0, 1]",
            count=lambda classes, channels: channels,
            probabilities=None,
            spatial=True,
        ),
    )
}


def get_head(kind: str) -> HeadSpec:
    """The spec of a head kind (a `Head` or its value); an unknown one names the known kinds."""
    return lookup("head", HEADS, kind)
