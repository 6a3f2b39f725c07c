"""Registries, the training loop and the store on their own: fast, no Ray."""

from __future__ import annotations

import json
import math

import pytest
import torch

from harness.architectures import check_fits, count_params, create_model, get_arch, list_archs
from harness.config.optimizers import OPTIMIZERS
from harness.config.spec import SweepSpec
from harness.datasets import get_task, load_task
from harness.engine.optim import create_optimizer
from harness.engine.train import OBJECTIVES, Normalizer, evaluate, train_one_epoch
from harness.errors import HarnessError
from harness.store.db import Store


@pytest.mark.parametrize(
    "name", [n for n in list_archs() if get_arch(n).fits((1, 8, 8)) and get_arch(n).head == "logits"]
)
def test_every_arch_that_fits_digits_builds_for_it(name):
    model = create_model(name, in_shape=(1, 8, 8), num_outputs=10).eval()
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert count_params(model) > 0


def test_unknown_names_list_the_choices():
    with pytest.raises(HarnessError, match="choose from: .*cnn_small, .*mlp"):
        SweepSpec(archs=("nope",)).validate()
    with pytest.raises(HarnessError, match="adam"):
        SweepSpec(optimizers=("nope",)).validate()
    with pytest.raises(HarnessError, match="--arch"):
        SweepSpec(archs=()).validate()


