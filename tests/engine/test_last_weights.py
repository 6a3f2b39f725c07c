"""The weights a trial ended with (issue 28): a report that printed its final epoch measured them,
so a trial whose last epoch was not its best keeps them beside its best checkpoint (last.pt),
scores them on the test split (test_json's "last"), and `harness probe --weights last` measures them.

Real Ray trials (the shared instance), real digits: learning rates high enough that validation
accuracy falls back after its best epoch in some of them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from harness.cli.main import main
from harness.datasets import get_task, load_task
from harness.engine.checkpoint import LAST_FILE, last_epoch_of, load_checkpoint
from harness.engine.train import Normalizer
from harness.store.db import Store

EPOCHS = 4


@pytest.fixture(scope="module")
def swept(ray_session, tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("last-weights")
    flags = ["--arch", "cnn_small", "--optimizer", "sgd", "--lr", "0.3,1,3", "--seed", "0,1"]
    flags += ["--epochs", str(EPOCHS), "--augment", "uni2022", "--precision", "fp32", "--no-export", "--no-live"]
    assert main(["sweep", *flags, "--results", str(results)]) == 0
    return results


def _trials(results: Path) -> list[dict]:
    with Store.existing(results) as store:
        return [dict(r) for r in store._rows("SELECT id, best_epoch, checkpoint_path, test_json FROM trials")]


def _test_acc(model: torch.nn.Module) -> float:
    task, test = get_task("digits"), load_task("digits").test
    mean, std = task.pixel_stats(None)
    x = Normalizer(mean, std, torch.device("cpu"))(torch.from_numpy(test.images))
    with torch.no_grad():
        return float((model(x).argmax(1) == torch.from_numpy(test.labels)).float().mean())


def test_a_trial_past_its_best_keeps_its_last_weights_and_scores_them(swept):
    trials = _trials(swept)
    past = [t for t in trials if t["best_epoch"] != EPOCHS]
    assert past, "no trial's validation accuracy fell after its best epoch: raise the learning rates"
    for trial in trials:
        scores = json.loads(trial["test_json"])
        assert scores["epoch"] == trial["best_epoch"] and scores["last"]["epoch"] == EPOCHS
        folder = Path(trial["checkpoint_path"])
        if trial["best_epoch"] == EPOCHS:  # the best weights are the last: nothing kept twice
            assert not (folder / LAST_FILE).exists() and scores["last"]["acc"] == scores["acc"]
            continue
        assert last_epoch_of(folder) == EPOCHS
        best, _, ckpt = load_checkpoint(folder)
        last, _, last_ckpt = load_checkpoint(folder, weights="last")
        assert (ckpt["epoch"], last_ckpt["epoch"]) == (trial["best_epoch"], EPOCHS)
        assert _test_acc(best) == pytest.approx(scores["acc"]) and _test_acc(last) == pytest.approx(
            scores["last"]["acc"]
        )


def test_probe_weights_last_measures_them_and_says_so(swept, capsys):
    trial = next(t for t in _trials(swept) if t["best_epoch"] != EPOCHS)
    capsys.readouterr()
    argv = ["probe", trial["id"], "augmented-test", "--weights", "last", "--results", str(swept)]
    assert main([*argv, "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["detail"]["weights"] == f"last epoch {EPOCHS}"
    assert record["baseline"] == json.loads(trial["test_json"])["last"]["acc"]  # the same weights' clean figure
    assert main(argv[:-2] + ["--results", str(swept)]) == 0
    assert f"last epoch {EPOCHS} weights;" in capsys.readouterr().out


def test_probe_weights_last_refuses_a_trial_that_kept_none(swept, tmp_path, capsys):
    """A store from before the harness kept them: the last weights are not the best, and are gone."""
    copy = tmp_path / "results"
    shutil.copytree(swept, copy)
    trial = next(t for t in _trials(swept) if t["best_epoch"] != EPOCHS)
    with Store.existing(copy, writer=True) as store:
        store.set_checkpoint(trial["id"], str(copy / "kept"))
    shutil.copytree(trial["checkpoint_path"], copy / "kept")
    (copy / "kept" / LAST_FILE).unlink()
    capsys.readouterr()
    assert main(["probe", trial["id"], "augmented-test", "--weights", "last", "--results", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"kept no weights of its last epoch {EPOCHS}" in err
