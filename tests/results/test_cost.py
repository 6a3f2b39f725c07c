"""What each trial's compute cost (schema 8): every epoch's CPU-seconds (and GPU-seconds where
Ray gave a GPU) in the store, their sums on the leaderboard and in `harness show`, the seconds
spent until the published figure was first reached, and a schema 7 store upgraded with NULLs.

The default digits sweep (`swept`, real Ray) gives the measured figures; the cost to a target
needs a task with a published figure, so those stores are written through the driver's own
writes (Store.start_trial / record_epoch), as tests/test_device_records.py does."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any, cast

import pytest

from harness.cli.main import main
from harness.config.spec import TrialSpec
from harness.engine.device import gpu_seconds
from harness.engine.reported import EpochReport, Where
from harness.kinds import Status
from harness.results.leaderboard import leaderboards, target
from harness.store.db import Store
from harness.store.schema import PROBES, SCHEMA, SCHEMA_VERSION
from harness.views.leaderboard import render_board

SWEEP = "20260101-000000-cost"
H200: Where = {"device": "cuda:0 NVIDIA H200", "gpu_ids": ["0"], "precision": "bf16"}
CPU: Where = {"device": "cpu AMD EPYC 7B13", "gpu_ids": [], "precision": "fp32"}


def _json(capsys, *argv: str) -> Any:
    capsys.readouterr()
    assert main([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_board_and_show_sum_each_trials_measured_cpu_seconds(swept, capsys):
    (board,) = _json(capsys, "leaderboard", "--results", str(swept))
    with Store.existing(swept) as store:
        for row in board["rows"]:
            epochs = store.epochs(row["trial_id"])
            assert len(epochs) == 2 and all(e["cpu_s"] > 0 for e in epochs)  # measured, every epoch
            assert row["cpu_s"] == pytest.approx(sum(e["cpu_s"] for e in epochs))
            on_gpu = json.loads(store.trial(row["trial_id"])["gpu_ids"]) != []
            assert (row["gpu_s"] is None) != on_gpu  # GPU-seconds only where Ray gave a GPU
            # digits has no published figure: nothing to reach, no cost to reach it
            assert row["cpu_s_to_target"] is row["gpu_s_to_target"] is row["time_to_target_s"] is None
    best = board["rows"][0]
    report = _json(capsys, "show", best["trial_id"], "--results", str(swept))
    assert report["trial"]["cpu_s"] == pytest.approx(best["cpu_s"])
    assert sum(e["cpu_s"] for e in report["epochs"]) == pytest.approx(best["cpu_s"])
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(swept)]) == 0
    assert "cpu s" in capsys.readouterr().out


def _epoch(epoch: int, acc: float, cpu_s: float, where: Where) -> EpochReport:
    """One epoch as a trial reports it; on a GPU, its GPU-seconds at a quarter share."""
    times = {"epoch_time_s": 4.0, "eval_time_s": 1.0}
    gpu_s = gpu_seconds(wall_s=5.0, gpu_ids=where["gpu_ids"], gpu_share=0.25)
    return cast(
        EpochReport,
        {
            "epoch": epoch,
            **{k: 1.0 for k in ("train_loss", "val_loss")},
            "train_acc": acc,
            "val_acc": acc,
            **times,
            "samples_per_s": 1000.0,
            "cpu_s": cpu_s,
            **({} if gpu_s is None else {"gpu_s": gpu_s}),
            "best_epoch": epoch,
            **where,
        },
    )


# (ray id, seed, where, [(val_acc, cpu_s) per epoch]): cifar10's published figure is 72.90%
TRIALS = [
    ("a_00000", 0, H200, [(0.50, 2.0), (0.75, 3.0), (0.74, 5.0), (0.90, 7.0)]),  # reaches it at epoch 2
    ("b_00001", 1, H200, [(0.80, 1.5), (0.60, 2.5), (0.60, 4.0), (0.60, 4.0)]),  # at epoch 1
    ("c_00002", 0, CPU, [(0.50, 2.0), (0.60, 2.0), (0.70, 2.0), (0.72, 2.0)]),  # never
]


@pytest.fixture
def costly(tmp_path: Path) -> Path:
    with Store.create(tmp_path) as store:
        store.create_sweep(
            sweep_id=SWEEP, task="cifar10", seed=0, command="harness sweep", spec_json="{}", environment={}
        )
        for ray_id, seed, where, epochs in TRIALS:
            # a and b: one configuration, two seeds; c: another (its learning rate)
            lr = 0.01 if where is H200 else 0.1
            config = TrialSpec(
                task="cifar10", epochs=4, arch="mlp", optimizer="adam", lr=lr, batch_size=64, seed=seed
            ).config()
            trial = store.start_trial(trial_id=ray_id, sweep_id=SWEEP, config=config)
            for n, (acc, cpu_s) in enumerate(epochs, start=1):
                assert store.record_epoch(trial_id=trial, result=_epoch(n, acc, cpu_s, where))
            store.end_trial(trial, status=Status.FINISHED)
    return tmp_path


def test_the_cost_to_target_is_the_sum_up_to_the_first_epoch_that_reaches_it(costly, capsys):
    assert target("cifar10")["published"] == pytest.approx(0.729)
    (board,) = _json(capsys, "leaderboard", "--results", str(costly), "--no-group-seeds")
    rows = {r["trial"]: r for r in board["rows"]}
    a, b, c = rows["a_00000"], rows["b_00001"], rows["c_00002"]
    assert (a["cpu_s"], a["cpu_s_to_target"], a["time_to_target_s"]) == pytest.approx((17.0, 5.0, 10.0))
    assert (a["gpu_s"], a["gpu_s_to_target"]) == pytest.approx((4 * 1.25, 2 * 1.25))  # 5 s x 0.25 of a GPU
    assert (b["cpu_s_to_target"], b["gpu_s_to_target"]) == pytest.approx((1.5, 1.25))
    assert c["cpu_s"] == pytest.approx(8.0) and c["gpu_s"] is None  # it trained on the CPU
    assert c["cpu_s_to_target"] is c["gpu_s_to_target"] is c["time_to_target_s"] is None  # never reached
    # Grouped over seeds: the means of a and b, which both got there; c's group never did.
    (grouped,) = _json(capsys, "leaderboard", "--results", str(costly), "--group-seeds")
    pair = next(r for r in grouped["rows"] if r["n_seeds"] == 2)
    assert (pair["cpu_s"], pair["cpu_s_to_target"], pair["gpu_s_to_target"]) == pytest.approx((14.5, 3.25, 1.875))
    alone = next(r for r in grouped["rows"] if r["n_seeds"] == 1)
    assert alone["cpu_s_to_target"] is None and alone["cpu_s"] == pytest.approx(8.0)
    # `show` by Ray's short id: the trial's epochs and their sums (the epochs carry the full id)
    report = _json(capsys, "show", "a_00000", "--results", str(costly))
    assert [e["cpu_s"] for e in report["epochs"]] == [2.0, 3.0, 5.0, 7.0]
    assert (report["trial"]["cpu_s"], report["trial"]["gpu_s"]) == pytest.approx((17.0, 5.0))
    # The cheapest first by CPU-seconds (b: 12, c: 8, a: 17)
    (cheap,) = _json(capsys, "leaderboard", "--results", str(costly), "--sort", "cpu-seconds", "--no-group-seeds")
    assert [r["trial"] for r in cheap["rows"]] == ["c_00002", "b_00001", "a_00000"]


def test_tables_csv_and_markdown_carry_the_cost_columns(costly, capsys):
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(costly), "--format", "csv", "--no-group-seeds"]) == 0
    table = {r["trial"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert float(table["a_00000"]["cpu_s_to_target"]) == pytest.approx(5.0) and table["c_00002"]["gpu_s"] == ""
    assert main(["leaderboard", "--results", str(costly), "--format", "markdown", "--no-group-seeds"]) == 0
    markdown = capsys.readouterr().out
    header = next(line for line in markdown.splitlines() if line.startswith("| rank"))
    assert all(f"| {f} |" in header for f in ("cpu_s", "gpu_s", "cpu_s_to_target", "gpu_s_to_target"))
    with Store.existing(costly) as store:
        (board,) = leaderboards(store, group=False)
        (cheap,) = leaderboards(store, sort="cpu-seconds", group=False)
    wide = [c.header for c in render_board(board, width=400).columns]
    assert {"cpu s", "gpu s", "cpu s to 72.90%", "gpu s to 72.90%"} <= set(wide)
    assert wide.index("s to 72.90%") < wide.index("cpu s") < wide.index("status")
    # On a narrow terminal the costs go before the metric, except the one the board is sorted by.
    narrow = [c.header for c in render_board(cheap, width=100).columns]
    assert "cpu s" in narrow and "cpu s to 72.90%" not in narrow and "val_acc" in narrow
    assert main(["show", "a_00000", "--results", str(costly)]) == 0
    shown = capsys.readouterr().out
    assert "cpu s" in shown and "gpu s" in shown


def test_a_schema_7_store_gains_the_cost_columns_and_keeps_its_rows(tmp_path, capsys):
    v7 = "\n".join(
        line
        for line in SCHEMA.removesuffix(PROBES).splitlines()
        if not any(c in line for c in ("cpu_s", "gpu_s", "notes"))
    )
    conn = sqlite3.connect(tmp_path / "harness.db")
    conn.executescript(v7)
    conn.execute("INSERT INTO sweeps VALUES ('s1', 'digits', 'finished', 'then', NULL, 0, 'harness sweep', '{}', '{}')")
    conn.execute(
        "INSERT INTO trials (id, ray_id, sweep_id, task, arch, optimizer, lr, batch_size, epochs, seed, status,"
        " started_at) VALUES ('s1.t1', 't1', 's1', 'digits', 'mlp', 'adam', 0.01, 64, 2, 0, 'finished', 'then')"
    )
    for epoch in (1, 2):
        conn.execute(
            "INSERT INTO epochs (trial_id, epoch, val_acc, epoch_time_s, eval_time_s, recorded_at)"
            " VALUES ('s1.t1', ?, 0.9, 0.5, 0.1, 'then')",
            (epoch,),
        )
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()
    (board,) = _json(capsys, "leaderboard", "--results", str(tmp_path))  # a read command upgrades it
    with Store.existing(tmp_path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 10
        assert store.counts()["epochs"] == 2
        assert [(e["val_acc"], e["cpu_s"], e["gpu_s"]) for e in store.epochs("s1.t1")] == [(0.9, None, None)] * 2
    (row,) = board["rows"]
    assert row["best_metric"] == pytest.approx(0.9) and row["cpu_s"] is None and row["gpu_s"] is None
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(tmp_path)]) == 0
    assert "cpu s" not in capsys.readouterr().out  # nothing recorded: no column of dashes
    assert _json(capsys, "show", "t1", "--results", str(tmp_path))["trial"]["cpu_s"] is None


def test_a_trial_resumed_across_the_upgrade_has_no_total():
    """Epochs from before schema 8 have no CPU-seconds: a sum of the rest would understate."""
    from harness.results.cost import total

    assert total([{"cpu_s": None}, {"cpu_s": 2.0}], "cpu_s") is None  # type: ignore[list-item]
    assert total([{"cpu_s": 1.0}, {"cpu_s": 2.0}], "cpu_s") == pytest.approx(3.0)  # type: ignore[list-item]
    assert total([], "cpu_s") is None


def test_gpu_seconds_are_the_wall_time_times_the_share():
    assert gpu_seconds(wall_s=10.0, gpu_ids=["1"], gpu_share=0.25) == pytest.approx(2.5)
    assert gpu_seconds(wall_s=10.0, gpu_ids=["0", "1"], gpu_share=2.0) == pytest.approx(20.0)
    assert gpu_seconds(wall_s=10.0, gpu_ids=[], gpu_share=0.0) is None
