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
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, TypedDict, cast

import numpy as np
from filelock import FileLock

from harness.errors import HarnessError
from harness.paths import absolute, safe_name
from harness.safefile import refuse_link
from harness.userfiles import MAX_DEPTH, MiB, nesting_depth, read_regular

from ._download import fetch
from ._fingerprint import ArrayFingerprint, SourceFingerprint, array_fingerprint, array_problem, source_fingerprint
from ._registry import DatasetSpec, MissingData, Request, Split, TaskData, get_task, resolve_data_root

CACHE_VERSION = 3  # bump when the decoded format changes: old caches are then simply not found
# (2: fingerprints; 3: 16-bit and float grey scaled, not clipped; PNGs missing rows skipped)
SPLITS = ("train", "val", "test")


class CacheInfo(TypedDict):
    """What a decoded cache holds and where it came from (meta.json, but for its arrays)."""

    task: str
    variant: str | None
    image_size: int | None  # pixels; None: the task's own size
    shape: list[int]  # one image: C, H, W
    source: str  # where the data came from, in words
    folder: str  # the cache's own folder
    counts: dict[str, int]  # images per split
    per_class: dict[str, dict[str, int]]  # split -> class name -> images; {} for image outputs
    skipped: list[str]  # unreadable source files
    notes: list[str]  # what the reader left out on purpose (TaskData.notes)
    decode_s: float  # seconds the decoding took
    built_at: str  # local time, %Y-%m-%dT%H:%M:%S
    bytes: int  # the arrays' bytes
    version: int  # CACHE_VERSION
    sources: SourceFingerprint


class CacheMeta(CacheInfo):
    """A cache's meta.json: its description and each array's fingerprint, by file name."""

    arrays: dict[str, ArrayFingerprint]


class Prepared(CacheMeta, total=False):
    """What `prepare` returns: the cache's meta.json, and why it was rebuilt when it was."""

    rebuilt: str


