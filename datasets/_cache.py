"""Decode once, read many times: each (task, variant, image size, source) becomes a folder of
.npy files that every trial memory-maps.

The cache is built on the driver before any trial starts, under a file lock (two sweeps, or a
trial on another node that finds no cache, wait for the one builder), written to a temporary
folder and renamed into place, so a killed build never leaves a half cache behind. Trials map
the arrays copy-on-write: concurrent trials on a node share the page cache, so the node's
memory grows with the dataset once, not once per trial.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from harness.paths import absolute

from ._download import fetch
from ._registry import DatasetSpec, MissingData, Request, Split, TaskData, get_task, resolve_data_root

CACHE_VERSION = 1  # bump when the decoded format changes: old caches are then simply not found
SPLITS = ("train", "val", "test")


def cache_root() -> Path:
    """`HARNESS_CACHE_DIR`, else a per-user cache folder (the data root may be read-only)."""
    if os.environ.get("HARNESS_CACHE_DIR"):
        return absolute(os.environ["HARNESS_CACHE_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "harness" / "decoded"


def cache_folder(spec: DatasetSpec, request: Request, source: Path) -> Path:
    """One folder per (task, variant, size, source folder): two data roots never share a cache."""
    size = f"-{request.image_size}px" if request.image_size else ""
    digest = hashlib.sha1(f"{source.resolve()}|{CACHE_VERSION}".encode()).hexdigest()[:10]
    return cache_root() / f"{spec.name}-{request.variant}{size}-{digest}"


def _find(spec: DatasetSpec, root: Path, request: Request, *, download: bool) -> Path:
    try:
        return spec.find(root, request)
    except MissingData as missing:
        if not download:
            raise
        fetch(spec.download, root, request, missing)
        return spec.find(root, request)


def locate(name: str, data_dir: str | os.PathLike | None = None, *, variant: str | None = None,
           image_size: int | None = None, download: bool = True) -> Path:  # fmt: skip
    """The folder holding a task's files (downloaded when absent and allowed): no decoding, so
    a caller can check every piece of data it needs before it decodes or trains anything."""
    spec = get_task(name)
    return _find(spec, resolve_data_root(data_dir), spec.request(variant, image_size), download=download)


def _write(data: TaskData, target: Path, meta: dict[str, Any]) -> None:
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, split in data.splits().items():
        np.save(tmp / f"{name}_images.npy", np.ascontiguousarray(split.images))
        np.save(tmp / f"{name}_labels.npy", np.ascontiguousarray(split.labels))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))  # written last: its presence means complete
    os.replace(tmp, target)


def prepare(name: str, data_dir: str | os.PathLike | None = None, *, variant: str | None = None,
            image_size: int | None = None, download: bool = True) -> dict[str, Any]:  # fmt: skip
    """Build the task's cache if it is not there yet; return its description (meta.json)."""
    spec = get_task(name)
    request = spec.request(variant, image_size)
    root = resolve_data_root(data_dir)
    source = _find(spec, root, request, download=download)
    target = cache_folder(spec, request, source)
    if (target / "meta.json").is_file():
        return json.loads((target / "meta.json").read_text())
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "meta.json").is_file():  # another process built it while we waited
            return json.loads((target / "meta.json").read_text())
        start = time.perf_counter()
        data = spec.decode(source, request)
        meta = {
            "task": spec.name, "variant": request.variant, "image_size": request.image_size,
            "shape": list(data.train.images.shape[1:]), "source": data.source, "folder": str(target),
            "counts": {k: len(s) for k, s in data.splits().items()},
            "per_class": _per_class(spec, data), "skipped": list(data.skipped),
            "decode_s": round(time.perf_counter() - start, 2), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "bytes": sum(s.images.nbytes + s.labels.nbytes for s in data.splits().values()),
            "version": CACHE_VERSION,
        }  # fmt: skip
        _write(data, target, meta)
    return meta


def _per_class(spec: DatasetSpec, data: TaskData) -> dict[str, dict[str, int]]:
    if spec.kind != "classification":
        return {}
    return {
        split: {spec.classes[c]: int(n) for c, n in enumerate(np.bincount(s.labels, minlength=len(spec.classes)))}
        for split, s in data.splits().items()
    }  # fmt: skip


def open_cached(meta: dict[str, Any]) -> TaskData:
    """The cached splits as copy-on-write memory maps: nothing is read until it is indexed."""
    folder = Path(meta["folder"])

    def split(name: str) -> Split:
        return Split(np.load(folder / f"{name}_images.npy", mmap_mode="c"),
                     np.load(folder / f"{name}_labels.npy", mmap_mode="c"))  # fmt: skip

    return TaskData(*(split(s) for s in SPLITS), source=meta["source"], skipped=tuple(meta["skipped"]))


def load_task(name: str, data_dir: str | os.PathLike | None = None, *, variant: str | None = None,
              image_size: int | None = None, download: bool = True) -> TaskData:  # fmt: skip
    """The task's splits, decoded at most once per machine."""
    return open_cached(prepare(name, data_dir, variant=variant, image_size=image_size, download=download))


def describe_task(name: str, data_dir: str | os.PathLike | None = None, *, variant: str | None = None,
                  image_size: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Where a task's data is, and its cache: never downloads or decodes anything.

    Missing data is a row with its hint, not an exception, so `harness data` lists every task.
    """
    spec = get_task(name)
    request = spec.request(variant, image_size)
    row: dict[str, Any] = {
        "task": name, "kind": spec.kind, "variant": request.variant, "variants": list(spec.variants),
        "input": list(spec.shape(request.image_size)), "classes": len(spec.classes), "metric": spec.metric,
        "description": spec.description,
    }  # fmt: skip
    try:
        source = spec.find(resolve_data_root(data_dir), request)
    except MissingData as missing:
        return {**row, "status": "missing", "source": str(missing)}
    target = cache_folder(spec, request, source)
    if not (target / "meta.json").is_file():
        return {**row, "status": "found", "source": str(source), "cache": None}
    meta = json.loads((target / "meta.json").read_text())
    return {
        **row, "status": "cached", "source": meta["source"], "counts": meta["counts"],
        "per_class": meta["per_class"], "skipped": len(meta["skipped"]), "skipped_first": meta["skipped"][:3],
        "cache": meta["folder"], "cache_bytes": meta["bytes"], "decode_s": meta["decode_s"],
    }  # fmt: skip
