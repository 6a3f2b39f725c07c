"""Hostile input, class 5 (issue 13): every value and path is checked before Ray starts, so a
mistake is one line, exit 2, and nothing written: numbers that are not positive or finite,
output folders, the cache folder and a store that cannot be written, sweep-file values of the
wrong type."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hostile import folder_state, refused

from harness.cli.main import main


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--cpus-per-trial", "0"], "--cpus-per-trial 0.0 is not a positive number of CPUs"),
        (["--cpus-per-trial", "nan"], "--cpus-per-trial nan is not a positive number"),
        (["--gpus-per-trial", "-1"], "--gpus-per-trial -1.0 is not a GPU share"),
        (["--gpus-per-trial", "inf"], "--gpus-per-trial inf is not a GPU share"),
        (["--lr", "inf"], "learning rate inf is not a positive finite number"),
        (["--weight-decay", "inf"], "weight decay inf is not a finite number"),
        (["--time-budget", "inf"], "time budget inf s is not a finite number"),
        (["--lr-range", "1e-4:inf", "--search", "random"], "is not 0 < low < high"),
    ],
)
def test_bad_numbers_are_one_line_before_ray(swept_copy, capsys, flags, expected):
    before = folder_state(swept_copy)
    assert expected in refused(capsys, ["sweep", *flags, "--results", str(swept_copy)])
    assert folder_state(swept_copy) == before


def _blocked(tmp_path: Path) -> Path:
    """A path no one can write, root included: a folder inside a regular file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where a folder should be")
    return blocker / "folder"


def test_unwritable_output_paths_are_one_line(swept_copy, tmp_path, capsys):
    before = folder_state(swept_copy)
    blocked = _blocked(tmp_path)
    assert "--storage folder" in refused(capsys, ["sweep", "--storage", str(blocked), "--results", str(swept_copy)])
    assert "--out folder" in refused(capsys, ["export", "--out", str(blocked), "--results", str(swept_copy)])
    assert "--out folder" in refused(capsys, ["export", "--out", str(blocked / "m.onnx"), "--results", str(swept_copy)])
    trial = next(iter(_trial_ids(swept_copy)))
    assert "--png folder" in refused(capsys, ["show", trial, "--png", str(blocked), "--results", str(swept_copy)])
    assert folder_state(swept_copy) == before


def _trial_ids(results: Path) -> list[str]:
    from harness.store.db import Store

    with Store.existing(results) as store:
        return [r["id"] for r in store._rows("SELECT id FROM trials")]


def test_an_unwritable_cache_folder_is_one_line(tmp_path, shared_data, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(_blocked(tmp_path)))
    err = refused(
        capsys,
        [
            "sweep",
            "--task",
            "cifar10",
            "--arch",
            "mlp",
            "--data-dir",
            str(shared_data),
            "--results",
            str(tmp_path / "r"),
        ],
    )
    assert "the decoded-data cache folder" in err and "HARNESS_CACHE_DIR" in err
    assert not (tmp_path / "r" / "harness.db").exists()


def test_a_read_only_store_is_refused_before_ray_starts(swept_copy, capsys):
    db = swept_copy / "harness.db"
    subprocess.run(["chattr", "+i", str(db)], check=True)  # read-only even for root
    try:
        before = folder_state(swept_copy)
        err = refused(capsys, ["sweep", "--epochs", "1", "--results", str(swept_copy)])
        assert f"results store '{db}' cannot be written" in err
        assert folder_state(swept_copy) == before
        capsys.readouterr()
        assert main(["leaderboard", "--results", str(swept_copy), "--format", "json"]) == 0  # reading still works
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'max_concurrent = "2"\n', "max_concurrent = '2' is not int"),
        (b"time_budget_s = true\n", "time_budget_s = True is not float"),
        (b'lr_range = "1e-4:1e-1"\n', "is not a list of 2 floats"),
        (b"image_size = 64.5\n", "image_size = 64.5 is not int"),
        (b"data_dir = 7\n", "data_dir = 7 is not str"),
        (b'task = "\xff\xfe"\n', "is not valid TOML"),
    ],
)
def test_sweep_file_values_of_the_wrong_type_are_one_line(swept_copy, tmp_path, capsys, content, expected):
    config = tmp_path / "sweep.toml"
    config.write_bytes(content)
    before = folder_state(swept_copy)
    assert expected in refused(capsys, ["sweep", "--config", str(config), "--results", str(swept_copy)])
    assert "is a folder, not a file" in refused(
        capsys, ["sweep", "--config", str(tmp_path), "--results", str(swept_copy)]
    )
    assert folder_state(swept_copy) == before
