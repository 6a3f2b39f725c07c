"""Hostile input, class 4 (issue 13): no data lost by id. Trial ids are unique across sweeps, in
the store, the ONNX metadata and the export file names; Ray's short ids still name a trial where
they are unambiguous; a store of the last release is migrated row for row."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pytest
from hostile import refused
from realfiles import ROOT

from harness.cli.main import main
from harness.store.db import Store
from harness.store.schema import APPLICATION_ID, SCHEMA_VERSION

SCHEMA4 = ROOT / "tests" / "data" / "schema4-store.sql"  # written by the release before ids were qualified


def test_a_schema_4_store_of_the_last_release_is_upgraded_row_for_row(tmp_path, capsys):
    conn = sqlite3.connect(tmp_path / "harness.db")
    conn.executescript(SCHEMA4.read_text())
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    old = {
        t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("sweeps", "trials", "epochs", "exports")
    }
    old_ids = [r[0] for r in conn.execute("SELECT sweep_id || '.' || id FROM trials ORDER BY id")]
    conn.close()
    assert main(["sweeps", "--results", str(tmp_path), "--format", "json"]) == 0  # a read command upgrades it
    with Store.existing(tmp_path) as store:
        assert (
            store.counts() == {**old, "runtime_checks": 0, "probes": 0} and old["epochs"] == 5 and old["exports"] == 1
        )
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


@pytest.mark.slow
def test_ray_ids_that_repeat_across_sweeps_lose_nothing(ray_session, tmp_path, monkeypatch, capsys):
    """Tune names trials by a 5-hex prefix of uuid1: pin it, and two sweeps get the same ids."""
    fixed = uuid.UUID("12345678123456781234567812345678")
    monkeypatch.setattr(uuid, "uuid1", lambda *args, **kwargs: fixed)
    for lr in ("0.01", "0.02"):
        assert (
            main(
                [
                    "sweep",
                    "--arch",
                    "mlp",
                    "--optimizer",
                    "adam",
                    "--lr",
                    lr,
                    "--epochs",
                    "2",
                    "--no-live",
                    "--results",
                    str(tmp_path),
                ]
            )
            == 0
        )
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
