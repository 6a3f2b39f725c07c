"""Exactly-once at scale: SIGKILL of the driver in the middle of 256 one-epoch trials, then
`harness sweep --resume`, re-planned from the store alone (harness.sweeps.resume): the trials
the store holds as finished never run again, the rest run once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from scalesweep import scale_argv

from harness.cli.main import main
from harness.store.db import Store
from harness.sweeps.callback import StoreCallback

N = 256


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # tables not created yet
    finally:
        conn.close()


def _trials(results: Path) -> dict[str, dict[str, Any]]:
    with Store.existing(results) as store:
        rows = store.conn.execute(
            "SELECT t.id, t.ray_id, t.status, t.ended_at, t.checkpoint_path, t.test_json, e.recorded_at,"
            " e.epoch_time_s, (SELECT COUNT(*) FROM epochs WHERE trial_id = t.id) AS epochs"
            " FROM trials t LEFT JOIN epochs e ON e.trial_id = t.id"
        ).fetchall()
    return {r["id"]: dict(r) for r in rows}


@pytest.mark.slow
def test_a_killed_256_trial_sweep_resumes_with_every_trial_once(ray_session, tmp_path, monkeypatch):
    results = tmp_path / "results"
    db = results / "harness.db"
    cmd = [sys.executable, "-m", "harness.cli.main", *scale_argv(N, results)]
    # Its own process group: the Ray instance the driver starts is cleaned up after the kill.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _count(db, "SELECT COUNT(*) FROM trials WHERE status = 'finished'") < 64:
            assert time.monotonic() < deadline and proc.poll() is None, "the sweep did not get going"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)  # mid-sweep, no handler, no cleanup
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    before = _trials(results)
    finished = {i: t for i, t in before.items() if t["status"] == "finished"}
    assert 64 <= len(finished) < N

    # What the resumed driver hears from trials the store held as finished: nothing.
    heard: dict[str, list[dict[str, Any]]] = {}
    original = StoreCallback.on_trial_result

    def listen(self: StoreCallback, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        heard.setdefault(self._id(trial), []).append(result)
        original(self, iteration, trials, trial, result, **info)

    monkeypatch.setattr(StoreCallback, "on_trial_result", listen)
    assert main(["sweep", "--resume", "--no-export", "--no-live", "--results", str(results)]) == 0

    after = _trials(results)
    assert len(after) == N and set(before) <= set(after)
    assert {t["status"] for t in after.values()} == {"finished"}
    assert {t["epochs"] for t in after.values()} == {1}  # every trial's one epoch, once
    for trial_id, old in finished.items():  # not retrained, not restored, not rewritten
        assert after[trial_id] == old, trial_id
        assert trial_id not in heard, trial_id
    assert all(Path(t["checkpoint_path"]).is_dir() for t in after.values())
    print(f"\n{len(finished)} trials finished before the kill; {N - len(finished)} ran on resume")
    with Store.existing(results) as store:
        assert store.sweep()["status"] == "finished"