def cache_root() -> Path:
    """`HARNESS_CACHE_DIR`, else a per-user cache folder (the data root may be read-only)."""
    if os.environ.get("HARNESS_CACHE_DIR"):
        return absolute(os.environ["HARNESS_CACHE_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "harness" / "decoded"


def cache_folder(spec: DatasetSpec, request: Request, source: Path) -> Path:
    """One folder per (task, variant, size, source folder): two data roots never share a cache."""
    size = f"-{request.image_size}px" if request.image_size else ""
    digest = hashlib.sha1(f"{spec.name}|{source.resolve()}|{CACHE_VERSION}".encode()).hexdigest()[:10]
    return cache_root() / safe_name(f"{spec.name.rpartition('/')[2]}-{request.variant}{size}-{digest}")


def _find(spec: DatasetSpec, root: Path, request: Request, *, download: bool) -> Path:
    try:
        return spec.find(root, request)
    except MissingData as missing:
        if not download:
            raise
        fetch(spec.download, root, request, missing)
        return spec.find(root, request)


def locate(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    variant: str | None = None,
    image_size: int | None = None,
    download: bool = True,
) -> Path:
    """The folder holding a task's files (downloaded when absent and allowed): no decoding, so
    a caller can check every piece of data it needs before it decodes or trains anything."""
    spec = get_task(name)
    return _find(spec, resolve_data_root(data_dir), spec.request(variant, image_size), download=download)


def _write(data: TaskData, target: Path, info: CacheInfo) -> CacheMeta:
    """Write the arrays and their fingerprints to a temporary folder, meta.json last (its presence
    means complete), then swap it into place; a damaged cache it replaces is removed after."""
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    if tmp.is_symlink():  # our own leftover name, planted as a link: the link goes, not what it points to
        tmp.unlink()
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, split in data.splits().items():
        np.save(tmp / f"{name}_images.npy", np.ascontiguousarray(split.images))
        np.save(tmp / f"{name}_labels.npy", np.ascontiguousarray(split.labels))
    meta: CacheMeta = {**info, "arrays": {f.name: array_fingerprint(f) for f in sorted(tmp.glob("*.npy"))}}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    old = target.with_name(f"{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)  # trials still mapping the old files keep them until they close
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return meta


def _read_meta(target: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The cache's meta.json, or (None, why it cannot be used); (None, None) when there is none.
    An open dict: JSON read from disk, checked only for its arrays here (`cache_problem` checks
    the rest before it calls it a `CacheMeta`)."""
    path = target / "meta.json"
    if not path.is_file():
        return None, None
    try:  # bounded and regular: a planted FIFO or a nest of brackets is a cache to rebuild
        text = read_regular(path, what="cache description", limit=16 * MiB, hint="").decode("utf-8")
        if nesting_depth(text) > MAX_DEPTH:
            return None, f"its meta.json is nested more than {MAX_DEPTH} levels deep"
        meta = json.loads(text)
    except HarnessError as exc:
        return None, f"its meta.json is unreadable ({exc.message})"
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"its meta.json is unreadable ({type(exc).__name__})"
    if not isinstance(meta, dict) or not isinstance(meta.get("arrays"), dict):
        return None, "its meta.json is not a cache description"
    return meta, None


def cache_problem(target: Path, source: Path, *, full: bool) -> tuple[CacheMeta | None, str | None]:
    """(meta, None) when the cache can be trusted; (None, why not) otherwise, and (None, None)
    when there is none. `full` (the driver, once per sweep) also compares the sources and every
    array's checksum."""
    meta, problem = _read_meta(target)
    if meta is None:
        return None, problem
    if meta.get("version") != CACHE_VERSION:
        return None, "it was written by another cache version"
    expected = {f"{s}_{k}.npy" for s in SPLITS for k in ("images", "labels")}
    if set(meta["arrays"]) != expected:
        return None, "its list of arrays is incomplete"
    for name, fingerprint in sorted(meta["arrays"].items()):
        problem = array_problem(target / name, fingerprint, checksum=full)
        if problem:
            return None, problem
    if full and meta.get("sources") != source_fingerprint(source):
        return None, f"its source files under {source} changed since it was built"
    # this version wrote it and its arrays are as written: the rest is what _write recorded
    return cast(CacheMeta, meta), None


def prepare(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    variant: str | None = None,
    image_size: int | None = None,
    download: bool = True,
    verify: bool = False,
) -> Prepared:
    """Build the task's cache unless a trustworthy one is there; return its description
    (meta.json). `verify` (the driver, once per sweep) checks sources and checksums too; a cache
    that fails a check is rebuilt once, and the returned description says why (`rebuilt`)."""
    spec = get_task(name)
    request = spec.request(variant, image_size)
    root = resolve_data_root(data_dir)
    source = _find(spec, root, request, download=download)
    target = cache_folder(spec, request, source)
    meta, problem = cache_problem(target, source, full=verify)
    if meta is not None and problem is None:
        return _prepared(meta, rebuilt=None)
    _writable(target.parent)
    with FileLock(str(_lock_file(target))):
        meta, problem = cache_problem(target, source, full=verify)  # another process may have built it
        if meta is not None and problem is None:
            return _prepared(meta, rebuilt=None)
        start = time.perf_counter()
        data = spec.decode(source, request)
        check_task_data(spec, data, shape=spec.shape(request.image_size), where=source)
        meta = _write(
            data,
            target,
            {
                "task": spec.name,
                "variant": request.variant,
                "image_size": request.image_size,
                "shape": list(data.train.images.shape[1:]),
                "source": data.source,
                "folder": str(target),
                "counts": {k: len(s) for k, s in data.splits().items()},
                "per_class": _per_class(spec, data),
                "skipped": list(data.skipped),
                "notes": list(data.notes),
                "decode_s": round(time.perf_counter() - start, 2),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "bytes": sum(s.images.nbytes + s.labels.nbytes for s in data.splits().values()),
                "version": CACHE_VERSION,
                "sources": source_fingerprint(source),
            },
        )
    return _prepared(meta, rebuilt=problem)


def _prepared(meta: CacheMeta, *, rebuilt: str | None) -> Prepared:
    out: Prepared = {**meta}
    if rebuilt:
        out["rebuilt"] = rebuilt
    return out


def _lock_file(target: Path) -> Path:
    """The cache's lock file, refused in one line unless it is absent or a regular file: FileLock
    opens it for writing (and truncates it), so a link placed there would truncate whatever it
    points at, and a FIFO or a folder fails deep inside the lock."""
    lock = Path(str(target) + ".lock")
    try:
        mode = os.lstat(lock).st_mode
    except FileNotFoundError:
        return lock
    if stat.S_ISLNK(mode):
        refuse_link(lock, what="the cache lock")
    if not stat.S_ISREG(mode):
        raise HarnessError(
            f"the cache lock {str(lock)!r} is not a regular file", "delete it: the harness creates its own lock there"
        )
    return lock


def _writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # a new file of a random name (O_EXCL): never a touch through a link planted at a guessable one
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise HarnessError(
            f"the decoded-data cache folder {str(folder)!r} cannot be written ({exc.strerror or exc})",
            "set HARNESS_CACHE_DIR to a folder you can write",
        ) from None


def check_task_data(spec: DatasetSpec, data: TaskData, *, shape: tuple[int, int, int], where: Path) -> None:
    """What a reader returned must hold together before it is cached: images uint8 (N, C, H, W)
    of the task's shape, as many labels as images, class labels in range. Readers check their
    own files first and name them; this catches what any reader missed."""
    for name, split in data.splits().items():
        images, labels = split.images, split.labels
        if images.dtype != np.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != tuple(shape):
            raise HarnessError(
                f"{spec.name} {name} images from {where} are {images.dtype} {list(images.shape)}, "
                f"not uint8 (N, {', '.join(map(str, shape))})",
                "check the task's files",
            )
        if len(labels) != len(images):
            raise HarnessError(
                f"{spec.name} {name} split from {where} has {len(images):,} images but {len(labels):,} labels",
                "check the task's files",
            )
        if (
            spec.kind == "classification"
            and len(labels)
            and not (labels.min() >= 0 and labels.max() < len(spec.classes))
        ):
            raise HarnessError(
                f"{spec.name} {name} labels from {where} run from {labels.min()} to {labels.max()}, "
                f"outside 0..{len(spec.classes) - 1}",
                "check the task's label files",
            )


def _per_class(spec: DatasetSpec, data: TaskData) -> dict[str, dict[str, int]]:
    if spec.kind != "classification":
        return {}
    return {
        split: {spec.classes[c]: int(n) for c, n in enumerate(np.bincount(s.labels, minlength=len(spec.classes)))}
        for split, s in data.splits().items()
    }


def open_cached(meta: CacheMeta) -> TaskData:
    """The cached splits as copy-on-write memory maps: nothing is read until it is indexed."""
    folder = Path(meta["folder"])

    def split(name: str) -> Split:
        return Split(
            np.load(folder / f"{name}_images.npy", mmap_mode="c"), np.load(folder / f"{name}_labels.npy", mmap_mode="c")
        )

    train, val, test = (split(s) for s in SPLITS)
    return TaskData(
        train, val, test, source=meta["source"], skipped=tuple(meta["skipped"]), notes=tuple(meta.get("notes", []))
    )


def load_task(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    variant: str | None = None,
    image_size: int | None = None,
    download: bool = True,
) -> TaskData:
    """The task's splits, decoded at most once per machine."""
    return open_cached(prepare(name, data_dir, variant=variant, image_size=image_size, download=download))


def describe_task(
    name: str, data_dir: str | os.PathLike | None = None, *, variant: str | None = None, image_size: int | None = None
) -> dict[str, Any]:
    """Where a task's data is, and its cache: never downloads or decodes anything.

    Missing data is a row with its hint, not an exception, so `harness data` lists every task.
    """
    spec = get_task(name)
    request = spec.request(variant, image_size)
    row: dict[str, Any] = {
        "task": name,
        "kind": spec.kind,
        "variant": request.variant,
        "variants": list(spec.variants),
        "input": list(spec.shape(request.image_size)),
        "classes": len(spec.classes),
        "metric": spec.metric,
        "description": spec.description,
    }
    try:
        source = spec.find(resolve_data_root(data_dir), request)
    except MissingData as missing:
        return {**row, "status": "missing", "source": str(missing)}
    target = cache_folder(spec, request, source)
    meta, problem = cache_problem(target, source, full=False)
    if meta is None and problem is None:
        return {**row, "status": "found", "source": str(source), "cache": None}
    if meta is not None and problem is None and meta.get("sources") != source_fingerprint(source):
        problem = f"its source files under {source} changed since it was built"
    if meta is None or problem:  # a cache that cannot be trusted is not "cached": prepare rebuilds it
        return {**row, "status": "stale", "source": str(source), "cache": str(target), "problem": problem}
    return {
        **row,
        "status": "cached",
        "source": meta["source"],
        "counts": meta["counts"],
        "per_class": meta["per_class"],
        "skipped": len(meta["skipped"]),
        "skipped_first": meta["skipped"][:3],
        "cache": meta["folder"],
        "cache_bytes": meta["bytes"],
        "decode_s": meta["decode_s"],
    }
