"""Checks shared by the hostile-input tests: a refused command is one line, exit 2, no
traceback, and it left the files it was pointed at as they were. (On the test path through
`pythonpath` in pyproject.toml.)"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

from harness.cli.main import main


def refused(capsys: Any, argv: list[str], *, code: int = 2) -> str:
    """Run the CLI in-process; assert it exits with `code`, prints nothing on stdout and one
    `error:` line without a traceback on stderr; return that line."""
    capsys.readouterr()
    assert main(argv) == code, argv
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def folder_state(folder: Path, *, strict: bool = False) -> dict[str, str]:
    """Every file under `folder` by its bytes. Unless `strict`, SQLite's shared-memory index and
    an empty write-ahead log, which any reader of a store may create, are not content."""

    def counts(p: Path) -> bool:
        return strict or not (p.name.endswith("-shm") or (p.name.endswith("-wal") and p.stat().st_size == 0))

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and counts(p)
    }


class Planted:
    """A pickle that runs a shell command when loaded: what anyone who can write a shared
    results folder could leave there for the next `--resume`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def plant_pickles(ray_dir: Path, marker: Path) -> int:
    """Every pickle Ray saved replaced by a planted one (and a tuner.pkl where none was);
    Tune's experiment state (JSON) deleted: a resume must need neither."""
    planted = pickle.dumps(Planted(marker))
    pickles = set(ray_dir.rglob("*.pkl")) | {folder / "tuner.pkl" for folder in ray_dir.iterdir() if folder.is_dir()}
    for path in pickles:
        path.write_bytes(planted)
    for state in ray_dir.rglob("experiment_state*.json"):
        state.unlink()
    return len(pickles)
