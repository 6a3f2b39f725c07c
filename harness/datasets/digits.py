"""scikit-learn's bundled 8x8 digits: the offline default task, no download needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._registry import DatasetSpec, Request, Split, TaskData, register_task

SPLIT_SEED = 0  # fixed, so every trial and every sweep sees the same split
VAL_FRACTION = 0.2
TEST_FRACTION = 0.2


def find(_root: Path, _request: Request) -> Path:
    """Bundled with scikit-learn: always there, wherever the data root points."""
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "data"


def decode(_folder: Path, _request: Request) -> TaskData:
    """Stratified 60/20/20 split of the 1,797 images; pixels 0..16 rescaled to 0..255."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    idx = np.arange(len(labels))
    rest, test = train_test_split(idx, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED)
    train, val = train_test_split(
        rest,
        test_size=VAL_FRACTION / (1 - TEST_FRACTION),
        stratify=labels[rest],
        random_state=SPLIT_SEED,
    )
    return TaskData(
        train=Split(images[train], labels[train]),
        val=Split(images[val], labels[val]),
        test=Split(images[test], labels[test]),
        source="bundled with scikit-learn (sklearn.datasets.load_digits)",
    )


DIGITS = register_task(
    DatasetSpec(
        name="digits",
        kind="classification",
        input_shape=(1, 8, 8),
        classes=tuple(str(d) for d in range(10)),
        mean=(0.305,),  # measured on the whole set after scaling to [0, 1]
        std=(0.375,),
        find=find,
        decode=decode,
        split_seeds=(SPLIT_SEED,),  # scikit-learn's train_test_split, twice, with this one seed
        reads_data_dir=False,  # bundled with scikit-learn
        description="8x8 handwritten digits, 1,797 images, bundled with scikit-learn",
    )
)
