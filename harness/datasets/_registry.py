"""The task registry: each task is a frozen `DatasetSpec`, filled by `register_task`.

A spec's `decode` reads the task's files once into uint8 numpy arrays (N, C, H, W); the cache
(`_cache.py`) stores them on disk and every later user memory-maps them. This package never
imports torch at module level, so `harness data` and the loaders stay cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.errors import HarnessError, lookup, unknown_choice
from harness.heads import Head, get_head
from harness.kinds import Mode
from harness.paths import absolute

from ._split import SPLIT_SEED

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 (N, C, H, W), pixels 0..255
    labels: np.ndarray  # int64 (N,) class indices; uint8 (N, C, H, W) target images for image-to-image

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class TaskData:
    train: Split
    val: Split
    test: Split
    source: str  # where the data was found, for `harness data` and the sweep record
    skipped: tuple[str, ...] = ()  # files that could not be decoded (corrupt, truncated, bombs)
    notes: tuple[str, ...] = ()  # what the reader left out on purpose, for the user to see (unknown class folders)

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "val": self.val, "test": self.test}


@dataclass(frozen=True)
class Request:
    """Which copy of a task's data: the variant (a split recipe) and, for photo sets, the side."""

    variant: str
    image_size: int | None  # None: the task's images keep their fixed size


# find(root, request) -> the folder holding the task's files under the data root, or MissingData.
Finder = Callable[[Path, Request], Path]
# decode(found, request) -> TaskData: reads every file once.
Decoder = Callable[[Path, Request], TaskData]
# download(root, request) fetches the files under root (online); its errors become MissingData.
Downloader = Callable[[Path, Request], None]


class MissingData(HarnessError):
    """The task's files are not where the harness looked; the hint says what to put where."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str  # classification | image_to_image
    input_shape: Shape  # (C, H, W) at the default image size
    classes: tuple[str, ...]  # class names; for image_to_image, empty
    mean: tuple[float, ...]  # per channel, on pixels scaled to [0, 1]
    std: tuple[float, ...]
    find: Finder = field(repr=False)
    decode: Decoder = field(repr=False)
    heads: tuple[Head, ...] = (Head.LOGITS,)  # architecture heads it trains: binary tasks take one logit too
    metric: str = "val_acc"  # what sweeps rank trials by
    mode: Mode = Mode.MAX  # whether a larger metric is better
    variants: tuple[str, ...] = ("default",)  # the first is the default
    resizable: bool = False  # photo sets: decoded at any --image-size (default: input_shape's)
    augment: str = "none"  # the batch augmentation preset its reports used (harness.engine.augment)
    download: Downloader | None = field(default=None, repr=False)
    description: str = ""
    # The seeds of the random draws that split its files (harness.datasets._split), in the order
    # drawn; variants in `given_splits` come split by their files (no seed). The model card says so.
    split_seeds: tuple[int, ...] = (SPLIT_SEED,)
    given_splits: tuple[str, ...] = ()
    # Tasks whose variant is a recipe to parse (a folder's "0.8,0.1,0.1") rather than a name
    # from `variants`: returns the variant as the cache and the store spell it.
    parse_variant: Callable[[str], str] | None = field(default=None, repr=False)
    reads_data_dir: bool = True  # False: its files are named by the task itself (folder:, hf:, digits)

    @property
    def head(self) -> Head:
        """The default head: what a model for this task outputs unless its architecture says otherwise."""
        return self.heads[0]

    def num_outputs(self, head: str | None = None) -> int:
        """Model outputs for `head`: classes, one logit, or the target image's channels."""
        return get_head(head or self.head).num_outputs(classes=len(self.classes), channels=self.input_shape[0])

    def request(self, variant: str | None = None, image_size: int | None = None) -> Request:
        """The validated variant and image size (defaults filled in)."""
        variant = variant or self.variants[0]
        if self.parse_variant is not None:
            variant = self.parse_variant(variant)
        elif variant not in self.variants:
            lookup(f"variant of {self.name}", dict.fromkeys(self.variants), variant)
        if image_size is not None and not self.resizable:
            if image_size == self.input_shape[1]:
                image_size = None
            else:
                raise HarnessError(
                    f"task {self.name!r} has a fixed image size of {self.input_shape[1]} px",
                    "drop --image-size; only photo sets (cats_vs_dogs, pokemon150, folder:, hf:) are resized",
                )
        if image_size is not None and not 8 <= image_size <= 1024:
            raise HarnessError(f"image size {image_size} is out of range", "pass --image-size between 8 and 1024")
        if self.resizable and image_size is None:
            image_size = self.input_shape[1]
        return Request(variant, image_size)

    def seeds_of(self, variant: str | None = None) -> tuple[int, ...]:
        """The split seeds of `variant` (None: the default); () where its files come split."""
        return () if (variant or self.variants[0]) in self.given_splits else self.split_seeds

    def pixel_stats(self, pixels: str | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) on [0, 1]-scaled pixels: the task's own ("standard"), or as a report fed them:
        "unit" (x / 255, Keras' rescale and torchvision's ToTensor) or "raw" (0..255 floats)."""
        channels = self.input_shape[0]
        table = {
            "standard": (self.mean, self.std),
            "unit": ((0.0,) * channels, (1.0,) * channels),
            "raw": ((0.0,) * channels, (1.0 / 255.0,) * channels),
        }
        return lookup("pixel scaling", table, pixels or "standard")

    def shape(self, image_size: int | None = None) -> Shape:
        """(C, H, W) the model sees at `image_size` (None: the default)."""
        if image_size is None or not self.resizable:
            return self.input_shape
        return (self.input_shape[0], image_size, image_size)


_TASKS: dict[str, DatasetSpec] = {}
_RESOLVED: dict[str, DatasetSpec] = {}  # folder: and hf: tasks met so far
_BUILTIN: set[str] = set()  # the harness's own tasks (`mark_builtin`); every other is users' code

# prefix -> the function that makes the task a `PREFIX:REFERENCE` name stands for (harness.datasets.folder, .hf)
TaskSource = Callable[[str], DatasetSpec]
SOURCES: dict[str, TaskSource] = {}


def register_task(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _TASKS:
        raise ValueError(f"task {spec.name!r} registered twice")
    if ":" in spec.name:
        raise ValueError(f"task name {spec.name!r} has a colon, which marks a source (folder:, hf:)")
    _TASKS[spec.name] = spec
    return spec


def mark_builtin() -> None:
    """Called once harness.datasets has registered its own tasks: any registered later (a plugin,
    a script) is users' code, which Ray workers must be given (harness.engine.shipped)."""
    _BUILTIN.update(_TASKS)


