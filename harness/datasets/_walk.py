"""One way to walk a data folder: every file under it, each once, never following a link to a
folder. A link to a folder can lead out of the tree or back into it (two links pointing at each
other's parents make an endless walk); a link to a file inside the tree is read like the file.
The fingerprint (_fingerprint.py), the class folders (_images.py) and the folder task (folder.py)
all walk with these, so what is fingerprinted is what is decoded."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def subfolders(folder: Path) -> list[Path]:
    """The real folders directly in `folder` (not links to folders), sorted by name."""
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))


def files_under(folder: Path) -> Iterator[Path]:
    """Every non-folder entry under `folder` (files, links to files, FIFOs: callers check what
    they read), each folder's names sorted, so the order never depends on the OS; `folder`
    itself may be a link."""
    for top, dirs, files in os.walk(folder, followlinks=False):
        # os.walk lists a link to a folder among `dirs` and does not enter it: it is not a file either
        dirs.sort()
        yield from (Path(top) / name for name in sorted(files))