def test_a_registered_fixed_input_arch_refuses_other_sizes():
    from harness.architectures import register_arch
    from harness.architectures._registry import _ARCHS

    register_arch("fixed_test", input_shape=(3, 32, 32), num_outputs=10)(lambda **kw: torch.nn.Identity())
    try:
        with pytest.raises(HarnessError, match=r"takes input 3x32x32"):
            check_fits("fixed_test", in_shape=(1, 8, 8), heads=("logits",))
    finally:
        del _ARCHS["fixed_test"]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_table(name):
    params = [torch.nn.Parameter(torch.ones(2))]
    opt = create_optimizer(name, params, lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1


def test_normalizer_matches_the_formula():
    norm = Normalizer((0.5,), (0.25,), torch.device("cpu"))
    x = torch.tensor([0, 255, 51], dtype=torch.uint8).view(1, 1, 1, 3)
    assert torch.allclose(norm(x), (x.float() / 255 - 0.5) / 0.25)


def test_training_learns_digits():
    task = get_task("digits")
    data = load_task("digits")
    torch.manual_seed(0)
    model = create_model("mlp", in_shape=task.input_shape, num_outputs=10)
    opt = create_optimizer("adam", model.parameters(), lr=0.003)
    norm = Normalizer(task.mean, task.std, torch.device("cpu"))
    tx, ty = torch.from_numpy(data.train.images), torch.from_numpy(data.train.labels)
    vx, vy = torch.from_numpy(data.val.images), torch.from_numpy(data.val.labels)
    before = evaluate(model=model, objective=OBJECTIVES["logits"], images=vx, labels=vy, batch_size=512, normalize=norm)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        stats = train_one_epoch(
            model=model,
            objective=OBJECTIVES["logits"],
            optimizer=opt,
            images=tx,
            labels=ty,
            batch_size=64,
            normalize=norm,
            generator=gen,
        )
    after = evaluate(model=model, objective=OBJECTIVES["logits"], images=vx, labels=vy, batch_size=512, normalize=norm)
    assert after["acc"] > 0.9 > before["acc"] and after["loss"] < before["loss"]
    assert stats["samples_per_s"] == pytest.approx(len(ty) / stats["time_s"])


def test_single_logit_objective_counts_by_sign():
    out = torch.tensor([[2.0], [-1.0], [0.5]])
    y = torch.tensor([1, 1, 0])
    assert OBJECTIVES["single_logit"].scores(out, y)["acc"].item() == 1
    expected = torch.nn.functional.binary_cross_entropy_with_logits(out.squeeze(1), y.float())
    assert OBJECTIVES["single_logit"].loss(out, y).item() == pytest.approx(expected.item())


def test_digits_split_is_stratified_and_fixed():
    a, b = load_task("digits"), load_task("digits")
    assert (len(a.train), len(a.val), len(a.test)) == (1077, 360, 360)
    assert (a.test.labels == b.test.labels).all()
    assert a.train.images.dtype.name == "uint8" and a.train.images.shape[1:] == (1, 8, 8)
    counts = [int((a.test.labels == c).sum()) for c in range(10)]
    assert max(counts) - min(counts) <= 2


T1 = "s1.t1"  # the store's id of Ray's trial "t1" of sweep "s1"


def _store_with_trial(tmp_path):
    store = Store.create(tmp_path)
    store.create_sweep(sweep_id="s1", task="digits", seed=0, command="harness sweep", spec_json="{}", environment={})
    config = {"task": "digits", "arch": "mlp", "optimizer": "adam", "lr": 0.1, "batch_size": 8, "epochs": 3, "seed": 0}
    assert store.start_trial(trial_id="t1", sweep_id="s1", config=config) == T1
    return store


def test_store_epochs_are_never_duplicated(tmp_path):
    with _store_with_trial(tmp_path) as store:
        assert store.record_epoch(trial_id=T1, result={"epoch": 1, "val_acc": 0.5, "params": 7})
        # re-reported by a trial resumed from an earlier checkpoint: the stored epoch stands, written once
        assert not store.record_epoch(trial_id=T1, result={"epoch": 1, "val_acc": 0.6, "test_json": "{}"})
        assert store.record_epoch(trial_id=T1, result={"epoch": 2, "val_acc": 0.7})
        assert [(e["epoch"], e["val_acc"]) for e in store.epochs(T1)] == [(1, 0.5), (2, 0.7)]
        assert store.trial("t1")["params"] == 7
        assert store.trial("t1")["test_json"] is None  # nothing of the re-reported epoch was written


def test_store_record_of_a_sweep_for_its_resume(tmp_path):
    """What a resumed sweep re-plans from: every trial with its config, status, best checkpoint
    and stored epochs; a new best checkpoint names the one it replaces; a restarted trial loses
    its epochs and checkpoint."""
    with _store_with_trial(tmp_path) as store:
        config = store.trial("t1")["config_json"]
        for ray_id in ("t2", "t3", "t4"):
            store.start_trial(trial_id=ray_id, sweep_id="s1", config=json.loads(config))
        assert store.set_checkpoint(T1, "/ray/s1/t1/checkpoint_000000") is None
        assert store.set_checkpoint(T1, "/ray/s1/t1/checkpoint_000000") is None  # the same one: nothing replaced
        assert store.set_checkpoint(T1, "/ray/s1/t1/checkpoint_000001") == "/ray/s1/t1/checkpoint_000000"
        store.set_checkpoint("s1.t2", "/ray/s1/t2/checkpoint_000000")
        store.record_epoch(trial_id="s1.t2", result={"epoch": 1, "val_acc": 0.5, "val_psnr": 20.0})
        store.record_epoch(trial_id="s1.t2", result={"epoch": 2, "val_acc": 0.6, "train_loss": 0.1})
        store.end_trial("s1.t2", status="finished")
        store.end_trial("s1.t3", status="error", error="ValueError: x")
        store.interrupt_trials("s1")  # t1 and t4 were running
        record = {t["ray_id"]: t for t in store.sweep_record("s1")}
        statuses = {i: t["status"] for i, t in record.items()}
        assert statuses == {"t1": "interrupted", "t2": "finished", "t3": "error", "t4": "interrupted"}
        assert record["t1"]["checkpoint_path"] == "/ray/s1/t1/checkpoint_000001"
        assert record["t2"]["epochs"] == [
            {"epoch": 1, "val_acc": 0.5, "val_psnr": 20.0},
            {"epoch": 2, "val_acc": 0.6, "train_loss": 0.1},
        ]
        assert json.loads(record["t3"]["config_json"]) == json.loads(config) and record["t3"]["epochs"] == []
        store.restart_trial("s1.t2")
        assert store.epochs("s1.t2") == [] and store.trial("s1.t2")["checkpoint_path"] is None


def test_store_marks_diverged_trials_and_keeps_the_mark(tmp_path):
    with _store_with_trial(tmp_path) as store:
        store.record_epoch(trial_id=T1, result={"epoch": 1, "train_loss": math.nan, "diverged": True})
        store.end_trial(T1, status="finished")
        assert store.trial("t1")["status"] == "diverged"
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_trial_is_a_harness_error(tmp_path):
    with _store_with_trial(tmp_path) as store, pytest.raises(HarnessError, match="'nope'"):
        store.trial("nope")


def test_rank_puts_unrankable_trials_last():
    from harness.results.ranking import rank

    rows = [
        {"id": "a", "status": "finished", "best_metric": 0.5},
        {"id": "b", "status": "diverged", "best_metric": 0.9},  # a lucky epoch before the NaN
        {"id": "c", "status": "finished", "best_metric": 0.8},
        {"id": "d", "status": "running", "best_metric": None},
    ]
    assert [r["id"] for r in rank(rows, mode="max")] == ["c", "a", "b", "d"]
    assert [r["id"] for r in rank(rows, mode="min")][:2] == ["a", "c"]


def test_boards_number_their_rows_and_a_grouped_board_shows_no_seed(tmp_path):
    from harness.results.leaderboard import leaderboards

    with _store_with_trial(tmp_path) as store:
        config = {"task": "digits", "arch": "mlp", "optimizer": "adam", "lr": 0.1, "batch_size": 8, "epochs": 3}
        store.start_trial(trial_id="t2", sweep_id="s1", config={**config, "seed": 1})
        for trial, acc in ((T1, 0.5), ("s1.t2", 0.7)):
            store.record_epoch(trial_id=trial, result={"epoch": 1, "val_acc": acc, "samples_per_s": 10.0})
            store.end_trial(trial, status="finished")
        (board,) = leaderboards(store, group=False)
        assert [(r["rank"], r["trial_id"], r["seed"], r["trial"]) for r in board["rows"]] == [
            (1, "s1.t2", 1, "t2"),
            (2, T1, 0, "t1"),
        ]
        assert leaderboards(store)[0] == leaderboards(store, group=True)[0]  # two seeds: grouped by default
        (board,) = leaderboards(store, group=True)
        (row,) = board["rows"]
        assert (row["rank"], row["trial_id"], row["seed"], row["n_seeds"]) == (1, "s1.t2", None, 2)
        assert row["best_metric"] == pytest.approx(0.6) and row["trial_ids"] == "s1.t2 s1.t1"


def test_a_board_rows_keys_are_the_json_and_csv_columns_in_their_order():
    from harness.results.boards import FIELDS, BoardRow
    from harness.views.leaderboard import boards_csv

    # The JSON of `harness leaderboard` and the CSV header follow this order: changing it breaks readers.
    assert (
        FIELDS
        == tuple(BoardRow.__annotations__)
        == (
            "rank",
            "trial_id",
            "arch",
            "optimizer",
            "lr",
            "batch_size",
            "epochs_run",
            "seed",
            "n_seeds",
            "best_metric",
            "best_metric_std",
            "best_ci95_low",
            "best_ci95_high",
            "test_metric",
            "test_metric_std",
            "ci95_low",
            "ci95_high",
            "ci95_method",
            "vs_best",
            "vs_best_p",
            "mean_epoch_time_s",
            "mean_samples_per_s",
            "params",
            "time_to_target_s",
            "cpu_s",
            "gpu_s",
            "cpu_s_to_target",
            "gpu_s_to_target",
            "status",
            "onnx",
            "onnx_ms",
            "onnx_speedup",
            "onnx_speedup_clear",
            "int8_change",
            "onnx_runtimes",
            "fastest",
            "trial_ids",
            "variant",
            "image_size",
            "train_limit",
            "planned_epochs",
            "marks",
            "data",
            "trial",
            "device",
            "gpu_ids",
            "precision",
        )
    )
    assert boards_csv([]).strip() == ",".join(("task", *FIELDS))


def test_fitted_table_drops_the_least_important_columns():
    from harness.views.tables import fitted_table

    columns = [("name", "left", 9), ("extra", "left", 1), ("value", "right", 8)]
    rows = [["alpha", "x" * 30, "1.0"]]
    narrow = fitted_table("t", columns, rows, width=30)
    assert [c.header for c in narrow.columns] == ["name", "value"]
    wide = fitted_table("t", columns, rows, width=200)
    assert [c.header for c in wide.columns] == ["name", "extra", "value"]


def test_a_version_1_store_is_upgraded_in_place_and_keeps_its_rows(tmp_path):
    import sqlite3

    from harness.store.schema import PROBES, SCHEMA, SCHEMA_VERSION

    added = (
        "extra_json",
        "config_json",
        "best_epoch",
        "test_json",
        "quantize",
        "traceback",
        "ray_id",
        "sha256",
        "INDEX",
        "device",
        "gpu_ids",
        "precision",
        "cpu_s",
        "gpu_s",
        "notes",
    )  # columns (and the index) of versions 2 to 8 and 10; the probes table is version 9's
    v1 = "\n".join(line for line in SCHEMA.removesuffix(PROBES).splitlines() if not any(c in line for c in added))
    conn = sqlite3.connect(tmp_path / "harness.db")
    conn.executescript(v1)
    conn.execute("INSERT INTO sweeps VALUES ('s1', 'digits', 'finished', 'then', NULL, 0, 'harness sweep', '{}', '{}')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Store.create(tmp_path) as store:
        assert "extra_json" in [r["name"] for r in store._rows("PRAGMA table_info(epochs)")]
        assert {"config_json", "best_epoch", "test_json", "traceback"} <= {
            r["name"] for r in store._rows("PRAGMA table_info(trials)")
        }
        assert "quantize" in [r["name"] for r in store._rows("PRAGMA table_info(exports)")]
        assert {"device", "gpu_ids", "precision"} <= {r["name"] for r in store._rows("PRAGMA table_info(trials)")}
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 10
        assert store.sweep("s1")["task"] == "digits"
        assert store.counts()["probes"] == 0 and store.probes("s1.none") == []


def test_an_epoch_under_autocast_and_channels_last_runs_on_cpu():
    """The CUDA code path (autocast around the forward, channels_last) exercised with CPU bf16."""
    from harness.engine.device import Placement

    where = Placement(torch.device("cpu"), torch.bfloat16, True)
    data = load_task("digits")
    torch.manual_seed(0)
    model = where.model(create_model("cnn_small", in_shape=(1, 8, 8), num_outputs=10))
    opt = create_optimizer("adam", model.parameters(), lr=0.003)
    norm = Normalizer(*get_task("digits").pixel_stats(), torch.device("cpu"))
    tx, ty = torch.from_numpy(data.train.images), torch.from_numpy(data.train.labels)
    stats = train_one_epoch(
        model=model,
        objective=OBJECTIVES["logits"],
        optimizer=opt,
        images=tx,
        labels=ty,
        batch_size=64,
        normalize=norm,
        generator=torch.Generator().manual_seed(0),
        placement=where,
    )
    val = evaluate(
        model=model,
        objective=OBJECTIVES["logits"],
        images=torch.from_numpy(data.val.images),
        labels=torch.from_numpy(data.val.labels),
        batch_size=256,
        normalize=norm,
        placement=where,
    )
    assert math.isfinite(stats["loss"]) and val["acc"] > 0.5


def test_show_lists_the_largest_confusions_when_a_matrix_is_too_big_to_print():
    from rich.console import Console

    from harness.results.show import normalise_rows, render_confusion

    n = 150
    counts = [[10 if t == p else 0 for p in range(n)] for t in range(n)]
    counts[3][7], counts[3][3] = 5, 5  # half of class 3 taken for class 7
    counts[9] = [0] * n  # a class with no test samples: its row is unknown, not zeros
    matrix = normalise_rows(counts)
    assert matrix[3][7] == 0.5 and matrix[9] == [None] * n
    assert all(sum(row) == pytest.approx(1.0) for t, row in enumerate(matrix) if t != 9)
    classes = [f"class{i}" for i in range(n)]
    out = Console(width=160, record=True)
    out.print(render_confusion({"confusion_normalised": matrix, "classes": classes, "test": {"epoch": 4}}))
    text = out.export_text()
    assert "largest confusions" in text and "class3" in text and "class7" in text and "0.50" in text
