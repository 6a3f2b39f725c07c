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
from harness.imagefile import read_image

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def image_files(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted (so the order, and the split, never depends on the OS)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def decode_image(path: Path, size: int) -> np.ndarray | None:
    """(3, size, size) uint8, or None when the file is not a readable image."""
    from PIL import Image

    try:
        return read_image(path, width=size, height=size)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        # OSError covers truncated files and "cannot identify image file"; bombs raise their own error.
        return None


def decode_files(paths: list[Path], size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images (N, 3, size, size), kept mask over `paths`, skipped paths)."""
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        decoded = list(pool.map(lambda p: decode_image(p, size), paths, chunksize=64))
    kept = np.array([d is not None for d in decoded], dtype=bool)
    images = np.stack([d for d in decoded if d is not None]) if kept.any() else np.zeros((0, 3, size, size), np.uint8)
    return images, kept, [str(p) for p, ok in zip(paths, kept) if not ok]


def decode_labelled(files: list[tuple[Path, int]], size: int, classes: tuple[str, ...], where: Path
                    ) -> tuple[np.ndarray, np.ndarray, list[str]]:  # fmt: skip
    """Decode (path, class) pairs; refuse a class none of whose files could be read."""
    paths = [p for p, _ in files]
    labels = np.array([c for _, c in files], dtype=np.int64)
    images, kept, skipped = decode_files(paths, size)
    present = set(labels[kept].tolist())
    for c, name in enumerate(classes):
        if c not in present:
            raise HarnessError(f"no readable image of class {name!r} under {where}", "check that class's folder")
    return images, labels[kept], skipped


def folder_of_classes(folder: Path, names: dict[str, int]) -> list[tuple[Path, int]]:
    """(file, class) for class sub-folders named as in `names` (case-insensitive, e.g. cats/Cat)."""
    files = []
    for sub in class_folders(folder):
        label = names.get(sub.name.lower())
        if label is not None:
            files += [(p, label) for p in image_files(sub)]
    return files
