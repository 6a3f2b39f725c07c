"""`harness reproduce` (issue 12): every recipe's data checked before anything trains, recipes
side by side in one Tuner on one Ray instance, rows printed even when interrupted, quick checks
marked, and `--resume` finishing the run from the store (no pickle read) with every epoch stored exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import plant_pickles

from harness.cli.main import main
from harness.store.db import Store

REPORT = "itesm2022-catsdogs"  # recipes 3 and 4 need split B, which the offline copy cannot give


def test_a_reproduction_with_missing_data_is_refused_before_anything_runs(tmp_path, shared_data, capsys):
    cache = Path(os.environ["HARNESS_CACHE_DIR"])
    before = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    results = tmp_path / "results"
    assert main(["reproduce", REPORT, "--data-dir", str(shared_data), "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data missing for 2 of 4 recipes, first 'model 3 (split B)'" in err
    assert "--skip-missing" in err and str(shared_data) in err
    assert not results.exists()  # no store, nothing trained
    assert (sorted(p.name for p in cache.iterdir()) if cache.exists() else []) == before  # nothing decoded either


def _both_running(db: Path) -> bool:
    if not db.exists():
        return False
    conn = sqlite3.connect(db, timeout=30)
    try:
        running = conn.execute("SELECT COUNT(*) FROM trials WHERE status = 'running'").fetchone()[0]
        trained = conn.execute("SELECT COUNT(DISTINCT trial_id) FROM epochs").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return False
    finally:
        conn.close()
    return running == 2 and trained == 2


@pytest.mark.slow
def test_recipes_run_side_by_side_print_their_rows_when_interrupted_and_resume(
    ray_session, tmp_path, shared_data, capsys
):
    results = tmp_path / "results"
    # A subprocess: Ctrl-C (SIGINT) goes to a running driver, and its exit code and output are the point.
    cmd = [
        sys.executable,
        "-m",
        "harness",
        "reproduce",
        REPORT,
        "--skip-missing",
        "--epochs",
        "6",  # model 1's epochs are 100 batches of 32 (its report's steps_per_epoch): both run at once
        "--train-limit",
        "64",
        "--data-dir",
        str(shared_data),
        "--results",
        str(results),
        "--no-live",
        "--format",
        "json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen_together = False
    try:
        deadline = time.monotonic() + 240
        while not seen_together and proc.poll() is None and time.monotonic() < deadline:
            seen_together = _both_running(results / "harness.db")  # one Ray, both recipes training at once
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seen_together, err
    assert proc.returncode == 130, err
    assert f"`harness reproduce {REPORT} --resume` continues it" in err.strip().splitlines()[-1]
    rows = json.loads(out)  # the table of what finished is printed even so
    assert [r["recipe"] for r in rows] == [
        "model 1 (64 px, split A)",
        "model 2 (split A)",
        "model 3 (split B)",
        "model 4 (split B)",
    ]
    assert [r["status"] for r in rows[2:]] == ["not run: data missing"] * 2 and "split B" not in rows[0]["status"]
    assert all("cats vs dogs (B) not found" in r["missing"] for r in rows[2:])
    assert {r["status"] for r in rows[:2]} == {"interrupted"}
    with Store.existing(results) as store:
        (sweep,) = store._rows("SELECT * FROM sweeps")
        assert sweep["status"] == "interrupted" and sweep["task"] == "cats_vs_dogs"
        stored = {t["id"]: len(store.epochs(t["id"])) for t in store._rows("SELECT id FROM trials")}
    assert len(stored) == 2 and all(n >= 1 for n in stored.values())

    marker = tmp_path / "planted-code-ran"
    assert plant_pickles(results / "ray", marker) >= 1  # a resume reads no pickle Ray saved
    capsys.readouterr()
    assert main(["reproduce", REPORT, "--resume", "--results", str(results), "--no-live", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert not marker.exists()
    finished = rows[:2]
    assert all(r["status"] == "finished" and r["quick_check"] == "subset 64, 6 of 25 epochs" for r in finished)
    assert all(r["ours"] is not None and r["ours_test"] is not None for r in finished)
    assert [r["status"] for r in rows[2:]] == ["not run: data missing"] * 2
    with Store.existing(results) as store:
        assert store.sweep()["status"] == "finished"
        for trial in store._rows("SELECT id FROM trials"):
            assert [e["epoch"] for e in store.epochs(trial["id"])] == list(range(1, 7))  # each epoch exactly once


def test_recipe_runs_only_the_recipes_named(ray_session, tmp_path, shared_data, capsys):
    results = tmp_path / "results"
    flags = ["--epochs", "1", "--train-limit", "64", "--data-dir", str(shared_data), "--no-export", "--no-live"]
    argv = ["reproduce", REPORT, "--recipe", "MODEL 1 (64 px, split A)", *flags]
    capsys.readouterr()
    assert main([*argv, "--results", str(results), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["recipe"] for r in rows] == ["model 1 (64 px, split A)"] and rows[0]["status"] == "finished"
    with Store.existing(results) as store:
        (trial,) = store._rows("SELECT id, config_json FROM trials")
        (epoch,) = store.epochs(trial["id"])
    config = json.loads(trial["config_json"])
    assert config["recipe"] == "model 1 (64 px, split A)" and config["steps_per_epoch"] == 100
    # its report's fit(): 100 batches of 32 an epoch, drawn from passes over the 64 images
    assert epoch["samples_per_s"] * epoch["epoch_time_s"] == pytest.approx(100 * 32)

    # a label the report does not have: one line naming the labels, nothing written
    elsewhere = tmp_path / "elsewhere"
    assert main(["reproduce", REPORT, "--recipe", "model 9", "--results", str(elsewhere)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no recipe 'model 9'" in err and "'model 2 (split A)'" in err
    assert not elsewhere.exists()
    # --resume continues a reproduction as it was started: no --recipe beside it
    assert main(["reproduce", REPORT, "--resume", "--recipe", "x", "--results", str(results)]) == 2
    assert "--resume continues a reproduction as it was started" in capsys.readouterr().err
