"""The default sweep end to end on real Ray, real SQLite, real onnxruntime and the real digits."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from harness.cli.main import main
from harness.store.db import EPOCH_COLUMNS, Store

DEFAULT_TRIALS = 8  # 2 architectures x 2 optimizers x 2 learning rates


def test_default_sweep_stores_every_trial_epoch(swept):
    with Store.existing(swept) as store:
        trials = store._rows("SELECT * FROM trials")
        assert len(trials) == DEFAULT_TRIALS
        assert {(t["arch"], t["optimizer"], t["lr"]) for t in trials} == {
            (a, o, lr) for a in ("mlp", "cnn_small") for o in ("momentum", "adam") for lr in (0.003, 0.03)
        }
        for trial in trials:
            assert trial["status"] == "finished"
            assert trial["params"] > 0 and trial["node"] and trial["checkpoint_path"]
            rows = store.epochs(trial["id"])
            assert [r["epoch"] for r in rows] == [1, 2]  # every epoch of every trial
            for column in EPOCH_COLUMNS:
                if column != "gpu_s":  # recorded only by trials that held a GPU
                    assert rows[0][column] is not None, column
            # What each epoch cost: CPU seconds always; GPU seconds exactly where Ray gave a GPU.
            assert all(r["cpu_s"] > 0 for r in rows)
            assert all((r["gpu_s"] is None) == (trial["gpu_ids"] == "[]") for r in rows)
            assert 0.0 <= rows[0]["val_acc"] <= 1.0
            assert rows[0]["epoch_time_s"] > 0 and rows[0]["samples_per_s"] > 0


def test_sweep_records_its_environment(swept):
    with Store.existing(swept) as store:
        (sweep,) = store._rows("SELECT * FROM sweeps")
    env = json.loads(sweep["environment_json"])
    assert sweep["status"] == "finished" and sweep["task"] == "digits"
    for key in ("python", "torch", "ray", "onnxruntime", "cpu", "gpu", "seed", "command"):
        assert key in env, key
    assert env["gpu"] is None or isinstance(env["gpu"], str)
    assert env["seed"] == 0 and "--epochs 2" in env["command"]


def test_leaderboard_json_lists_trials_best_first(swept, capsys):
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(swept), "--format", "json"]) == 0
    (board,) = json.loads(capsys.readouterr().out)
    assert board["task"] == "digits" and board["metric"] == "val_acc"
    metrics = [row["best_metric"] for row in board["rows"]]
    assert len(metrics) == DEFAULT_TRIALS
    assert metrics == sorted(metrics, reverse=True)
    assert [row["rank"] for row in board["rows"]] == list(range(1, DEFAULT_TRIALS + 1))


def test_sweep_exported_and_verified_the_best_trial(swept):
    with Store.existing(swept) as store:
        (export,) = store._rows("SELECT * FROM exports")
        best = store._rows("SELECT trial_id, MAX(val_acc) AS acc FROM epochs")[0]
    assert export["status"] == "verified"
    assert export["trial_id"] == best["trial_id"]
    assert export["provider"] == "CPUExecutionProvider"
    assert export["max_abs_diff"] <= 1e-3 and export["top1_agreement"] >= 0.999
    assert (swept / "onnx").is_dir() and export["path"].endswith(".onnx")


def test_table_output_shows_leaderboard_and_verification(swept, capsys):
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(swept)]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "cnn_small" in out and "verified" in out


@pytest.mark.slow
def test_epochs_land_while_the_sweep_runs_and_ctrl_c_keeps_them(tmp_path, capsys):
    """One transaction per epoch as results arrive: rows are readable before the sweep ends,
    and an interrupted sweep keeps them, marked as interrupted rather than finished."""
    # A subprocess: Ctrl-C (SIGINT) goes to a running driver while this process reads its store.
    cmd = [
        sys.executable,
        "-m",
        "harness.cli.main",
        "sweep",
        "--arch",
        "cnn_small",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "500",
        "--no-export",
        "--no-live",
        "--results",
        str(tmp_path),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    db = tmp_path / "harness.db"
    seen_while_running = 0
    try:
        deadline = time.monotonic() + 120
        while seen_while_running < 3 and proc.poll() is None and time.monotonic() < deadline:
            if db.exists():
                conn = sqlite3.connect(db, timeout=30)
                status = conn.execute("SELECT status FROM sweeps").fetchone()
                if status and status[0] == "running":
                    seen_while_running = conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0]
                conn.close()
            time.sleep(0.2)
        # Readers never block the writer (WAL): the leaderboard works mid-sweep.
        assert main(["leaderboard", "--results", str(tmp_path), "--format", "json"]) == 0
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert seen_while_running >= 3
    (board,) = json.loads(capsys.readouterr().out)
    assert board["task"] == "digits" and len(board["rows"]) == 1
    assert proc.returncode == 130, proc.stderr.read()
    with Store.existing(tmp_path) as store:
        (sweep,) = store._rows("SELECT * FROM sweeps")
        (trial,) = store._rows("SELECT * FROM trials")
        assert sweep["status"] == "interrupted" and trial["status"] == "interrupted"
        assert len(store.epochs(trial["id"])) >= seen_while_running


def test_sweep_json_output_is_clean_json(ray_session, tmp_path, capsys):
    capsys.readouterr()
    argv = [
        "sweep",
        "--arch",
        "mlp",
        "--optimizer",
        "adam",
        "--lr",
        "0.003",
        "--epochs",
        "2",
        "--results",
        str(tmp_path),
        "--format",
        "json",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["export"]["passed"] and summary["export"]["trial_id"]
    (board,) = summary["leaderboards"]
    assert [row["epochs_run"] for row in board["rows"]] == [2]
    assert "[1/1] trial" in captured.err  # progress goes to stderr


def test_diverging_trial_is_marked_and_the_sweep_goes_on(ray_session, tmp_path, capsys):
    argv = [
        "sweep",
        "--arch",
        "mlp",
        "--optimizer",
        "sgd",
        "--lr",
        "1e6,0.01",
        "--epochs",
        "3",
        "--results",
        str(tmp_path),
        "--no-live",
    ]
    assert main(argv) == 0
    with Store.existing(tmp_path) as store:
        trials = {t["lr"]: t for t in store._rows("SELECT * FROM trials")}
        assert trials[1e6]["status"] == "diverged"
        assert len(store.epochs(trials[1e6]["id"])) == 1  # stopped at the first non-finite loss
        assert trials[0.01]["status"] == "finished" and len(store.epochs(trials[0.01]["id"])) == 3
        (export,) = store._rows("SELECT * FROM exports")
        assert export["trial_id"] == trials[0.01]["id"]  # a diverged trial is never the best
    capsys.readouterr()
    assert main(["export", "--trial", trials[1e6]["id"], "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no checkpoint" in err


def test_leaderboard_markdown_and_csv_parse_back_and_top_cuts(swept, capsys):
    import csv
    import io

    capsys.readouterr()
    assert main(["leaderboard", "--results", str(swept), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == DEFAULT_TRIALS and [int(r["rank"]) for r in rows] == list(range(1, DEFAULT_TRIALS + 1))
    assert {r["task"] for r in rows} == {"digits"} and all(float(r["best_metric"]) <= 1 for r in rows)
    assert main(["leaderboard", "--results", str(swept), "--format", "markdown", "--top", "3"]) == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    header, body = table[0].strip("| ").split(" | "), [line.strip("| ").split(" | ") for line in table[1:]]
    assert header[:3] == ["rank", "trial_id", "arch"] and [r[0] for r in body] == ["1", "2", "3"]
    assert [r["trial_id"] for r in rows[:3]] == [r[1] for r in body]  # the same order in both formats


def test_each_reports_task_has_its_published_reference_rows(swept, capsys):
    from harness.results.leaderboard import references, target

    for task in ("cats_vs_dogs", "cifar10", "pokemon150", "mnist_upsample"):
        refs = references(task, [], {})
        assert refs and all(r["ours"] is None and r["closest_trial_id"] is None for r in refs), task
    # A stored vgg8_bn run of report uchile2020's recipe (data, scaling, all 20 epochs) is "ours" for
    # Red Grande; for Red Pequena (vgg4_bn) it is only the closest other run, with its difference.
    config = {"task": "cifar10", "arch": "vgg8_bn", "variant": "report", "pixels": "raw", "epochs": 20}
    trial = {
        "id": "t1",
        "arch": "vgg8_bn",
        "status": "finished",
        "best_metric": 0.9,
        "epochs_run": 20,
        "config_json": json.dumps(config),
        "test_json": json.dumps({"acc": 0.8}),
    }
    (grande, pequena) = references("cifar10", [trial], {"t1": []})
    assert (grande["arch"], grande["published"], grande["score"]) == ("vgg8_bn", 0.729, "test_acc")
    assert grande["ours"] == 0.8 and grande["difference"] == pytest.approx(0.8 - 0.729) and grande["trial_id"] == "t1"
    assert pequena["ours"] is None and pequena["difference"] is None
    assert (pequena["closest_trial_id"], pequena["closest"], pequena["closest_differs"]) == (
        "t1",
        0.8,
        "vgg8_bn, not vgg4_bn",
    )
    short = {**trial, "epochs_run": 3, "config_json": json.dumps({**config, "train_limit": 500})}
    (grande, _) = references("cifar10", [short], {"t1": []})
    assert grande["ours"] is None and grande["closest_differs"] == "subset 500; 3 of 20 epochs"
    upsample = {"task": "mnist_upsample", "arch": "upsample_a", "epochs": 10, "framework": "keras"}
    keras_row = {**trial, "arch": "upsample_a", "epochs_run": 10, "best_epoch": 4, "config_json": json.dumps(upsample)}
    epochs = {"t1": [{"epoch": 4, "val_acc": 0.95, "extra_json": json.dumps({"val_keras_acc": 0.81})}]}
    keras = references("mnist_upsample", [keras_row], epochs)[0]  # measured as the report did
    assert keras["ours"] == 0.81 and keras["difference"] == pytest.approx(0.81 - 0.81466)  # model 1 printed 0.81466
    # the same network under PyTorch's defaults is another experiment than the Keras report's recipe
    torch_row = {**keras_row, "config_json": json.dumps({**upsample, "framework": "pytorch"})}
    plain = references("mnist_upsample", [torch_row], epochs)[0]
    assert plain["ours"] is None and plain["closest_differs"] == "pytorch defaults, not keras"
    assert target("cats_vs_dogs")["published"] == 0.9178 and target("digits") is None
    assert references("digits", [trial], {}) == []
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(swept), "--format", "json"]) == 0
    (board,) = json.loads(capsys.readouterr().out)
    assert board["references"] == [] and board["target"] is None  # digits: no report


def test_eval_limit_validates_on_a_seeded_subset_and_says_so(ray_session, tmp_path, capsys):
    """`--eval-limit N`: each epoch validates on N images (the store's `val_n`), the test split is
    scored whole, and the boards mark the run as they mark `--train-limit`."""
    argv = ["sweep", "--arch", "mlp", "--optimizer", "adam", "--lr", "0.003", "--epochs", "2", "--eval-limit", "50"]
    assert main([*argv, "--no-export", "--no-live", "--results", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(tmp_path), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)[0]["rows"]
    assert row["marks"] == "val subset 50"
    assert main(["show", row["trial_id"], "--results", str(tmp_path), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [e["val_n"] for e in shown["epochs"]] == [50, 50]
    assert shown["test"]["n"] == 360  # digits' whole test split


def test_eval_limit_below_one_is_one_line(tmp_path, capfd):
    assert main(["sweep", "--eval-limit", "0", "--results", str(tmp_path / "r")]) == 2
    err = capfd.readouterr().err.strip()
    assert err == "error: eval limit 0 is below 1 (pass --eval-limit >= 1)"
    assert not (tmp_path / "r").exists()


def test_after_a_sweep_the_published_table_prints_only_when_a_trial_ran_a_recipe(swept, capsys):
    """The board a sweep ends with sets the reports' figures beside ours only where some trial
    ran a report's recipe; `harness leaderboard` always shows them."""
    from harness.cli.shared import print_boards
    from harness.results.leaderboard import references

    capsys.readouterr()
    assert main(["leaderboard", "--results", str(swept), "--format", "json"]) == 0
    (board,) = json.loads(capsys.readouterr().out)
    config = {"task": "cifar10", "arch": "vgg8_bn", "variant": "report", "pixels": "raw", "epochs": 20}
    trial = {
        "id": "t1",
        "arch": "vgg8_bn",
        "status": "finished",
        "best_metric": 0.9,
        "epochs_run": 20,
        "config_json": json.dumps(config),
        "test_json": json.dumps({"acc": 0.8}),
    }
    other = {**trial, "arch": "resnet9", "config_json": json.dumps({**config, "arch": "resnet9"})}
    unmatched = {**board, "references": references("cifar10", [other], {"t1": []})}
    matched = {**board, "references": references("cifar10", [trial], {"t1": []})}
    for shown, after_sweep, expected in ((unmatched, True, False), (matched, True, True), (unmatched, False, True)):
        print_boards([shown], "table", matched_references_only=after_sweep)
        out = capsys.readouterr().out
        assert ("72.90%" in out) is expected, (after_sweep, out)  # Red Grande's published figure
        assert "cnn_small" in out  # the board itself always prints
