"""Leaderboards and trial reports over stores filled by real small sweeps: ordering by the
chosen key, grouping over seeds, the test score of each best checkpoint, `show` with its
confusion matrix and PNGs, and the time to reach a published figure."""

from __future__ import annotations

import csv
import io
import json
import statistics
import sys

import pytest

from harness import stats
from harness.cli.main import main
from harness.results.leaderboard import SORTS, time_to_target
from harness.store.db import Store

SEEDS = 3
LRS = ("0.003", "0.03")


@pytest.fixture(scope="module")
def seeded(ray_session, tmp_path_factory):
    """mlp x adam x two learning rates x three seeds: two configurations, three runs each."""
    results = tmp_path_factory.mktemp("seeded")
    argv = [
        "sweep",
        "--arch",
        "mlp",
        "--optimizer",
        "adam",
        "--lr",
        ",".join(LRS),
        "--seed",
        "0,1,2",
        "--epochs",
        "2",
        "--results",
        str(results),
        "--no-live",
        "--no-export",
    ]
    assert main(argv) == 0
    return results


def _board(results, capsys, *flags: str) -> dict:
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(results), "--format", "json", *flags]) == 0
    (board,) = json.loads(capsys.readouterr().out)
    return board


@pytest.mark.parametrize("sort", list(SORTS))
def test_leaderboard_orders_by_the_chosen_key(swept, capsys, sort):
    board = _board(swept, capsys, "--sort", sort)
    field, better = SORTS[sort]
    values = [row[field] for row in board["rows"]]
    known = [v for v in values if v is not None]
    assert values[: len(known)] == known  # rows without the value come after those with it
    assert known == sorted(known, reverse=(better or board["mode"]) == "max")
    assert [row["rank"] for row in board["rows"]] == list(range(1, len(values) + 1))
    assert board["sort"] == sort
    if sort in ("metric", "test", "throughput", "params"):
        assert len(known) == len(values) == 8


def test_an_unknown_sort_key_is_one_line(swept, capsys):
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(swept), "--sort", "acuracy"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown sort 'acuracy'" in err and "throughput" in err


def test_each_row_carries_the_test_score_of_its_best_checkpoint(swept, capsys):
    board = _board(swept, capsys)
    assert all(0.0 <= row["test_metric"] <= 1.0 for row in board["rows"])
    with Store.existing(swept) as store:
        (export,) = store._rows("SELECT * FROM exports")  # the export scored the same checkpoint on the same split
        trial = store.trial(export["trial_id"])
    (row,) = [r for r in board["rows"] if r["trial_id"] == export["trial_id"]]
    assert row["test_metric"] == pytest.approx(export["torch_metric"], abs=1e-9)
    assert json.loads(trial["test_json"])["epoch"] == trial["best_epoch"]


