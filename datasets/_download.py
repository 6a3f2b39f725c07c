"""Online sources: torchvision for CIFAR-10 / MNIST / Fashion-MNIST, kagglehub for the Kaggle sets.

Only ever called when a task's files are absent and HARNESS_OFFLINE is not set. Every failure
(no network, no Kaggle credentials, a read-only data root) becomes one MissingData line that
says which layout to put where and how to download it by hand.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ._registry import MissingData


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


def fetch(download: Callable[[Path, object], None] | None, root: Path, request: object, missing: MissingData) -> None:
    """Run `download`, or raise `missing` (offline, no downloader, or the download failed)."""
    if download is None or offline():
        raise missing
    try:
        download(root, request)
    except Exception as exc:  # network, credentials, disk: all end in the same instructions
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise MissingData(f"{missing.message}; the download failed ({reason})", missing.hint) from exc
