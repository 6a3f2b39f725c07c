"""Hostile input, class 3 (issue 13): a read command never writes, and no command opens a file
that is not a harness store; one driver per sweep, with a lock that dies with its holder."""

from __future__ import annotations

import contextlib
import hashlib
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from hostile import folder_state, refused

from harness.cli.main import main
from harness.errors import HarnessError
from harness.store.db import Store


@pytest.mark.parametrize("command", [["leaderboard"], ["sweeps"], ["show", "x"], ["compare", "uni2022-catsdogs"]])
def test_read_commands_leave_another_programs_database_alone(tmp_path, capsys, command):
    other = sqlite3.connect(tmp_path / "harness.db")
    other.executescript(
        "PRAGMA application_id = 1234; CREATE TABLE sweeps (x); CREATE TABLE notes (y);"
        "INSERT INTO notes VALUES ('mine');"
    )
    other.close()
    before = folder_state(tmp_path, strict=True)
    err = refused(capsys, [*command, "--results", str(tmp_path)])
    assert "an SQLite database of another program (application id 1234" in err
    assert folder_state(tmp_path, strict=True) == before  # not a byte, no -wal or -shm beside it


def test_an_empty_file_is_not_given_a_schema_by_a_read_command(tmp_path, capsys):
    (tmp_path / "harness.db").write_bytes(b"")
    assert "is empty, not a harness results store" in refused(capsys, ["leaderboard", "--results", str(tmp_path)])
    assert folder_state(tmp_path, strict=True) == {"harness.db": hashlib.sha256(b"").hexdigest()}
    (tmp_path / "harness.db").write_bytes(b"SQLite format 3\x00" + b"\x01" * 50)  # a header, then garbage
    assert "not an SQLite database" in refused(capsys, ["sweeps", "--results", str(tmp_path)])


@pytest.mark.slow
def test_resume_beside_a_live_driver_is_refused_and_after_sigkill_it_works(ray_session, tmp_path, capsys):
    # A subprocess: the live driver holding the lock must be another process, then killed without cleanup.
    cmd = [
        sys.executable,
        "-m",
        "harness",
        "sweep",
        "--arch",
        "cnn_small",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "60",
        "--no-export",
        "--no-live",
        "--results",
        str(tmp_path),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        epochs = 0
        while epochs < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            with contextlib.suppress(HarnessError):  # not there yet, or created but still empty
                with Store.existing(tmp_path) as store:
                    epochs = store.counts()["epochs"]
        assert epochs >= 2, proc.stderr.read() if proc.poll() is not None else "no epochs"
        err = refused(capsys, ["sweep", "--resume", "--results", str(tmp_path)])
        assert f"is running (pid {proc.pid} on host " in err
        with Store.existing(tmp_path) as store:
            assert store.sweep()["status"] == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    capsys.readouterr()
    code = main(["sweep", "--resume", "--no-live", "--no-export", "--results", str(tmp_path)])  # the lock died with it
    assert code == 0, capsys.readouterr().err
    with Store.existing(tmp_path) as store:
        (trial,) = store._rows("SELECT * FROM trials")
        assert store.sweep()["status"] == "finished" and trial["status"] == "finished"
        assert [e["epoch"] for e in store.epochs(trial["id"])] == list(range(1, 61))
