"""Image folders -> uint8 arrays, decoded once, in threads (Pillow releases the GIL while decoding).

Real photo sets are messy: truncated JPEGs, empty files, text saved as .jpg, CMYK, greyscale,
palette and alpha images, decompression bombs, `.DS_Store`. Readable images are converted to
RGB; unreadable ones are skipped and counted; files without an image extension are ignored.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.imagefile import UnreadableImage, read_image

from ._walk import subfolders

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def image_files(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted (so the order, and the split, never depends on the OS)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def class_folders(folder: Path) -> list[Path]:
    """The folders in `folder`, hidden ones and links to folders left out (_walk.py says why)."""
    return [p for p in subfolders(folder) if not p.name.startswith(".")]


def decode_image(path: Path, size: int) -> np.ndarray | None:
    """(3, size, size) uint8, or None when the file is not a whole, readable image (truncated,
    corrupt, not an image, a bomb: read_image judges, for predict too)."""
    try:
        return read_image(path, width=size, height=size)
    except UnreadableImage:
        return None


def available_memory() -> int | None:
    """Bytes of memory the kernel says are available (Linux), or None where it does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


PEAK_COPIES = 2.2  # the decoded array, the splits cut from it, and Pillow's working images


def check_memory(count: int, size: int, channels: int = 3) -> None:
    """Refuse, before decoding, a decode whose peak would not fit in the memory available: say
    which image size does. (Decoding keeps the images and the splits cut from them in memory.)"""
    available = available_memory()
    need = count * channels * size * size * PEAK_COPIES
    if available is None or need <= 0.8 * available:
        return
    fits = int((0.8 * available / (count * channels * PEAK_COPIES)) ** 0.5)
    raise HarnessError(
        f"decoding {count:,} images at {size} px needs about {need / 2**30:.1f} GiB of memory; "
        f"{available / 2**30:.1f} GiB is available",
        f"pass --image-size {fits} or less",
    )


def decode_files(paths: list[Path], size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images (N, 3, size, size), kept mask over `paths`, skipped paths). Each image is decoded
    straight into one preallocated array (no list of copies), after a check that it fits."""
    check_memory(len(paths), size)
    images = np.empty((len(paths), 3, size, size), dtype=np.uint8)

    def decode_into(i: int) -> bool:
        decoded = decode_image(paths[i], size)
        if decoded is not None:
            images[i] = decoded
        return decoded is not None

    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        kept = np.fromiter(pool.map(decode_into, range(len(paths)), chunksize=64), dtype=bool, count=len(paths))
    count = 0
    for i in np.flatnonzero(kept):  # close the gaps of skipped files in place: no second copy
        if i != count:
            images[count] = images[i]
        count += 1
    return images[:count], kept, [str(p) for p, ok in zip(paths, kept) if not ok]


def decode_labelled(
    files: list[tuple[Path, int]], size: int, classes: tuple[str, ...], where: Path
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode (path, class) pairs; refuse a class none of whose files could be read."""
    paths = [p for p, _ in files]
    labels = np.array([c for _, c in files], dtype=np.int64)
    images, kept, skipped = decode_files(paths, size)
    present = set(labels[kept].tolist())
    for c, name in enumerate(classes):
        if c not in present:
            raise HarnessError(
                f"no readable image of class {name!r} under {where}",
                "check that class's folder; for classes of your own, pass --task folder:PATH",
            )
    return images, labels[kept], skipped


def unknown_class_folders(folder: Path, names: dict[str, int]) -> str | None:
    """A note naming `folder`'s sub-folders that are no class of the task (None: there are none):
    their images are left out, and the user is told so."""
    unknown = [sub.name for sub in class_folders(folder) if sub.name.lower() not in names]
    return f"{folder}: ignored folder(s) that are no class of the task: {', '.join(unknown)}" if unknown else None


def folder_of_classes(folder: Path, names: dict[str, int]) -> list[tuple[Path, int]]:
    """(file, class) for class sub-folders named as in `names` (case-insensitive, e.g. cats/Cat)."""
    files = []
    for sub in class_folders(folder):
        label = names.get(sub.name.lower())
        if label is not None:
            files += [(p, label) for p in image_files(sub)]
    return files
