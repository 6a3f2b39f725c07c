"""CIFAR-10 from the official python batches (torchvision's `cifar-10-batches-py` folder).

The batches are pickles, and unpickling runs whatever code a file names. So they are read with
an unpickler that admits only numpy's array-reconstruction globals: a hostile file is refused,
and never run. torchvision's md5 table is not consulted (re-encoded copies differ from it).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError

from ._download import torchvision_download
from ._registry import DatasetSpec, MissingData, Request, Split, TaskData, register_task
from ._split import stratified

FOLDER = "cifar-10-batches-py"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
BATCHES = {
    # uchile2020-cifar10: train on data_batch_1, validate on data_batch_2, test on test_batch
    "report": ("data_batch_1", "data_batch_2", "test_batch"),
    # all 50,000: 45,000 train and a stratified 5,000 validation, test_batch as test
    "full": ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"),
}
FULL_VAL_FRACTION = 0.1  # 5,000 of the 50,000 training images, stratified

# The globals a pickled numpy array needs (numpy 1.x and 2.x module names), and nothing else.
SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    # Python 3 writes bytes at pickle protocol 2 as _codecs.encode(str, "latin1"): pure data, no code.
    ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"it references {module}.{name}")
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64) from one python batch, safely."""
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnly(f, encoding="latin1").load()  # python-2 pickles: latin1 keeps bytes intact
        data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    except pickle.UnpicklingError as exc:
        raise HarnessError(
            f"refusing {path}: not a plain CIFAR-10 batch ({exc})",
            "replace it with the official cifar-10-python.tar.gz batches",
        ) from None
    except (OSError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise HarnessError(
            f"cannot read CIFAR-10 batch {path} ({type(exc).__name__}: {exc})",
            "replace it with the official cifar-10-python.tar.gz batches",
        ) from None
    hint = "replace it with the official cifar-10-python.tar.gz batches"
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise HarnessError(
            f"CIFAR-10 batch {path} holds {data.dtype} {list(data.shape)} data, not uint8 (N, 3072)", hint
        )
    if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
        raise HarnessError(f"CIFAR-10 batch {path} has {len(data):,} images but {labels.size:,} integer labels", hint)
    if len(labels) and not (labels.min() >= 0 and labels.max() < len(CLASSES)):
        raise HarnessError(
            f"CIFAR-10 batch {path} has labels from {labels.min()} to {labels.max()}, outside 0..9", hint
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def find(root: Path, request: Request) -> Path:
    needed = BATCHES[request.variant]
    for folder in (root / "cifar10" / FOLDER, root / FOLDER, root):
        if all((folder / name).is_file() for name in needed):
            return folder
    raise MissingData(
        f"CIFAR-10 ({request.variant} split) not found under {root}",
        f"put the python batches {', '.join(needed)} in {root / 'cifar10' / FOLDER} (from "
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz), or run online to download them",
    )


def decode(folder: Path, request: Request) -> TaskData:
    batches = {name: read_batch(folder / name) for name in BATCHES[request.variant]}
    test = Split(*batches.pop("test_batch"))
    if request.variant == "report":
        train, val = (Split(*batches[name]) for name in ("data_batch_1", "data_batch_2"))
    else:
        images = np.concatenate([b[0] for b in batches.values()])
        labels = np.concatenate([b[1] for b in batches.values()])
        rest, held = stratified(labels, FULL_VAL_FRACTION)
        train, val = Split(images[rest], labels[rest]), Split(images[held], labels[held])
    return TaskData(train, val, test, source=f"CIFAR-10 python batches in {folder}")


CIFAR10 = register_task(
    DatasetSpec(
        name="cifar10",
        kind="classification",
        input_shape=(3, 32, 32),
        classes=CLASSES,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),  # the usual CIFAR-10 train statistics
        find=find,
        decode=decode,
        variants=("report", "full"),
        augment="cifar",
        given_splits=("report",),  # the batches are the split; "full" draws its validation part
        download=torchvision_download("CIFAR10", "cifar10"),
        description="CIFAR-10, 32x32 RGB, 10 classes; variants: report (10k/10k/10k, as uchile2020), full (45k/5k/10k)",
    )
)
