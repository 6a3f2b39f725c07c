"""A user's own images as a task: `--task folder:PATH`, one sub-folder of images per class.

Classes are the sub-folder names in sorted order (any names: spaces, accents, other scripts).
When PATH holds `train/` (and `val/`, `test/`) with class folders, those splits are used as
given and a missing `val/` or `test/` is split off `train/`; otherwise every class is split with
the fixed seed by the task's variant, its split recipe (`--split 0.8,0.1,0.1`). Images are decoded
as RGB at `--image-size` (default 64 px) and normalised with ImageNet's mean and std, which
pretrained timm and torchvision networks expect.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.heads import Head

from ._images import IMAGE_EXTENSIONS, class_folders, decode_labelled
from ._registry import DatasetSpec, Decoder, Finder, MissingData, Request, Split, TaskData
from ._split import SPLIT_SEED, by_fractions, parse_fractions
from ._walk import files_under, subfolders

PREFIX = "folder:"
DEFAULT_SIZE = 64
DEFAULT_SPLIT = "0.8,0.1,0.1"
SPLITS = ("train", "val", "test")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_split(text: str) -> str:
    """The split recipe as the cache and the store name it: "0.8,0.1,0.1"; each part > 0."""
    fractions = parse_fractions(text)
    if min(fractions) <= 0:
        raise HarnessError(f"split {text!r} leaves a split empty", "give train, val and test each a fraction > 0")
    return ",".join(f"{f:g}" for f in fractions)


def given_splits(path: Path) -> dict[str, Path]:
    """The splits PATH comes with (train/ at least), or {} when its class folders are at the top."""
    real = set(subfolders(path))  # a link named train/ is not followed (_walk.py)
    if path / "train" not in real:
        return {}
    return {s: path / s for s in SPLITS if path / s in real}


def images_under(folder: Path) -> list[Path]:
    """Image files anywhere under `folder`, in sorted path order (the split never depends on the OS)."""
    return sorted(p for p in files_under(folder) if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _classes(path: Path) -> tuple[str, ...]:
    top = given_splits(path).get("train", path)
    names = tuple(sorted(d.name for d in class_folders(top)))
    if len(names) < 2:
        raise HarnessError(
            f"{top} holds {len(names)} class folder(s); a classification task needs at least 2",
            "put one sub-folder of images per class there (cats/, dogs/, ...)",
        )
    return names


def _labelled(folder: Path, classes: tuple[str, ...]) -> tuple[list[tuple[Path, int]], list[str]]:
    """(file, class) under `folder`'s class folders, and the folder names that are no class."""
    index = {name: i for i, name in enumerate(classes)}
    files, unknown = [], []
    for sub in class_folders(folder):
        if sub.name in index:
            files += [(p, index[sub.name]) for p in images_under(sub)]
        else:
            unknown.append(sub.name)
    return files, unknown


def _fits(n: int, fractions: list[float]) -> bool:
    sizes = [int(round(f * n)) for f in fractions[1:]]
    return n - sum(sizes) >= 1 and min(sizes, default=1) >= 1


def _check_sizes(labels: np.ndarray, classes: tuple[str, ...], fractions: list[float], split: str) -> None:
    """Every class must put an image into each part the split makes."""
    for c, name in enumerate(classes):
        n = int((labels == c).sum())
        if not _fits(n, fractions):
            need = next(k for k in range(2, 10_000) if _fits(k, fractions))
            raise HarnessError(
                f"class {name!r} has {n} readable image(s), too few for the split {split}",
                f"give it at least {need} images, or pass another --split",
            )


def fill_splits(decoded: dict[str, Split], classes: tuple[str, ...], variant: str) -> list[str]:
    """Take the splits `decoded` lacks (val, test) off its train split, each class in the split
    recipe's proportions, in place; returns the names of those taken."""
    train_f, val_f, test_f = parse_fractions(variant)
    wanted = {"val": val_f, "test": test_f}
    missing = [s for s in ("val", "test") if s not in decoded]
    if not missing:
        return missing
    pool = decoded["train"]
    fractions = [train_f + sum(f for s, f in wanted.items() if s in decoded)] + [wanted[s] for s in missing]
    fractions = [f / sum(fractions) for f in fractions]
    _check_sizes(pool.labels, classes, fractions, variant)
    parts = by_fractions(pool.labels, fractions, seed=SPLIT_SEED)
    decoded["train"] = Split(pool.images[parts[0]], pool.labels[parts[0]])
    for split, idx in zip(missing, parts[1:]):
        decoded[split] = Split(pool.images[idx], pool.labels[idx])
    return missing


def _decode(path: Path, request: Request, classes: tuple[str, ...]) -> TaskData:
    size = request.image_size or DEFAULT_SIZE
    given = given_splits(path) or {"train": path}
    decoded: dict[str, Split] = {}
    skipped: list[str] = []
    notes: list[str] = []
    for split, folder in given.items():
        files, unknown = _labelled(folder, classes)
        if unknown:
            notes.append(f"{folder}: ignored folder(s) that are no class of the task: {', '.join(unknown)}")
        images, labels, missed = decode_labelled(files, size, classes, folder)
        decoded[split], skipped = Split(images, labels), skipped + missed
    missing = fill_splits(decoded, classes, request.variant)
    kept = ", ".join(s + "/" for s in given if s != "train" or len(given) > 1) or "none"
    return TaskData(
        decoded["train"],
        decoded["val"],
        decoded["test"],
        source=f"{path}, {size} px, splits given: {kept}" + (f"; {'/'.join(missing)} split off" if missing else ""),
        skipped=tuple(skipped),
        notes=tuple(notes),
    )


def user_task(name: str, classes: tuple[str, ...], *, find: Finder, decode: Decoder, description: str) -> DatasetSpec:
    """What folder: and hf: tasks share: RGB at 64 px by default (any --image-size), ImageNet's
    statistics, the split recipe as the variant, flip_crop, a single-logit head for two classes."""
    return DatasetSpec(
        name=name,
        kind="classification",
        input_shape=(3, DEFAULT_SIZE, DEFAULT_SIZE),
        classes=classes,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        find=find,
        decode=decode,
        heads=(Head.LOGITS, Head.SINGLE_LOGIT) if len(classes) == 2 else (Head.LOGITS,),
        variants=(DEFAULT_SPLIT,),
        parse_variant=normalize_split,
        resizable=True,
        augment="flip_crop",
        reads_data_dir=False,
        description=description,
    )


def folder_task(reference: str) -> DatasetSpec:
    """The task of the folder `reference` names (an absolute path after `folder:`)."""
    path = Path(reference.removeprefix(PREFIX))
    if not path.is_absolute():
        raise HarnessError(f"task {reference!r} needs an absolute path", "pass --task folder:/path/to/images")
    if not path.is_dir():
        raise HarnessError(f"no image folder at {path}", "pass --task folder:PATH with one sub-folder per class")
    classes = _classes(path)

    def find(root: Path, request: Request) -> Path:
        if not path.is_dir():
            raise MissingData(f"the folder {path} is gone", "pass --task folder:PATH of an existing folder")
        return path

    return user_task(
        f"{PREFIX}{path}",
        classes,
        find=find,
        decode=lambda found, request: _decode(found, request, classes),
        description=f"your images: {len(classes)} classes from {path}",
    )
