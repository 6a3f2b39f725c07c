"""MNIST 7x7 -> 28x28 upsampling (itam2020): targets are MNIST images, inputs the report's degrade().

degrade(y): an anti-aliased resize to 7x7 as skimage.transform.resize does it (Gaussian
prefilter, sigma = (factor - 1) / 2 = 1.5, mirror edges, then bilinear sampling), then each of
the 49 pixels independently, with probability 0.1, becomes |v - 1|. The noise is seeded per
sample (by its index in its IDX file), so validation and test inputs never change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.heads import Head

from ._download import torchvision_download
from ._registry import DatasetSpec, Request, Split, TaskData, register_task
from ._split import VAL_FRACTION, stratified
from .mnist import find_idx, read_set

FACTOR = 4
FLIP_PROBABILITY = 0.1
NOISE_SEED = 2020
VARIANT_SOURCE = {"mnist": "mnist", "fashion": "fashion_mnist"}


def downscale(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 7, 7) float in [0, 1], as skimage's resize(anti_aliasing=True)."""
    from scipy.ndimage import gaussian_filter

    blurred = gaussian_filter(
        images.astype(np.float64) / 255.0, sigma=(0, (FACTOR - 1) / 2, (FACTOR - 1) / 2), mode="mirror", truncate=4.0
    )
    # Output pixel i samples input coordinate 4i + 1.5: bilinear there is the mean of pixels 4i+1 and 4i+2.
    return sum(blurred[:, a::FACTOR, b::FACTOR] for a in (1, 2) for b in (1, 2)) / 4.0


def flip_masks(n: int, *, file_id: int) -> np.ndarray:
    """(n, 7, 7) booleans, True with probability 0.1; sample i's mask depends only on (file_id, i)."""
    return np.stack(
        [np.random.default_rng((NOISE_SEED, file_id, i)).random((7, 7)) < FLIP_PROBABILITY for i in range(n)]
    )


def degrade(images: np.ndarray, *, file_id: int) -> np.ndarray:
    """(N, 28, 28) uint8 targets -> (N, 7, 7) uint8 inputs (0..255 for 0..1)."""
    small = np.rint(downscale(images) * 255.0).astype(np.uint8)
    return np.where(flip_masks(len(images), file_id=file_id), 255 - small, small)  # |v - 1| on the 0..255 scale


def decode(folder: Path, request: Request) -> TaskData:
    arrays = read_set(folder)
    # The classification task's split (stratified by digit), with target images for labels.
    rest, held = stratified(arrays["train_labels"], VAL_FRACTION)
    inputs = {"train": degrade(arrays["train_images"], file_id=0), "test": degrade(arrays["test_images"], file_id=1)}

    def pair(file: str, idx: np.ndarray) -> Split:
        return Split(inputs[file][idx][:, None], arrays[f"{file}_images"][idx][:, None])

    return TaskData(
        pair("train", rest),
        pair("train", held),
        pair("test", np.arange(len(inputs["test"]))),
        source=f"{VARIANT_SOURCE[request.variant]} IDX files in {folder}, degraded to 7x7",
    )


def find(root: Path, request: Request) -> Path:
    return find_idx(root, VARIANT_SOURCE[request.variant])


def download(root: Path, request: Request) -> None:
    source = VARIANT_SOURCE[request.variant]
    torchvision_download("MNIST" if source == "mnist" else "FashionMNIST", source)(root, request)


MNIST_UPSAMPLE = register_task(
    DatasetSpec(
        name="mnist_upsample",
        kind="image_to_image",
        input_shape=(1, 7, 7),
        classes=(),
        mean=(0.0,),
        std=(1.0,),
        find=find,
        decode=decode,
        download=download,
        heads=(Head.IMAGE,),
        variants=("mnist", "fashion"),
        description="MNIST 7x7 degraded -> 28x28 (itam2020); variant fashion uses Fashion-MNIST",
    )
)
