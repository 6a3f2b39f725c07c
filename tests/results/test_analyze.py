"""`harness analyze` and the board's statistics over a real digits sweep (2 architectures x 2
learning rates x 3 repeats):
importance rows for the settings that varied, the metric by learning rate as the board's own
numbers give it, time to target over seeds, the PNGs as real images; and the pure pieces on
figures whose answer is known."""

from __future__ import annotations

import json
import statistics

import pytest
from hostile import refused
from PIL import Image

from harness.cli.main import main
from harness.kinds import Mode
from harness.results.analyze import lr_columns
from harness.results.importance import MIN_TRIALS, Trial, importance, seed_share
from harness.store.db import Store

ARCHS, LRS, SEEDS = ("mlp", "cnn_small"), (0.003, 0.03), (0, 1, 2)


@pytest.fixture(scope="module")
def analyzed(ray_session, tmp_path_factory):
    """The results folder and the id of a 12-trial digits sweep (`--repeats 3`: derived seeds):
    2 epochs on 300 images."""
    results = tmp_path_factory.mktemp("analyzed")
    argv = ["sweep", "--arch", ",".join(ARCHS), "--optimizer", "adam", "--lr", ",".join(map(str, LRS))]
    argv += ["--repeats", str(len(SEEDS)), "--epochs", "2", "--train-limit", "300"]
    assert main([*argv, "--results", str(results), "--no-live", "--no-export"]) == 0
    with Store.existing(results) as store:
        return results, store.sweep()["id"]


def test_the_board_shows_n_intervals_and_significance_marks(analyzed, capsys):
    """The default board of a replicated sweep: one row per configuration, n = 3, a 95% t
    interval around each mean, and the rows below #1 tested against it (Welch, Bonferroni)."""
    results, sweep = analyzed
    capsys.readouterr()
    assert main(["leaderboard", "--sweep", sweep, "--results", str(results), "--format", "json"]) == 0
    (board,) = json.loads(capsys.readouterr().out)
    rows = board["rows"]
    assert board["grouped"] and len(rows) == len(ARCHS) * len(LRS) and {r["n_seeds"] for r in rows} == {3}
    for row in rows:
        assert row["ci95_method"] == "t"
        assert row["best_ci95_low"] <= row["best_metric"] <= row["best_ci95_high"]
        assert row["ci95_low"] <= row["test_metric"] <= row["ci95_high"]
    assert rows[0]["vs_best"] == "#1"
    marks = [r["vs_best"] for r in rows[1:]]
    assert all(m in ("indistinguishable", "below #1") for m in marks) and all(
        0 <= r["vs_best_p"] <= 1 for r in rows[1:]
    )
    assert main(["leaderboard", "--sweep", sweep, "--results", str(results)]) == 0
    table = capsys.readouterr().out
    assert "n (seeds)" in table and "[95% CI]" in table and "#1" in table


