"""Fingerprints that tie a decoded cache to what it was decoded from, and to its own bytes.

A cache entry is trusted only while both hold: its sources (every file under the source
folder: path, size, modification time) are what they were when it was built, and each of its
arrays has the shape, dtype, size and checksum it was written with. The driver checks both
when it prepares a sweep's data (reading the arrays once, about 1 s per GB); trials check
only that the files are there at their recorded sizes, which costs a stat each.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TypedDict

import numpy as np

from ._walk import files_under

CHUNK = 1 << 22  # 4 MiB reads for checksums


class SourceFingerprint(TypedDict):
    """What a cache's sources were when it was built (meta.json's `sources`)."""

    files: int
    bytes: int
    digest: str  # sha1 of (relative path, size, mtime_ns) of every file, in path order


class ArrayFingerprint(TypedDict):
    """What one cached .npy file was written as (meta.json's `arrays`, by file name)."""

    shape: list[int]
    dtype: str  # numpy's name, e.g. "uint8"
    bytes: int  # the file's size
    sha1: str  # of the file's bytes


def source_fingerprint(source: Path) -> SourceFingerprint:
    """Every file under `source` (links to files followed, links to folders not: _walk.py): their
    count, total bytes, and one digest of (relative path, size, mtime) in path order, so an
    added, deleted or replaced file shows."""
    entries = []
    for path in files_under(source):
        try:
            stat = path.stat()
        except OSError:  # a dangling link: not a source
            continue
        entries.append(f"{path.relative_to(source)}\0{stat.st_size}\0{stat.st_mtime_ns}")
    digest = hashlib.sha1("\n".join(entries).encode()).hexdigest()
    return {"files": len(entries), "bytes": sum(int(e.split("\0")[1]) for e in entries), "digest": digest}


def file_checksum(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def array_fingerprint(path: Path) -> ArrayFingerprint:
    """What an .npy file must stay: its array's shape and dtype, the file's size and checksum."""
    array = np.load(path, mmap_mode="r")
    return {
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "bytes": path.stat().st_size,
        "sha1": file_checksum(path),
    }


def array_problem(path: Path, expected: ArrayFingerprint, *, checksum: bool) -> str | None:
    """Why `path` is not the array it was written as, or None. Without `checksum` only the
    cheap checks run: the file is there at its size, with its shape and dtype in the header."""
    if not path.is_file():
        return f"{path.name} is missing"
    size = path.stat().st_size
    if size != expected["bytes"]:
        return f"{path.name} has {size:,} bytes, not {expected['bytes']:,}"
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        return f"{path.name} is not a readable array ({exc})"
    if list(array.shape) != expected["shape"] or str(array.dtype) != expected["dtype"]:
        return f"{path.name} holds {array.dtype} {list(array.shape)}, not {expected['dtype']} {expected['shape']}"
    if checksum and file_checksum(path) != expected["sha1"]:
        return f"{path.name} has other contents than were written (checksum differs)"
    return None
