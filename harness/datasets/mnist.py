"""MNIST and Fashion-MNIST from IDX files, gzipped or not: torchvision's `MNIST/raw` and
`FashionMNIST/raw` folders, or Debian's `dataset-fashion-mnist` package."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.userfiles import open_regular

from ._download import torchvision_download
from ._registry import DatasetSpec, MissingData, Request, Split, TaskData, register_task
from ._split import VAL_FRACTION, stratified

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# Where each set's files may be, relative to the data root (torchvision's layouts first).
SOURCES = {
    "mnist": ("mnist/MNIST/raw", "MNIST/raw", "mnist"),
    "fashion_mnist": ("fashion_mnist/FashionMNIST/raw", "FashionMNIST/raw", "fashion_mnist"),
}


def _open(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


MAX_IDX_BYTES = 1 << 30  # MNIST's largest file is 47 MB; a header declaring more is not one of these sets


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (unsigned bytes, big-endian dims) as a uint8 array of its declared shape.

    Never reads more than the header declares (plus one byte, to see that there is more): a small
    gzip that inflates to gigabytes is refused after its first declared size, not decompressed."""
    try:
        with open_regular(path, what="IDX file") as file:  # a FIFO named like one does not block
            f = gzip.GzipFile(fileobj=file, mode="rb") if path.suffix == ".gz" else file
            head = f.read(4)
            if len(head) < 4 or head[:2] != b"\0\0" or head[2] != 0x08:
                raise ValueError("not an unsigned-byte IDX file")
            ndim = head[3]
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise ValueError(f"its header ends before its {ndim} sizes")
            dims = tuple(int.from_bytes(raw_dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
            declared = math.prod(dims)
            if declared > MAX_IDX_BYTES:
                raise ValueError(f"its header declares {declared:,} bytes, more than {MAX_IDX_BYTES:,}")
            data = f.read(declared + 1)
    except (OSError, EOFError, zlib.error, ValueError) as exc:  # gzip: BadGzipFile (an OSError), EOFError
        raise HarnessError(f"{path} is not a valid IDX file ({exc})", "download the set's files again") from None
    if len(data) != declared:
        more = "more" if len(data) > declared else f"{len(data):,}"
        raise HarnessError(
            f"{path} is not a valid IDX file (its header declares {declared:,} bytes of data, it holds {more})",
            "download the set's files again",
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def find_idx(root: Path, name: str) -> Path:
    candidates = [root / rel for rel in SOURCES[name]] + [root]
    if name == "fashion_mnist":
        candidates.append(DEBIAN_FASHION)
    for folder in candidates:
        if all(_open(folder, stem) for stem in FILES.values()):
            return folder
    hint = f"put {', '.join(FILES.values())} (.gz or not) in {root / SOURCES[name][0]}, or run online to download them"
    if name == "fashion_mnist":
        hint += f", or `apt-get install dataset-fashion-mnist` ({DEBIAN_FASHION})"
    raise MissingData(f"{name} IDX files not found under {root}", hint)


def read_set(folder: Path, classes: int = 10) -> dict[str, np.ndarray]:
    """The four IDX files, checked: images (N, 28, 28), as many labels, labels in 0..classes-1."""
    paths = {key: _open(folder, stem) for key, stem in FILES.items()}
    arrays = {key: read_idx(path) for key, path in paths.items()}  # type: ignore[arg-type]
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise HarnessError(
                f"{paths[f'{split}_images']} holds {list(images.shape)} images, not (N, 28, 28)",
                "download the files again",
            )
        if labels.ndim != 1 or len(images) != len(labels):
            raise HarnessError(
                f"{paths[f'{split}_labels']} has {labels.size:,} labels for {len(images):,} images",
                "download the files again",
            )
        if len(labels) and labels.max() >= classes:
            raise HarnessError(
                f"{paths[f'{split}_labels']} has a label {labels.max()}, outside 0..{classes - 1}",
                "download the files again",
            )
    return arrays


def split_set(arrays: dict[str, np.ndarray]) -> tuple[Split, Split, Split]:
    """Train / a stratified 10% validation from the training file / the test file."""
    images, labels = arrays["train_images"][:, None], arrays["train_labels"].astype(np.int64)
    rest, held = stratified(labels, VAL_FRACTION)
    test = Split(arrays["test_images"][:, None], arrays["test_labels"].astype(np.int64))
    return Split(images[rest], labels[rest]), Split(images[held], labels[held]), test


def _register(name: str, classes: tuple[str, ...], mean: float, std: float, dataset: str, description: str) -> None:
    def decode(folder: Path, _request: Request) -> TaskData:
        return TaskData(*split_set(read_set(folder)), source=f"{name} IDX files in {folder}")

    register_task(
        DatasetSpec(
            name=name,
            kind="classification",
            input_shape=(1, 28, 28),
            classes=classes,
            mean=(mean,),
            std=(std,),
            find=lambda root, _request: find_idx(root, name),
            decode=decode,
            download=torchvision_download(dataset, name),
            description=description,
        )
    )


_register("mnist", tuple(str(d) for d in range(10)), 0.1307, 0.3081, "MNIST", "MNIST digits, 28x28 grey, 54k/6k/10k")
_register(
    "fashion_mnist",
    FASHION_CLASSES,
    0.2860,
    0.3530,
    "FashionMNIST",
    "Fashion-MNIST, 28x28 grey, 10 clothing classes, 54k/6k/10k",
)
