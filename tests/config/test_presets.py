"""Presets per report: the first trial of every preset sweep is the report's recipe; `reproduce`
runs a recipe end to end and prints ours beside the published figure."""

from __future__ import annotations

import json

import pytest

from harness.cli.main import main
from harness.config.presets import PRESETS, preset_sweeps, recipe_spec

REPORTS = ("uni2022-catsdogs", "uchile2020-cifar10", "itesm2022-catsdogs", "uni2022-pokemon", "itam2020-catsdogs-mnist")


def test_every_report_has_a_preset():
    assert set(PRESETS) == set(REPORTS)


@pytest.mark.parametrize("report", REPORTS)
def test_a_preset_sweep_starts_with_the_recipe_and_validates(report):
    sweeps = preset_sweeps(report, {})
    recipes = PRESETS[report].recipes
    firsts = {(s.task, s.archs[0], s.optimizers[0], s.lrs[0], s.batch_sizes[0], s.epochs) for s in sweeps}
    for recipe in recipes:
        one = recipe_spec(recipe, {}).validate()
        assert one.num_trials == 1
        in_a_sweep = [
            s
            for s in sweeps
            if one.archs[0] in s.archs
            and s.task == one.task
            and (s.variant, s.image_size) == (one.variant, one.image_size)
        ]
        assert in_a_sweep, recipe.label
        s = in_a_sweep[0]
        assert (s.optimizers[0], s.lrs[0], s.batch_sizes[0], s.epochs) == (
            one.optimizers[0],
            one.lrs[0],
            one.batch_sizes[0],
            one.epochs,
        )
    assert all(s.validate() and s.num_trials > 1 for s in sweeps)  # a space around the recipe, not just it
    assert firsts


def test_the_uchile_recipe_is_the_reports():
    (sweep,) = preset_sweeps("uchile2020-cifar10", {"epochs": 2})
    assert sweep.archs[:2] == ("vgg8_bn", "vgg4_bn") and sweep.variant == "report"
    assert (sweep.optimizers[0], sweep.lrs[0], sweep.batch_sizes, sweep.augment, sweep.pixels) == (
        "adam",
        0.001,
        (32,),
        "none",
        "raw",
    )
    assert sweep.epochs == 2  # a user's flag wins over the preset


def test_unknown_report_is_one_line(capsys):
    assert main(["reproduce", "mit2019-imagenet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "uchile2020-cifar10" in err
    assert main(["sweep", "--preset", "nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_reproduce_runs_the_recipe_and_sets_ours_beside_the_published(ray_session, tmp_path, shared_data, capsys):
    argv = [
        "reproduce",
        "uni2022-catsdogs",
        "--epochs",
        "1",
        "--train-limit",
        "64",
        "--data-dir",
        str(shared_data),
        "--results",
        str(tmp_path),
        "--no-live",
        "--format",
        "json",
    ]
    assert main(argv) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["published"] == 0.8615 and row["measure"] == "test accuracy" and row["arch"] == "cnn4_bn_mlp"
    assert 0.0 <= row["ours"] <= 1.0 and row["ours"] == pytest.approx(row["ours_test"], abs=1e-9)
    assert "test set too" in row["notes"]
    assert (
        row["quick_check"] == "subset 64, 1 of 20 epochs" and row["status"] == "finished"
    )  # never a full reproduction
    # `compare` finds that stored trial, without training anything, and says it is not a run of the recipe
    assert main(["compare", "uni2022-catsdogs", "--results", str(tmp_path), "--format", "json"]) == 0
    (compared,) = json.loads(capsys.readouterr().out)
    assert compared["trial_id"] is None and compared["ours"] is None and compared["status"] == "no matching run"
    assert compared["closest_trial_id"] == row["trial_id"] and compared["closest"] == pytest.approx(row["ours"])
    assert compared["closest_differs"] == "subset 64; 1 of 20 epochs"
    assert compared["published"] == 0.8615 and compared["best_arch"] is None
    assert main(["compare", "uni2022-catsdogs", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "86.15%" in out and "no matching run" in out and "subset 64" in out
    assert main(["compare", "uni2022-nope", "--results", str(tmp_path)]) == 2
    assert "unknown report" in capsys.readouterr().err
