"""`harness sweep --preset speedrun-cifar10` end to end through Ray and the store, on a tiny
budget: one trial, its techniques in its config, flip TTA on its test scores."""

from __future__ import annotations

import json

import pytest

from harness.cli.main import main
from harness.config.presets import SPEEDRUNS, preset_sweeps
from harness.store.db import Store

pytestmark = pytest.mark.ray


def test_the_speed_preset_is_one_trial_of_the_recipe():
    (sweep,) = preset_sweeps("speedrun-cifar10", {"epochs": 1})
    recipe = SPEEDRUNS["speedrun-cifar10"].recipes[0].spec
    assert sweep.validate().num_trials == 1 and sweep.epochs == 1  # a flag wins over the preset
    assert (sweep.task, sweep.variant, sweep.archs) == ("cifar10", "report", recipe.archs)
    techniques = (sweep.label_smoothing, sweep.lr_schedule, sweep.averaging, sweep.tta, sweep.precision)
    assert techniques == (0.2, "triangle", "lookahead", "flip", "bf16")


def test_the_speed_preset_runs_and_records_its_techniques(ray_session, tmp_path, shared_data, capsys):
    flags = ["--epochs", "1", "--train-limit", "256", "--eval-limit", "256", "--data-dir", str(shared_data)]
    flags += ["--no-export", "--no-live", "--results", str(tmp_path)]
    code = main(["sweep", "--preset", "speedrun-cifar10", *flags])
    assert code == 0, capsys.readouterr().err
    with Store.existing(tmp_path) as store:
        (trial,) = store._rows("SELECT * FROM trials")
        (epoch,) = store._rows("SELECT * FROM epochs")
    config = json.loads(trial["config_json"])
    assert config["arch"] == "airbench_cpu" and config["tta"] == "flip" and config["averaging"] == "lookahead"
    assert config["label_smoothing"] == 0.2 and config["lr_schedule"] == "triangle"
    assert config["precision"] == "bf16" and trial["precision"] == "bf16"  # what it asked for, and ran
    test = json.loads(trial["test_json"])
    assert test["tta"] == ["identity", "hflip"] and 0 <= test["acc_without_tta"] <= 1 and test["n"] == 10_000
    assert epoch["epoch_time_s"] > 0
