"""Failure is loud (issue 12): paths resolved on the driver, a sweep's status and exit code say
what happened, failed trials keep their whole error report in the store, a request no node can
hold is refused up front, and neither Ray nor Optuna writes to the terminal on its own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.store.db import Store
from harness.store.rows import SweepRow


def _trials(results: Path) -> list[dict]:
    with Store.existing(results) as store:
        return store._rows("SELECT * FROM trials ORDER BY id")


def _sweep(results: Path) -> SweepRow:
    with Store.existing(results) as store:
        return store.sweep()


def test_a_relative_data_dir_from_another_working_folder(ray_session, tmp_path, shared_data, monkeypatch, capsys):
    """Trials run in Ray's own working folder: `--data-dir data` must mean the driver's ./data."""
    (tmp_path / "data").symlink_to(shared_data)
    monkeypatch.chdir(tmp_path)
    flags = [
        "--task",
        "cifar10",
        "--arch",
        "mlp",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "1",
        "--train-limit",
        "100",
        "--no-export",
        "--no-live",
        "--format",
        "json",
    ]
    assert main(["sweep", *flags, "--data-dir", "data", "--results", "results"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "finished" and out["trials"] == {"finished": 1} and out["summary"] is None
    (trial,) = _trials(tmp_path / "results")
    assert trial["status"] == "finished" and json.loads(trial["config_json"])["data_dir"] == str(tmp_path / "data")
    # A relative HARNESS_DATA_DIR and HARNESS_RESULTS, the same way.
    monkeypatch.setenv("HARNESS_DATA_DIR", "data")
    monkeypatch.setenv("HARNESS_RESULTS", "results-env")
    assert main(["sweep", *flags]) == 0
    assert os.environ["HARNESS_DATA_DIR"] == str(tmp_path / "data")  # absolute for every Ray worker
    (trial,) = _trials(tmp_path / "results-env")
    assert trial["status"] == "finished" and json.loads(trial["config_json"])["data_dir"] == str(tmp_path / "data")
    board = out["leaderboards"][0]
    assert board["rows"][0]["marks"] == "subset 100"  # a quick check is marked as one
    assert all(ref["ours"] is None and "subset 100" in ref["closest_differs"] for ref in board["references"])


def test_a_sweep_file_reads_its_paths_relative_to_itself(ray_session, tmp_path, shared_data, monkeypatch):
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "data").symlink_to(shared_data)
    (folder / "sweep.toml").write_text(
        'task = "cifar10"\narchs = "mlp"\noptimizers = "adam"\nlrs = 0.01\n'
        'epochs = 1\ntrain_limit = 64\ndata_dir = "data"\n'
    )
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "--config", "experiments/sweep.toml", "--no-export", "--no-live", "--results", "r"]) == 0
    (trial,) = _trials(tmp_path / "r")
    assert json.loads(trial["config_json"])["data_dir"] == str(folder / "data")


def test_a_sweep_whose_every_trial_diverges_fails_with_one_summary_line(ray_session, tmp_path, capsys):
    code = main(
        [
            "sweep",
            "--arch",
            "mlp",
            "--optimizer",
            "sgd",
            "--lr",
            "1e8,1e9",
            "--epochs",
            "3",
            "--no-live",
            "--results",
            str(tmp_path),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: 0 of 2 trials finished: 2 diverged (the loss became NaN or infinite: try a smaller --lr)"
    assert len(err) == 3 and all("diverged after 1 epoch, best val_acc" in line for line in err[:-1])  # not "1 epochs"
    assert _sweep(tmp_path)["status"] == "failed"
    assert {t["status"] for t in _trials(tmp_path)} == {"diverged"}
    with Store.existing(tmp_path) as store:
        assert store.counts()["exports"] == 0  # nothing to export, and no claim that something was
    assert main(["sweeps", "--results", str(tmp_path), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "failed" and row["trials"] == {"diverged": 2} and row["best_metric"] is None


# A worker whose decode-once cache folder cannot be written: every trial fails there, while the
# driver (which prepared its own cache) saw nothing wrong. Ray's job environment gives the
# workers, and only them, that folder: a process of its own, since this one's Ray has no such environment.
FAILING_WORKERS = textwrap.dedent("""
    import logging, sys, ray
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR, runtime_env={"env_vars": {"HARNESS_CACHE_DIR": sys.argv[1]}})
    from harness.cli.main import main
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.slow
def test_a_sweep_whose_every_trial_errors_exits_non_zero_and_keeps_the_tracebacks(tmp_path, shared_data, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where a folder should be")
    results = tmp_path / "results"
    cmd = [
        sys.executable,
        "-c",
        FAILING_WORKERS,
        str(blocker / "cache"),
        "sweep",
        "--task",
        "cifar10",
        "--arch",
        "mlp",
        "--optimizer",
        "adam",
        "--lr",
        "0.01,0.1",
        "--epochs",
        "1",
        "--train-limit",
        "64",
        "--data-dir",
        str(shared_data),
        "--no-live",
        "--results",
        str(results),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    # progress lines, then exactly one summary line: no Ray ERROR line, no traceback
    assert [line for line in lines if not re.match(r"\[\d/2\] trial ", line)] == lines[-1:]
    assert lines[-1].startswith(
        "error: 0 of 2 trials finished: 2 error (first: HarnessError: the decoded-data cache folder "
    )
    assert str(blocker) in lines[-1] and "`harness show " in lines[-1]
    assert "Traceback" not in proc.stderr and "ERROR" not in proc.stderr
    assert _sweep(results)["status"] == "failed"
    trials = _trials(results)
    assert {t["status"] for t in trials} == {"error"}
    # the whole report: every frame down to the harness line that raised
    assert all("_cache.py" in t["traceback"] and "cannot be written" in t["traceback"] for t in trials)
    assert all("\x1b[" not in t["traceback"] for t in trials)  # stored without terminal colours
    trial_id = re.search(r"`harness show (\S+)`", lines[-1]).group(1)
    capsys.readouterr()
    assert main(["show", trial_id, "--results", str(results)]) == 0
    shown = capsys.readouterr().out
    assert "error report of trial" in shown and "cannot be written" in shown and "_cache.py" in shown


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--cpus-per-trial", "8"], "a trial asks for 8 CPU and 0 GPU, but this machine has 2 CPU and 0 GPU"),
        (["--gpus-per-trial", "1"], "a trial asks for 1 CPU and 1 GPU, but this machine has 2 CPU and 0 GPU"),
    ],
)
def test_a_request_no_node_can_hold_is_refused_before_anything_is_written(
    ray_session, tmp_path, capsys, flags, expected
):
    capsys.readouterr()
    assert main(["sweep", *flags, "--no-live", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "--cpus-per-trial <= 2" in err
    assert not (tmp_path / "harness.db").exists()


def test_a_cluster_that_may_grow_waits_with_a_visible_line():
    from harness.errors import HarnessError
    from harness.sweeps.cluster import check_resources

    nodes = [{"CPU": 2.0, "GPU": 0.0}, {"CPU": 16.0, "GPU": 0.0}, {"CPU": 4.0, "GPU": 1.0}]
    assert check_resources({"cpu": 8, "gpu": 0}, nodes, may_grow=False) is None  # the 16-CPU node holds it
    assert check_resources({"cpu": 4, "gpu": 0.25}, nodes, may_grow=False) is None
    with pytest.raises(HarnessError, match="the largest node of this cluster has 4 CPU and 1 GPU"):
        check_resources({"cpu": 8, "gpu": 1}, nodes, may_grow=False)  # CPUs and GPU on one node
    line = check_resources({"cpu": 8, "gpu": 1}, nodes, may_grow=True)
    assert line == "waiting for resources: need 8 CPU and 1 GPU per trial, largest node has 4 CPU and 1 GPU"


@pytest.mark.slow
def test_optuna_and_asha_count_every_ended_trial_and_print_nothing_of_their_own(tmp_path):
    # A subprocess: "nothing of their own" is about the whole stderr of the command's process, where Ray's
    # and Optuna's handlers would write, which in-process capture would not see in full.
    cmd = [
        sys.executable,
        "-m",
        "harness",
        "sweep",
        "--arch",
        "mlp",
        "--optimizer",
        "adam",
        "--lr-range",
        "1e-5:1e-1",
        "--search",
        "optuna",
        "--num-samples",
        "4",
        "--scheduler",
        "asha",
        "--max-concurrent",
        "1",
        "--epochs",
        "4",
        "--no-export",
        "--no-live",
        "--results",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert [line[:5] for line in lines] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"], proc.stderr  # nothing else
    assert all(re.search(r": (finished|stopped) after \d epochs?, best val_acc", line) for line in lines)
    statuses = {t["status"] for t in _trials(tmp_path)}
    assert statuses <= {"finished", "stopped"}


def test_error_summary_names_the_exception_without_its_module():
    from harness.sweeps.outcome import error_summary

    report = (
        'Failure # 1\nray::ImplicitFunc.train() (pid=1)\nTraceback (most recent call last):\n  File "x.py"\n'
        "harness.datasets._registry.MissingData: cifar10 (report) not found under /d (put the files there)\n"
    )
    assert error_summary(report) == "MissingData: cifar10 (report) not found under /d (put the files there)"
    assert error_summary("ray.exceptions.RayTaskError(ValueError): boom") == "RayTaskError: boom"
    assert error_summary("") == "unknown error"


def test_the_summary_line_says_what_kept_trials_from_training():
    from harness.kinds import SweepStatus
    from harness.sweeps.outcome import Outcome

    def line(**trials: int) -> str | None:
        counts = {k.replace("_", " "): v for k, v in trials.items()}
        usable = counts.get("finished", 0) + counts.get("stopped", 0)
        return Outcome(
            sweep_id="s", status=SweepStatus.FINISHED, tasks=("digits",), trials=counts, usable=usable, first_error=None
        ).summary()

    assert line(finished=3, stopped=1) is None
    assert line(stopped_before_an_epoch=1) == (
        "0 of 1 trial finished: 1 stopped before an epoch (the time budget ran out first: raise --time-budget)"
    )
    assert line(finished=1, diverged=2).startswith("1 of 3 trials finished: 2 diverged (the loss became NaN")


def test_the_done_counter_counts_trials_asha_stopped():
    """The live display's "k/N trials done" counts every ended status, ASHA's "stopped" included,
    and each status has its colour; an interrupted or running trial is not done."""
    from harness.kinds import Mode, Status
    from harness.views.console import STATUS_STYLE, SweepDisplay, err_console

    assert set(Status) <= set(STATUS_STYLE)
    display = SweepDisplay(title="t", total=5, metric="val_acc", mode=Mode.MAX, live=False)
    config = {"arch": "mlp", "optimizer": "adam", "lr": 0.01, "epochs": 4}
    ends = [  # (epochs run, how it ended)
        (4, Status.FINISHED),
        (1, Status.STOPPED),  # ASHA stopped it at the first rung
        (2, Status.STOPPED),
        (1, Status.INTERRUPTED),
        (3, None),  # still running
    ]
    with err_console.capture() as captured:
        for i, (epochs, status) in enumerate(ends):
            display.trial_started(f"t{i}", config)
            for epoch in range(1, epochs + 1):
                display.trial_result(f"t{i}", {"epoch": epoch, "val_acc": 0.5 + 0.1 * epoch - 0.01 * i})
            if status:
                display.trial_ended(f"t{i}", status)
    lines = captured.get().strip().splitlines()
    assert [line[:5] for line in lines] == ["[1/5]", "[2/5]", "[3/5]", "[3/5]"], lines
    assert lines[1].endswith(": stopped after 1 epoch, best val_acc 59.00%")  # as the board prints it
    assert lines[2].endswith(": stopped after 2 epochs, best val_acc 68.00%")
    assert "interrupted after 1 epoch" in lines[3]
    assert display.render().caption == "3/5 trials done"


def test_the_live_display_draws_at_its_refresh_only_the_rows_that_fit(monkeypatch):
    """On a terminal the live table is drawn by rich's refresh from the rows, not at each event,
    and shows the latest trials that fit the screen; the last frame, left on it, shows them all."""
    import io

    from rich.console import Console

    import harness.views.console
    from harness.kinds import Mode, Status
    from harness.views.console import SweepDisplay

    screen = Console(file=io.StringIO(), force_terminal=True, width=160, height=30)
    monkeypatch.setattr(harness.views.console, "console", screen)
    config = {"arch": "mlp", "optimizer": "adam", "lr": 0.01, "epochs": 1}
    with SweepDisplay(title="t", total=200, metric="val_acc", mode=Mode.MAX) as display:
        assert display.live is not None
        for i in range(200):
            display.trial_started(f"t{i:03d}", config)
            display.trial_result(f"t{i:03d}", {"epoch": 1, "val_acc": 0.5})
            display.trial_ended(f"t{i:03d}", Status.FINISHED)
        frame = display._frame()
        assert frame.row_count == 30 - 7 and frame.caption == "200/200 trials done, the latest 23 of 200 shown"
        assert display.render().row_count == 200
    assert display._frame().row_count == 200  # the last frame
