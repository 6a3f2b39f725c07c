"""Each trial's device, Ray's GPU ids and its precision: stored from its first reported epoch
(schema 6), printed by `harness show`, and shown by the leaderboard (compactly in tables, in
full in JSON and CSV). A store of schema 5 upgrades to them. No Ray: the driver's writes are
made directly, as bigstore does."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.config.spec import TrialSpec
from harness.engine.reported import EpochReport, Where
from harness.kinds import Status
from harness.store.db import Store
from harness.store.schema import PROBES, RUNTIME_CHECKS, SCHEMA, SCHEMA_VERSION
from harness.views.leaderboard import device_label

SWEEP = "20260101-000000-abcd"
H200: Where = {"device": "cuda:0 NVIDIA H200", "gpu_ids": ["1"], "precision": "bf16"}
CPU: Where = {"device": "cpu AMD EPYC 7B13", "gpu_ids": [], "precision": "fp32"}


def _epoch(epoch: int, acc: float, where: Where) -> EpochReport:
    return {
        "epoch": epoch,
        "train_loss": 1.0,
        "train_acc": acc,
        "val_loss": 1.0,
        "val_acc": acc,
        "epoch_time_s": 0.5,
        "eval_time_s": 0.1,
        "samples_per_s": 1000.0,
        "best_epoch": epoch,
        **where,
    }


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Two digits trials, one on a GPU (whose second epoch claims another device: the first
    stays), one on the CPU, and one that failed before its first epoch."""
    with Store.create(tmp_path) as store:
        store.create_sweep(
            sweep_id=SWEEP, task="digits", seed=0, command="harness sweep", spec_json="{}", environment={}
        )
        for ray_id, arch, epochs in (
            ("a_00000", "mlp", [H200, CPU]),
            ("b_00001", "cnn_small", [CPU]),
            ("c_00002", "mlp", []),
        ):
            config = TrialSpec(
                task="digits", epochs=2, arch=arch, optimizer="adam", lr=0.01, batch_size=64, seed=0
            ).config()
            trial = store.start_trial(trial_id=ray_id, sweep_id=SWEEP, config=config)
            for n, where in enumerate(epochs, start=1):
                store.record_epoch(trial_id=trial, result=_epoch(n, 0.5 + 0.1 * n + 0.2 * (arch == "mlp"), where))
            failed = not epochs
            store.end_trial(
                trial,
                status=Status.ERROR if failed else Status.FINISHED,
                error="HarnessError: this trial was given GPU 0 by Ray, but CUDA does not work" if failed else None,
            )
    return tmp_path


def test_the_first_epoch_says_where_a_trial_ran(results):
    with Store.existing(results) as store:
        rows = {r["ray_id"]: r for r in store._rows("SELECT * FROM trials")}
    assert (rows["a_00000"]["device"], rows["a_00000"]["gpu_ids"], rows["a_00000"]["precision"]) == (
        "cuda:0 NVIDIA H200",
        '["1"]',
        "bf16",
    )
    assert (rows["b_00001"]["device"], rows["b_00001"]["gpu_ids"]) == ("cpu AMD EPYC 7B13", "[]")
    assert rows["c_00002"]["device"] is rows["c_00002"]["gpu_ids"] is rows["c_00002"]["precision"] is None


def test_show_prints_the_device(results, capsys):
    capsys.readouterr()
    assert main(["show", "a_00000", "--results", str(results), "--format", "json"]) == 0
    trial = json.loads(capsys.readouterr().out)["trial"]
    assert (trial["device"], trial["gpu_ids"], trial["precision"]) == ("cuda:0 NVIDIA H200", ["1"], "bf16")
    assert main(["show", "c_00002", "--results", str(results), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["trial"]["gpu_ids"] is None
    assert main(["show", "a_00000", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "cuda:0 NVIDIA H200" in out and "bf16" in out and "the driver's machine" in out


@pytest.mark.parametrize(
    ("device", "precision", "label"),
    [
        ("cuda:0 NVIDIA H200", "bf16", "H200 bf16"),
        ("cuda:1 NVIDIA GeForce RTX 4090", "bf16", "RTX 4090 bf16"),
        ("cuda:0 Tesla V100-SXM2-16GB", "fp16", "V100-SXM2-16GB fp16"),
        ("cpu Intel(R) Xeon(R) CPU @ 2.20GHz", "fp32", "cpu fp32"),
        ("fake GPU 1 (trained on cpu AMD EPYC 7B13)", "fp32", "fake GPU 1 fp32"),
        ("cpu AMD EPYC", None, "cpu"),
        (None, None, "-"),
    ],
)
def test_the_device_label_is_compact(device, precision, label):
    assert device_label(device, precision) == label


def test_the_leaderboard_shows_the_device(results, capsys):
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(results), "--format", "json"]) == 0
    rows = {r["trial"]: r for r in json.loads(capsys.readouterr().out)[0]["rows"]}
    assert (rows["a_00000"]["device"], rows["a_00000"]["gpu_ids"], rows["a_00000"]["precision"]) == (
        "cuda:0 NVIDIA H200",
        ["1"],
        "bf16",
    )
    assert rows["b_00001"]["gpu_ids"] == [] and rows["c_00002"]["device"] is None
    assert main(["leaderboard", "--results", str(results), "--format", "csv"]) == 0
    table = {r["trial_id"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert table[f"{SWEEP}.a_00000"]["gpu_ids"] == "1" and table[f"{SWEEP}.a_00000"]["device"] == "cuda:0 NVIDIA H200"
    assert main(["leaderboard", "--results", str(results), "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| device |" in markdown and "| H200 bf16 |" in markdown and "| cpu fp32 |" in markdown
    assert main(["leaderboard", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "device" in out and "H200 bf16" in out and "cpu fp32" in out


def test_a_board_without_devices_keeps_its_columns(results, capsys):
    """Trials of older stores recorded no device: no device column then."""
    with Store.existing(results, writer=True) as store, store.conn:
        store.conn.execute("UPDATE trials SET device = NULL, gpu_ids = NULL, precision = NULL")
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(results)]) == 0
    assert "device" not in capsys.readouterr().out
    assert main(["leaderboard", "--results", str(results), "--format", "markdown"]) == 0
    assert "device" not in capsys.readouterr().out


def test_a_schema_5_store_gains_the_device_columns_and_keeps_its_rows(tmp_path):
    v5 = "\n".join(
        line
        for line in SCHEMA.removesuffix(PROBES).removesuffix(RUNTIME_CHECKS).splitlines()
        if not any(c in line for c in ("device", "gpu_ids", "precision", "cpu_s", "gpu_s", "notes"))
    )
    conn = sqlite3.connect(tmp_path / "harness.db")
    conn.executescript(v5)
    conn.execute("INSERT INTO sweeps VALUES ('s1', 'digits', 'finished', 'then', NULL, 0, 'harness sweep', '{}', '{}')")
    conn.execute(
        "INSERT INTO trials (id, ray_id, sweep_id, task, arch, optimizer, lr, batch_size, epochs, seed, status,"
        " started_at) VALUES ('s1.t1', 't1', 's1', 'digits', 'mlp', 'adam', 0.01, 64, 2, 0, 'finished', 'then')"
    )
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()
    with Store.existing(tmp_path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 10
        trial = store.trial("s1.t1")
        assert (trial["arch"], trial["device"], trial["gpu_ids"], trial["precision"]) == ("mlp", None, None, None)