def test_grouping_over_seeds_gives_mean_std_and_members(seeded, capsys):
    trials = _board(seeded, capsys, "--no-group-seeds")["rows"]
    assert len(trials) == len(LRS) * SEEDS and sorted({t["seed"] for t in trials}) == [0, 1, 2]
    board = _board(seeded, capsys, "--group-seeds")
    assert board == _board(seeded, capsys)  # several seeds of one configuration: grouped by default
    assert board["grouped"] and len(board["rows"]) == len(LRS)
    for row in board["rows"]:
        members = [t for t in trials if t["trial_id"] in row["trial_ids"].split()]
        assert len(members) == row["n_seeds"] == SEEDS and len({m["lr"] for m in members}) == 1
        metrics = [m["best_metric"] for m in members]
        assert row["best_metric"] == pytest.approx(statistics.fmean(metrics))
        assert row["best_metric_std"] == pytest.approx(statistics.stdev(metrics))
        assert row["trial_id"] == max(members, key=lambda m: m["best_metric"])["trial_id"]  # its best seed
        interval = stats.t_interval(metrics, limits=(0.0, 1.0))  # over seeds, an accuracy: clipped to [0, 1]
        assert interval and row["ci95_method"] == "t"
        assert (row["best_ci95_low"], row["best_ci95_high"]) == pytest.approx((interval.low, interval.high))
        assert row["ci95_low"] <= row["test_metric"] <= row["ci95_high"]
    # #1 against #2 over their 3 seeds (Welch's t test, Bonferroni over the one comparison)
    assert board["rows"][0]["vs_best"] == "#1" and board["rows"][0]["vs_best_p"] is None
    second = board["rows"][1]
    assert second["vs_best"] in ("indistinguishable", "below #1") and 0 <= second["vs_best_p"] <= 1
    means = [row["best_metric"] for row in board["rows"]]
    assert means == sorted(means, reverse=True)
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(seeded), "--group-seeds", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["n_seeds"]) for r in rows] == [SEEDS] * len(LRS)
    assert main(["leaderboard", "--results", str(seeded), "--group-seeds"]) == 0
    table = capsys.readouterr().out
    assert "val_acc [95% CI]" in table and "n (seeds)" in table and "#1" in table
    assert main(["leaderboard", "--results", str(seeded), "--group-seeds", "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| best_metric_std |" in markdown or "best_metric_std" in markdown.splitlines()[2]


def test_time_to_target_is_the_first_epoch_at_the_published_figure():
    epochs = [
        {"epoch": e, "epoch_time_s": 10.0, "eval_time_s": 1.0, "val_acc": acc, "extra_json": None}
        for e, acc in ((1, 0.5), (2, 0.75), (3, 0.74), (4, 0.9))
    ]
    assert time_to_target(epochs, {"score": "test_acc", "published": 0.729}) == pytest.approx(22.0)
    assert time_to_target(epochs, {"score": "val_acc", "published": 0.95}) is None
    assert time_to_target(epochs, None) is None
    keras = [{**e, "extra_json": json.dumps({"val_keras_acc": 0.81 + e["epoch"] / 1000})} for e in epochs]
    assert time_to_target(keras, {"score": "val_keras_acc", "published": 0.8125}) == pytest.approx(33.0)


def _show(results, trial_id, capsys, *flags: str) -> dict:
    capsys.readouterr()
    assert main(["show", trial_id, "--results", str(results), "--format", "json", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def test_show_renders_a_confusion_matrix_whose_rows_sum_to_1(swept, capsys):
    best = _board(swept, capsys)["rows"][0]
    report = _show(swept, best["trial_id"], capsys)
    matrix, counts = report["confusion_normalised"], report["confusion"]
    assert len(matrix) == len(report["classes"]) == 10 and all(len(row) == 10 for row in matrix)
    assert all(sum(row) == pytest.approx(1.0) for row in matrix)
    correct = sum(counts[i][i] for i in range(10)) / sum(map(sum, counts))
    assert correct == pytest.approx(report["test"]["acc"]) == pytest.approx(best["test_metric"])
    assert [e["epoch"] for e in report["epochs"]] == [1, 2] and report["trial"]["best_epoch"] in (1, 2)
    assert report["config"]["arch"] == best["arch"] and "torch" in report["environment"]
    (export,) = report["exports"]
    assert export["status"] == "verified" and export["quantize"] is None and export["latency"]["speedup_b1"] > 0
    capsys.readouterr()
    assert main(["show", best["trial_id"], "--results", str(swept)]) == 0
    out = capsys.readouterr().out
    assert "confusion matrix" in out and "learning curves" in out and "★" in out
    assert "ONNX exports of this trial" in out  # the sweep exported its best trial
    assert any(c in out for c in "▁▂▃▄▅▆▇█")


def test_show_png_writes_curves_and_confusion(swept, capsys, tmp_path):
    best = _board(swept, capsys)["rows"][0]
    report = _show(swept, best["trial_id"], capsys, "--png", str(tmp_path / "figs"))
    names = sorted(p.rsplit("/", 1)[-1] for p in report["png"])
    assert names == [f"{best['trial_id']}_confusion.png", f"{best['trial_id']}_curves.png"]
    for name in names:
        assert (tmp_path / "figs" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_show_png_without_matplotlib_is_one_line_and_writes_nothing(swept, capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    best = _board(swept, capsys)["rows"][0]
    capsys.readouterr()
    assert main(["show", best["trial_id"], "--results", str(swept), "--png", str(tmp_path / "figs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "matplotlib" in err and "harness[plots]" in err
    assert not (tmp_path / "figs").exists()


def test_show_an_unknown_trial_is_one_line(swept, capsys):
    capsys.readouterr()
    assert main(["show", "nope", "--results", str(swept)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no trial 'nope'" in err


def test_onnx_status_tells_exported_from_verified(swept_copy, capsys):
    """A file written but never verified (verification crashed or was cut off) says so."""
    before = {row["trial_id"]: row["onnx"] for row in _board(swept_copy, capsys)["rows"]}
    assert list(before.values()).count("verified") == 1 and list(before.values()).count(None) == 7  # its best
    unverified = next(t for t, status in before.items() if status is None)
    with Store.existing(swept_copy) as store:
        store.add_export(trial_id=unverified, path="elsewhere.onnx", opset=18, ir_version=10)
    after = {row["trial_id"]: row["onnx"] for row in _board(swept_copy, capsys)["rows"]}
    assert after[unverified] == "exported" and list(after.values()).count("verified") == 1


def test_learning_curves_plot_scores_not_the_validation_count():
    from harness.views.plots import curve_kinds

    epochs = [{"epoch": 1, "train_loss": 0.9, "val_loss": 1.0, "train_acc": 0.5, "val_acc": 0.4, "val_n": 360}]
    assert curve_kinds(epochs) == ["loss", "acc"]
