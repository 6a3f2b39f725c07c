"""Hostile input, classes 3 and 4 (issue 13): a read command never writes, and never opens a
file that is not a harness store; one driver per sweep; trial ids unique across sweeps, in the
store, the ONNX metadata and the export file names, with old stores migrated row for row."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from harness.cli import main
from hostile import folder_state, refused
from harness.schema import APPLICATION_ID, SCHEMA_VERSION
from harness.store import Store

SCHEMA4 = Path(__file__).parent / "data" / "schema4-store.sql"  # written by the release before ids were qualified


@pytest.mark.parametrize("command", [["leaderboard"], ["sweeps"], ["show", "x"], ["compare", "uni2022-catsdogs"]])
def test_read_commands_leave_another_programs_database_alone(tmp_path, capsys, command):
    other = sqlite3.connect(tmp_path / "harness.db")
    other.executescript("PRAGMA application_id = 1234; CREATE TABLE sweeps (x); CREATE TABLE notes (y);"
                        "INSERT INTO notes VALUES ('mine');")  # fmt: skip
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


def test_a_schema_4_store_of_the_last_release_is_upgraded_row_for_row(tmp_path, capsys):
    conn = sqlite3.connect(tmp_path / "harness.db")
    conn.executescript(SCHEMA4.read_text())
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    old = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("sweeps", "trials", "epochs", "exports")}
    old_ids = [r[0] for r in conn.execute("SELECT sweep_id || '.' || id FROM trials ORDER BY id")]
    conn.close()
    assert main(["sweeps", "--results", str(tmp_path), "--format", "json"]) == 0  # a read command upgrades it
    with Store.existing(tmp_path) as store:
        assert store.counts() == old and old["epochs"] == 5 and old["exports"] == 1
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        trials = store._rows("SELECT id, ray_id FROM trials ORDER BY id")
        assert sorted(t["id"] for t in trials) == sorted(old_ids)
        assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert {e["trial_id"] for e in store._rows("SELECT trial_id FROM epochs")} <= {t["id"] for t in trials}
        (export,) = store._rows("SELECT trial_id FROM exports")
        assert export["trial_id"] in old_ids
    short = trials[0]["ray_id"]  # the old short id still names its trial
    capsys.readouterr()
    assert main(["show", short, "--results", str(tmp_path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["trial"]["id"] == trials[0]["id"]


def test_ray_ids_that_repeat_across_sweeps_lose_nothing(ray_session, tmp_path, monkeypatch, capsys):
    """Tune names trials by a 5-hex prefix of uuid1: pin it, and two sweeps get the same ids."""
    fixed = uuid.UUID("12345678123456781234567812345678")
    monkeypatch.setattr(uuid, "uuid1", lambda *args, **kwargs: fixed)
    for lr in ("0.01", "0.02"):
        assert main(["sweep", "--arch", "mlp", "--optimizer", "adam", "--lr", lr, "--epochs", "2", "--no-live",
                     "--results", str(tmp_path)]) == 0  # fmt: skip
    with Store.existing(tmp_path) as store:
        trials = store._rows("SELECT * FROM trials ORDER BY started_at")
        assert len(trials) == 2 and trials[0]["ray_id"] == trials[1]["ray_id"] == "12345_00000"
        assert trials[0]["id"] != trials[1]["id"] and [t["lr"] for t in trials] == [0.01, 0.02]
        assert [len(store.epochs(t["id"])) for t in trials] == [2, 2]  # neither sweep overwrote the other
        assert all(json.loads(t["test_json"])["acc"] > 0 for t in trials)
        exports = store._rows("SELECT trial_id, path FROM exports ORDER BY id")
    assert [x["trial_id"] for x in exports] == [t["id"] for t in trials]
    assert len({x["path"] for x in exports}) == 2 and all(Path(x["path"]).is_file() for x in exports)
    assert all(t["id"] in x["path"] for t, x in zip(trials, exports))  # file names carry the unique id
    err = refused(capsys, ["show", "12345_00000", "--results", str(tmp_path)])
    assert "names 2 trials of different sweeps" in err and "pass the full id" in err
    for trial in trials:
        capsys.readouterr()
        assert main(["show", trial["id"], "--results", str(tmp_path), "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["trial"]["lr"] == trial["lr"]


def test_resume_beside_a_live_driver_is_refused_and_after_sigkill_it_works(ray_session, tmp_path, capsys):
    cmd = [sys.executable, "-m", "harness", "sweep", "--arch", "cnn_small", "--optimizer", "adam", "--lr", "0.01",
           "--epochs", "60", "--no-export", "--no-live", "--results", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        epochs = 0
        while epochs < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            if (tmp_path / "harness.db").exists():
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