def adopt_task(spec: DatasetSpec) -> DatasetSpec:
    """Add a user's task as a Ray worker receives it; the one already known under its name wins."""
    return _TASKS.setdefault(spec.name, spec)


def user_tasks(names: tuple[str, ...]) -> list[DatasetSpec]:
    """The specs among `names` that users' code registered: what Ray workers must be given."""
    return [_TASKS[n] for n in names if n in _TASKS and n not in _BUILTIN]


def list_tasks() -> list[str]:
    return sorted(_TASKS)


def get_task(name: str) -> DatasetSpec:
    """A registered task, or one from a source: `folder:/abs/path`, `hf:PATH` or `hf:NAME`."""
    if name in _TASKS:
        return _TASKS[name]
    if name in _RESOLVED:
        return _RESOLVED[name]
    prefix, sep, reference = name.partition(":")
    if sep and prefix in SOURCES:
        spec = SOURCES[prefix](reference)
        _RESOLVED[name] = _RESOLVED[spec.name] = spec
        return spec
    raise unknown_choice("task", name, [*_TASKS, "folder:PATH", "hf:PATH"])


def stored_task(name: str) -> DatasetSpec:
    """The task a stored trial names, for reading results: the task itself where it is known
    here, else a stand-in (a folder since moved, a plugin not loaded) with the metric of every
    classification task and no classes, so boards and reports of a shared store still read."""
    try:
        return get_task(name)
    except HarnessError as exc:
        why = exc.message

    def unavailable(_root: Path, _request: Request) -> Path:
        raise MissingData(f"task {name!r} is not available here: {why}", "pass --plugin, or restore its data")

    return DatasetSpec(
        name=name,
        kind="classification",
        input_shape=(3, 1, 1),
        classes=(),
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        find=unavailable,
        decode=lambda found, request: unavailable(found, request),  # type: ignore[arg-type,return-value]
        parse_variant=str,
        resizable=True,
        description=f"not available here ({why})",
    )


def resolve_data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """`--data-dir`, else `HARNESS_DATA_DIR`, else a per-user cache folder; always absolute, so
    that a trial running in another working folder (Ray's) reads the same files."""
    if data_dir:
        return absolute(data_dir)
    if os.environ.get("HARNESS_DATA_DIR"):
        return absolute(os.environ["HARNESS_DATA_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "harness" / "data"
