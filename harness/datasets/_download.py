"""Online sources: torchvision for CIFAR-10 / MNIST / Fashion-MNIST, kagglehub for the Kaggle sets.

Only ever called when a task's files are absent and HARNESS_OFFLINE is not set. Every failure
(no network, no Kaggle credentials, a read-only data root) becomes one MissingData line that
says which layout to put where and how to download it by hand.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ._registry import MissingData, Request


def offline() -> bool:
    return os.environ.get("HARNESS_OFFLINE", "") not in ("", "0")


def torchvision_download(dataset: str, folder: str) -> Callable[[Path, object], None]:
    """download(root, request): torchvision.datasets.<dataset>(root/folder, download=True)."""

    def download(root: Path, _request: object) -> None:
        import torchvision.datasets

        cls = getattr(torchvision.datasets, dataset)
        for train in (True, False):
            cls(str(root / folder), train=train, download=True)

    return download


def kaggle_download(handle: str, folder: str) -> Callable[[Path, object], None]:
    """download(root, request): kagglehub.dataset_download(handle), linked as root/folder.

    kagglehub keeps its own cache (~/.cache/kagglehub); a symlink avoids a second copy.
    """

    def download(root: Path, _request: object) -> None:
        import kagglehub

        path = Path(kagglehub.dataset_download(handle))
        root.mkdir(parents=True, exist_ok=True)
        link = root / folder
        if not link.exists():
            link.symlink_to(path, target_is_directory=True)

    return download


def fetch(download: Callable[[Path, Request], None] | None, root: Path, request: Request, missing: MissingData) -> None:
    """Run `download`, or raise `missing` (offline, no downloader, or the download failed)."""
    if download is None or offline():
        raise missing
    before = _entries(root)
    try:
        download(root, request)
    except Exception as exc:  # network, credentials, disk: all end in the same instructions
        _remove_empty_new(root, before)  # a failed download leaves no empty dataset folders behind
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise MissingData(f"{missing.message}; the download failed ({reason})", missing.hint) from exc


def _entries(root: Path) -> set[Path] | None:
    """What the data root holds before a download (None: no root yet)."""
    return set(root.rglob("*")) if root.is_dir() else None


def _remove_empty_new(root: Path, before: set[Path] | None) -> None:
    """Remove the folders a failed download created and left empty, deepest first; files and
    anything that was there before stay."""
    if not root.is_dir():
        return
    created = [p for p in root.rglob("*") if p.is_dir() and (before is None or p not in before)]
    for folder in sorted(created, key=lambda p: len(p.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    if before is None and not any(root.iterdir()):
        root.rmdir()
