"""A results folder on a disk that is full, or fills while a sweep runs (issue 26, classes 7
and 8), on a real small filesystem (a tmpfs of a few MB): one line and exit 2, no empty store
left behind, every epoch stored before the disk filled kept, and `--resume` finishing the sweep
once there is space again."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile import refused

from harness.cli.main import main
from harness.store.db import Store


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MB filesystem (tmpfs; the tests run as root, as CI does)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no byte left; it is removed to free the space again."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (65536, 4096, 1):  # big blocks, then what is left of the last one
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    with pytest.raises(OSError) as full:
        (disk / "probe").write_bytes(b"x" * 4096)
    assert full.value.errno == errno.ENOSPC
    return filler


def test_a_sweep_on_a_full_disk_is_one_line_and_leaves_no_empty_store(small_disk, capsys):
    fill(small_disk)
    results = small_disk / "results"
    err = refused(capsys, ["sweep", "--arch", "mlp", "--epochs", "1", "--no-export", "--results", str(results)])
    assert "cannot be written" in err or "No space left" in err
    assert not (results / "harness.db").exists()  # an empty file would read as a broken store later
    err = refused(capsys, ["leaderboard", "--results", str(results)])
    assert "no results store" in err


def _epochs_stored(db: Path) -> int:
    with (
        contextlib.suppress(sqlite3.Error),
        contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn,
    ):
        return conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
    return 0


@pytest.mark.slow
def test_a_disk_that_fills_mid_sweep_stops_it_in_one_line_and_resume_finishes_it(
    ray_session, small_disk, tmp_path, capsys
):
    results = small_disk / "results"
    argv = ["sweep", "--arch", "cnn_small", "--optimizer", "adam,momentum", "--lr", "0.01,0.003", "--epochs", "6"]
    argv += ["--no-export", "--no-live", "--results", str(results), "--storage", str(tmp_path / "ray")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 180
        while _epochs_stored(results / "harness.db") < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        filler = fill(small_disk)  # the store's next write finds no space
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "StoreUnwritten" not in err, err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "could not be written" in line and "--resume" in line, line
    with Store.existing(results) as store:  # what was stored before the disk filled stands
        before = {t["id"]: [e["epoch"] for e in store.epochs(t["id"])] for t in store._rows("SELECT id FROM trials")}
    assert sum(map(len, before.values())) >= 3
    assert all(epochs == list(range(1, len(epochs) + 1)) for epochs in before.values())

    os.unlink(filler)
    assert main(["sweep", "--resume", "--no-export", "--no-live", "--results", str(results)]) == 0
    with Store.existing(results) as store:
        assert store.sweep()["status"] == "finished"
        trials = store._rows("SELECT id, status FROM trials")
        assert len(trials) == 4 and {t["status"] for t in trials} == {"finished"}
        for t in trials:
            assert [e["epoch"] for e in store.epochs(t["id"])] == list(range(1, 7))  # each epoch once
