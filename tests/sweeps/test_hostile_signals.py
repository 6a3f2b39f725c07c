"""Hostile input, class 6 (issue 13): signals and budgets. A time budget is a normal end (status
finished, the board and the export as usual); SIGTERM, sent to a real driver, stops it as
Ctrl-C does (status and trials interrupted, exit 143) and `--resume` finishes the sweep."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from harness.cli.main import main
from harness.store.db import Store


@pytest.mark.slow
def test_a_time_budget_is_a_normal_end(ray_session, tmp_path, capsys):
    capsys.readouterr()
    code = main(
        [
            "sweep",
            "--arch",
            "mlp",
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
            "--epochs",
            "100000",
            "--time-budget",
            "20",
            "--no-live",
            "--format",
            "json",
            "--results",
            str(tmp_path),
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "finished" and out["trials"] == {"stopped": 1}
    assert out["leaderboards"][0]["rows"][0]["status"] == "stopped" and out["export"]["passed"]
    with Store.existing(tmp_path) as store:
        assert store.sweep()["status"] == "finished"


@pytest.mark.slow
def test_sigterm_stops_a_driver_like_ctrl_c_and_resume_finishes(ray_session, tmp_path, capsys):
    # A subprocess: the signal goes to a driver process while it trains; its exit code is the point.
    cmd = [
        sys.executable,
        "-m",
        "harness",
        "sweep",
        "--arch",
        "mlp",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "40",
        "--no-export",
        "--no-live",
        "--results",
        str(tmp_path),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, epochs = time.monotonic() + 120, 0
        while epochs < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            if (tmp_path / "harness.db").exists():
                with Store.existing(tmp_path) as store:
                    epochs = store.counts()["epochs"]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith("error: sweep ") and "--resume" in err
    assert "Traceback" not in err and "Fatal Python error" not in err  # no C stack dump
    with Store.existing(tmp_path) as store:
        (trial,) = store._rows("SELECT * FROM trials")
        assert store.sweep()["status"] == "interrupted" and trial["status"] == "interrupted"
        stored = len(store.epochs(trial["id"]))
    assert stored >= 2
    capsys.readouterr()
    assert main(["sweep", "--resume", "--no-live", "--no-export", "--results", str(tmp_path)]) == 0
    with Store.existing(tmp_path) as store:
        assert store.sweep()["status"] == "finished"
        assert [e["epoch"] for e in store.epochs(trial["id"])] == list(range(1, 41))  # every epoch exactly once