def _json(capsys, *argv: str) -> dict:
    capsys.readouterr()
    assert main(["analyze", *argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_importance_ranks_arch_and_lr_for_the_val_and_test_metric(analyzed, capsys):
    results, sweep = analyzed
    (a,) = _json(capsys, sweep, "--results", str(results))["analyses"]
    assert (a["sweep_id"], a["task"], a["trials"], a["usable"]) == (sweep, "digits", 12, 12)
    assert a["varying"] == {"arch": sorted(ARCHS), "lr": list(LRS)}  # the seed is not a setting
    imp = a["importance"]
    assert imp["note"] is None and imp["columns"] == ["val_acc", "test_acc"]
    assert {r["param"] for r in imp["rows"]} == {"arch", "lr"}
    for column in imp["columns"]:
        shares = [r[column] for r in imp["rows"]]
        assert all(0.0 <= s <= 1.0 for s in shares) and sum(shares) == pytest.approx(1.0)
        assert imp["trials"][column] == 12 and 0.0 <= imp["seed_share"][column] <= 1.0
    assert imp["rows"][0]["val_acc"] >= imp["rows"][1]["val_acc"]  # most important first


def test_lr_table_holds_the_boards_means_over_seeds(analyzed, capsys):
    results, sweep = analyzed
    (a,) = _json(capsys, sweep, "--results", str(results))["analyses"]
    capsys.readouterr()
    assert (
        main(["leaderboard", "--sweep", sweep, "--results", str(results), "--format", "json", "--no-group-seeds"]) == 0
    )
    (board,) = json.loads(capsys.readouterr().out)
    table = a["lr_table"]
    assert [c["lr"] for c in table["columns"]] == pytest.approx(list(LRS))
    assert [(r["arch"], r["optimizer"]) for r in table["rows"]] == [("cnn_small", "adam"), ("mlp", "adam")]
    for row in table["rows"]:
        for column, cell in zip(table["columns"], row["cells"]):
            runs = [b["best_metric"] for b in board["rows"] if (b["arch"], b["lr"]) == (row["arch"], column["lr"])]
            assert cell["n"] == len(SEEDS) == len(runs) and cell["mean"] == pytest.approx(statistics.fmean(runs))


def test_time_to_target_per_configuration_over_its_seeds(analyzed, capsys):
    results, sweep = analyzed
    (a,) = _json(capsys, sweep, "--results", str(results), "--target", "0.5")["analyses"]
    assert a["target"] == {"report": "--target", "published": 0.5, "score": "val_acc"}
    rows = a["time_to_target"]
    assert len(rows) == len(ARCHS) * len(LRS) and all(r["seeds"] == len(SEEDS) for r in rows)
    by_trial = {t["id"]: t for t in a["rows"]}
    for r in rows:
        times = sorted(t for t in (by_trial[i]["time_to_target_s"] for i in r["trial_ids"]) if t is not None)
        assert r["reached"] == len(times)
        if times:
            assert (r["min_s"], r["median_s"], r["max_s"]) == pytest.approx(
                (times[0], statistics.median(times), times[-1])
            )
            # a seed gets there at the end of an epoch: within the seconds it trained and evaluated
            assert 0 < r["min_s"] <= r["max_s"] <= max(by_trial[i]["elapsed_s"][-1] for i in r["trial_ids"])
    assert any(r["reached"] for r in rows)  # 50% on digits within 2 epochs: some configuration gets there
    medians = [r["median_s"] for r in rows if r["median_s"] is not None]
    assert medians == sorted(medians)  # fastest first


def test_the_table_prints_each_section(analyzed, capsys):
    results, sweep = analyzed
    capsys.readouterr()
    assert main(["analyze", sweep, "--results", str(results), "--target", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "fANOVA importance" in out and "val_acc (12 trials)" in out and "test_acc (12 trials)" in out
    lines = {line.split("│")[1].strip() for line in out.splitlines() if line.count("│") > 3}
    assert {"arch", "lr", "cnn_small", "mlp"} <= lines  # importance rows, lr-table rows
    assert "lr 0.003" in out and "lr 0.03" in out and "(3)" in out
    assert "seconds to val_acc >= 50.00% (--target)" in out and "/3" in out
    assert "the 5 best trials" in out
    # without --target: digits has no published figure, and says what to pass
    assert main(["analyze", sweep, "--results", str(results)]) == 0
    assert "pass --target VALUE" in capsys.readouterr().out


def test_png_writes_three_real_images_of_the_declared_size(analyzed, capsys, tmp_path):
    results, sweep = analyzed
    written = _json(capsys, sweep, "--results", str(results), "--png", str(tmp_path / "figs"))["png"]
    # figure sizes in inches (harness.views.plots.ANALYSIS_FIGURES) at 110 dots per inch
    expected = {"parallel": (990, 495), "lr": (660, 495), "curves": (990, 440)}
    assert [p.rsplit("/", 1)[1] for p in written] == [f"{sweep}_digits_{kind}.png" for kind in expected]
    for path, size in zip(written, expected.values()):
        with Image.open(path) as image:
            image.load()  # decodes every pixel: a truncated file fails here
            assert image.format == "PNG" and image.mode == "RGBA" and image.size == size
            colours = image.convert("L").getcolors(maxcolors=1 << 16)
            assert colours is not None and len(colours) > 20  # drawn on, not a blank canvas


def test_unknown_sweep_or_task_is_one_line_and_writes_nothing(analyzed, capsys, tmp_path):
    results, sweep = analyzed
    with Store.existing(results) as store:
        before = store.counts()
    err = refused(capsys, ["analyze", "nope-123", "--results", str(results)])
    assert "no sweep 'nope-123'" in err and "harness sweeps" in err
    assert "has no trials of cifar10" in refused(
        capsys, ["analyze", sweep, "--task", "cifar10", "--results", str(results)]
    )
    refused(capsys, ["analyze", sweep, "--png", str(tmp_path / "x"), "--task", "nope", "--results", str(results)])
    assert not (tmp_path / "x").exists()
    with Store.existing(results) as store:
        assert store.counts() == before


def _trial(i: int, *, arch: str, lr: float, metric: float | None, seed: int = 0) -> Trial:
    config = json.dumps({"arch": arch, "lr": lr})
    return {
        "id": f"t{i}",
        "seed": seed,
        "params": {"arch": arch, "lr": lr},
        "config": config,
        "usable": True,
        "metric": metric,
        "test_metric": None,
        "time_to_target_s": None,
        "curve": [],
        "elapsed_s": [],
    }


def test_importance_finds_the_setting_that_moves_the_metric():
    """The metric moves with the architecture only (0.5 apart), the learning rate changes it by
    a hair and the seeds by less: the architecture takes nearly all of it."""
    trials = [
        _trial(i, arch=arch, lr=lr, metric=(0.9 if arch == "mlp" else 0.4) + 0.001 * (lr == 0.1) + 0.0001 * seed)
        for i, (arch, lr, seed) in enumerate((a, lr, s) for a in ("mlp", "cnn") for lr in (0.01, 0.1) for s in (0, 1))
    ]
    imp = importance(trials, mode=Mode.MAX, metric="val_acc")
    assert imp["columns"] == ["val_acc"]  # no test metric: one column
    assert [r["param"] for r in imp["rows"]] == ["arch", "lr"] and imp["rows"][0]["val_acc"] > 0.95
    assert imp["seed_share"]["val_acc"] < 0.001


def test_importance_is_a_note_below_the_minimum_or_without_spread():
    few = [_trial(i, arch=a, lr=0.1, metric=0.5 + i / 10) for i, a in enumerate(["mlp", "cnn", "mlp"])]
    assert len(few) < MIN_TRIALS
    imp = importance(few, mode=Mode.MAX, metric="val_acc")
    assert imp["rows"] == [] and "importance needs at least 4" in imp["note"]
    flat = [_trial(i, arch=a, lr=lr, metric=0.7) for i, (a, lr) in enumerate([("m", 0.1), ("c", 0.1), ("m", 1.0)] * 2)]
    assert "the same in every trial" in importance(flat, mode=Mode.MAX, metric="val_acc")["note"]
    seeds_only = [{**t, "params": {}} for t in flat]  # one configuration, its seeds: nothing varies
    assert "no setting varies" in importance(seeds_only, mode=Mode.MAX, metric="val_acc")["note"]


def test_seed_share_is_the_within_configuration_part_of_the_variance():
    # two configurations, means 0 and 1, each with seeds at -0.1 and +0.1 around it
    trials = [_trial(i, arch=a, lr=0.1, metric=None) for i, a in enumerate(["a", "a", "b", "b"])]
    values = [-0.1, 0.1, 0.9, 1.1]
    within, total = 4 * 0.01, sum((v - 0.5) ** 2 for v in values)
    assert seed_share(trials, values) == pytest.approx(within / total)
    assert seed_share(trials[::2], values[::2]) is None  # no configuration repeated


def test_lr_columns_keep_a_grid_and_bin_a_random_search():
    assert lr_columns([0.1, 0.01, 0.1]) == [(0.01, 0.01), (0.1, 0.1)]
    rates = [10 ** (-4 + 3 * i / 19) for i in range(20)]  # 20 distinct rates, 1e-4 to 1e-1
    bins = lr_columns(rates)
    assert len(bins) == 8 and bins[0][0] == rates[0] and bins[-1][1] == rates[-1]
    assert all(any(low <= r <= high for low, high in bins) for r in rates)
