"""A Hugging Face dataset as a task (the `harness[hf]` extra): `--task hf:PATH` for one written by
`save_to_disk`, `hf:NAME` for one on the Hub (online only).

The dataset needs an image column (`datasets.Image`) and a label column (`datasets.ClassLabel`,
whose names become the classes). Its `train`, `validation` (or `val`, `valid`) and `test` splits
are used as given; a missing validation or test split is taken off `train` by the task's split
recipe, as for folder tasks (harness.datasets.folder). Images are decoded as RGB at
`--image-size` (default 64 px) and normalised with ImageNet's statistics.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.imagefile import to_array

from ._download import offline
from ._images import check_memory
from ._registry import DatasetSpec, Request, Split, TaskData
from .folder import DEFAULT_SIZE, fill_splits, user_task

NAMES = {"train": ("train",), "val": ("validation", "val", "valid"), "test": ("test",)}


def _library() -> Any:
    try:
        import datasets
    except ImportError:
        raise HarnessError("hf: tasks need the `datasets` package", "pip install 'harness[hf]'") from None
    return datasets


def _is_path(reference: str) -> bool:
    return reference.startswith(("/", ".", "~")) or Path(reference).is_dir()


def _open(reference: str) -> tuple[Any, Path]:
    """The DatasetDict (or Dataset) and the folder its files are in."""
    datasets = _library()
    if _is_path(reference):
        path = Path(reference).expanduser()
        if not (path / "dataset_dict.json").is_file() and not (path / "dataset_info.json").is_file():
            raise HarnessError(f"no dataset saved with save_to_disk at {path}", "pass hf:PATH of such a folder")
        return datasets.load_from_disk(str(path)), path
    if offline() or "1" in (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("HF_DATASETS_OFFLINE")):
        raise HarnessError(
            f"cannot load the Hugging Face dataset {reference!r} offline (HARNESS_OFFLINE or HF_HUB_OFFLINE is set)",
            "save it with save_to_disk where you are online and pass hf:PATH",
        )
    try:
        loaded = datasets.load_dataset(reference)
    except Exception as exc:  # the Hub's errors (no network, no such dataset, gated) are the user's to fix
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise HarnessError(
            f"cannot load the Hugging Face dataset {reference!r} ({detail})",
            "check the name and the network, or save it with save_to_disk and pass hf:PATH",
        ) from None
    first = next(iter(loaded.values()))
    return loaded, Path(first.cache_files[0]["filename"]).parent


def _columns(features: Any, where: str) -> tuple[str, str, tuple[str, ...]]:
    """(image column, label column, class names) of a split's features."""
    datasets = _library()
    images = [k for k, v in features.items() if isinstance(v, datasets.Image)]
    labels = [k for k, v in features.items() if isinstance(v, datasets.ClassLabel)]
    if not images or not labels:
        raise HarnessError(
            f"{where} has no image column and ClassLabel label column (columns: {', '.join(features)})",
            "cast them with dataset.cast_column(name, datasets.Image()) / ClassLabel(names=[...])",
        )
    return images[0], labels[0], tuple(features[labels[0]].names)


def _splits(loaded: Any) -> dict[str, Any]:
    if not hasattr(loaded, "keys"):  # one Dataset: everything is to split
        return {"train": loaded}
    found = {}
    for split, names in NAMES.items():
        for name in names:
            if name in loaded:
                found[split] = loaded[name]
                break
    if "train" not in found:
        raise HarnessError(f"the dataset has no train split (it has {', '.join(loaded)})", "save one named train")
    return found


def _decode_split(dataset: Any, image_column: str, label_column: str, size: int) -> tuple[Split, list[str]]:
    check_memory(len(dataset), size)
    images = np.empty((len(dataset), 3, size, size), dtype=np.uint8)
    labels = np.asarray(dataset[label_column], dtype=np.int64)
    kept = np.ones(len(dataset), dtype=bool)
    skipped = []
    for i, row in enumerate(dataset.select_columns([image_column])):
        try:
            images[i] = to_array(row[image_column], width=size, height=size)
        except (OSError, ValueError, SyntaxError):
            kept[i] = False
            skipped.append(f"row {i}")
    return Split(images[kept], labels[kept]), skipped


def _decode(
    reference: str, request: Request, image_column: str, label_column: str, classes: tuple[str, ...]
) -> TaskData:
    size = request.image_size or DEFAULT_SIZE
    loaded, _ = _open(reference)
    given = _splits(loaded)
    decoded: dict[str, Split] = {}
    skipped: list[str] = []
    for split, dataset in given.items():
        decoded[split], missed = _decode_split(dataset, image_column, label_column, size)
        skipped += [f"{split} {m}" for m in missed]
    fill_splits(decoded, classes, request.variant)
    return TaskData(
        decoded["train"],
        decoded["val"],
        decoded["test"],
        source=f"Hugging Face dataset {reference}, {size} px, splits given: {', '.join(given)}",
        skipped=tuple(skipped),
    )


def hf_task(reference: str) -> DatasetSpec:
    """The task of the dataset `reference` names: a save_to_disk folder or a Hub name."""
    if _is_path(reference):
        reference = str(Path(reference).expanduser().absolute())
    loaded, folder = _open(reference)
    image_column, label_column, classes = _columns(_splits(loaded)["train"].features, f"hf:{reference}")
    if len(classes) < 2:
        raise HarnessError(f"hf:{reference} has {len(classes)} class(es)", "a classification task needs at least 2")
    return user_task(
        f"hf:{reference}",
        classes,
        find=lambda root, request: folder,
        decode=lambda found, request: _decode(reference, request, image_column, label_column, classes),
        description=f"Hugging Face dataset {reference}: {len(classes)} classes",
    )
