"""Hostile input, class 6 (issue 26): no command hangs on a file or does unbounded work for one.
A FIFO or a device named like an image, links that loop in a data folder, a gzip that inflates
far past its header, a rows file that is a FIFO or gigabytes long. Each command runs in a
subprocess under a timeout: it finishes, and either proceeds safely or exits 2 with one line."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from realfiles import write_idx, write_image, write_mnist
from tinymodel import write_tiny_model

from harness.datasets.mnist import MAX_IDX_BYTES

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 90  # each case ends in seconds; before the fixes predict and the data walk never ended


def harness(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m harness ARGV` with its own cache folder; a hang fails the test at TIMEOUT_S."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run(
        [sys.executable, "-m", "harness", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    return proc.stderr


def test_predict_skips_fifos_and_devices_named_like_images(tmp_path):
    model = write_tiny_model(tmp_path / "m.onnx")
    folder = tmp_path / "images"
    write_image(folder / "real.png", mode="L", size=(8, 8))
    os.mkfifo(folder / "inside.png")  # found by expanding the folder
    os.mkfifo(tmp_path / "given.png")  # named on the command line
    (folder / "zero.png").symlink_to("/dev/zero")  # our own case: a device that never ends
    proc = harness("predict", str(model), str(folder), str(tmp_path / "given.png"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    by_name = {Path(p["path"]).name: p for p in json.loads(proc.stdout)}
    assert by_name["real.png"]["top"] and by_name["real.png"]["error"] is None
    fifo = "unreadable image: a FIFO, not a regular file"
    assert by_name["inside.png"]["error"] == by_name["given.png"]["error"] == fifo
    assert by_name["zero.png"]["error"] == "unreadable image: a character device, not a regular file"
    assert "skipped 3 unreadable file(s)" in proc.stderr and "Traceback" not in proc.stderr


def _photo_folder(root: Path) -> Path:
    for name in ("cats", "dogs"):
        for i in range(6):
            write_image(root / name / f"{i}.png", size=(20, 20))
    return root


def test_a_data_folder_with_link_loops_a_fifo_and_a_link_out_is_walked_once(tmp_path):
    data = _photo_folder(tmp_path / "data")
    (data / "cats" / "loop").symlink_to("..")  # back to the top: an endless walk when followed
    (data / "dogs" / "up").symlink_to("../..")  # out of the tree and into it again
    os.mkfifo(data / "cats" / "fifo.png")
    elsewhere = _photo_folder(tmp_path / "elsewhere")
    (data / "birds").symlink_to(elsewhere / "cats")  # our own case: a class folder that leads out
    proc = harness("data", "prepare", f"folder:{data}", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["classes"] == 2 and sum(row["counts"].values()) == 12  # the 12 real images, each once
    assert set(row["per_class"]["train"]) == {"cats", "dogs"}
    again = harness("data", "prepare", f"folder:{data}", "--format", "json", cwd=tmp_path)
    assert again.returncode == 0 and "rebuilt" not in again.stderr  # the fingerprint is stable


def _bomb(path: Path, *, inflated: int) -> None:
    """A gzip of many members (each 16 MiB of zeros) whose IDX header declares MNIST's 47 MB:
    about 3 MB on disk per 3 GiB inflated; written in a second, never inflated here."""
    header = bytes([0, 0, 0x08, 3]) + b"".join(d.to_bytes(4, "big") for d in (60000, 28, 28))
    member = gzip.compress(bytes(16 << 20), compresslevel=9)
    with open(path, "wb") as f:
        f.write(gzip.compress(header))
        for _ in range(inflated // (16 << 20)):
            f.write(member)


def test_a_gzipped_idx_bomb_is_refused_after_its_declared_size(tmp_path):
    raw = tmp_path / "data" / "mnist" / "MNIST" / "raw"
    write_mnist(raw, gz=True)
    bomb = raw / "train-images-idx3-ubyte.gz"
    _bomb(bomb, inflated=3 << 30)
    assert bomb.stat().st_size < 8 << 20
    err = one_line_error(harness("data", "prepare", "mnist", "--data-dir", str(tmp_path / "data"), cwd=tmp_path))
    assert str(bomb) in err and "declares 47,040,000 bytes of data, it holds more" in err


def test_an_idx_header_declaring_gigabytes_is_refused_before_reading(tmp_path):
    """Our own case: a raw file whose header declares more than any MNIST file could hold."""
    raw = tmp_path / "data" / "mnist" / "MNIST" / "raw"
    write_mnist(raw, gz=False)
    labels = raw / "t10k-labels-idx1-ubyte"
    write_idx(labels, np.zeros(20), gz=False)
    labels.write_bytes(bytes([0, 0, 0x08, 1]) + (MAX_IDX_BYTES + 1).to_bytes(4, "big") + bytes(20))
    err = one_line_error(harness("data", "prepare", "mnist", "--data-dir", str(tmp_path / "data"), cwd=tmp_path))
    assert str(labels) in err and f"more than {MAX_IDX_BYTES:,}" in err


def _sparse(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)  # no blocks written: a huge file in no time and no space


@pytest.mark.parametrize(
    ("make", "expected"),
    [(os.mkfifo, "is a FIFO, not a regular file"), (lambda p: _sparse(p, 300 << 20), "more than the")],
    ids=["fifo", "300MB"],
)
def test_a_rows_file_that_is_a_fifo_or_huge_is_one_line(tmp_path, make, expected):
    rows = tmp_path / "rows.json"
    make(rows)
    err = one_line_error(harness("report", "--from", str(rows), "--out", str(tmp_path / "r.md"), cwd=tmp_path))
    assert expected in err and not (tmp_path / "r.md").exists()


def test_a_sweep_file_that_is_a_fifo_is_one_line(tmp_path):
    """Our own case: a FIFO named like a sweep file, refused before anything reads it."""
    os.mkfifo(tmp_path / "sweep.toml")
    err = one_line_error(harness("sweep", "--config", str(tmp_path / "sweep.toml"), cwd=tmp_path))
    assert "sweep.toml' is a FIFO, not a regular file" in err and not (tmp_path / "results").exists()


def test_a_fifo_at_the_store_or_the_readme_is_one_line(tmp_path):
    """Review's cases: a FIFO named harness.db (which `sweep` reads the header of before it opens
    the store) and a FIFO given as `report --readme`."""
    (tmp_path / "results").mkdir()
    os.mkfifo(tmp_path / "results" / "harness.db")
    err = one_line_error(harness("sweep", "--no-export", "--results", str(tmp_path / "results"), cwd=tmp_path))
    assert "harness.db' is a FIFO, not a regular file" in err
    os.mkfifo(tmp_path / "README.md")
    rows = str(ROOT / "docs" / "reproduction.json")
    argv = ["report", "--from", rows, "--out", str(tmp_path / "r.md"), "--readme", str(tmp_path / "README.md")]
    assert "README.md' is a FIFO, not a regular file" in one_line_error(harness(*argv, cwd=tmp_path))
