"""Seed replicates (`--repeats N`) on real Ray: a grid and a random search run every
configuration N times with derived seeds, Optuna is fed the mean over a configuration's seeds
through Ray Tune's Repeater (and never tunes the seed), boards group replicates by default,
and the combination Repeater cannot serve is refused before Ray starts."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from hostile import plant_pickles

from harness.cli.main import main
from harness.config.replicates import SEED_STEP, replicate_config, replicate_seed
from harness.config.spec import SweepSpec
from harness.errors import HarnessError
from harness.store.db import Store
from harness.sweeps.plan import param_space, search_algorithm

QUICK = ["--arch", "mlp", "--epochs", "1", "--train-limit", "200", "--no-export", "--no-live"]


def _trials(results: Path) -> list[dict]:
    with Store.existing(results) as store:
        rows = store._rows("SELECT * FROM trials ORDER BY id")
    return [{**t, "config": json.loads(t["config_json"])} for t in rows]


def _board(results: Path, capsys, *flags: str) -> dict:
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(results), "--format", "json", *flags]) == 0
    (board,) = json.loads(capsys.readouterr().out)
    return board


def _by_configuration(trials: list[dict]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for t in trials:
        groups[(t["optimizer"], t["lr"])].append(t)
    return groups


def test_derived_seeds_keep_replicate_0_and_differ_for_the_others():
    assert replicate_seed(7, 0) == 7 and replicate_seed(7, 2) == 7 + 2 * SEED_STEP
    assert replicate_config(base=7, replicate=0, repeats=1) == {"seed": 7}  # no repeats: as before
    assert replicate_config(base=7, replicate=1, repeats=3) == {"base_seed": 7, "replicate": 1, "seed": 7 + SEED_STEP}
    seeds = {replicate_seed(b, r) for b in range(3) for r in range(4)}
    assert len(seeds) == 12


def test_repeats_multiply_the_trials_and_optuna_never_searches_the_seed():
    grid = SweepSpec(archs=("mlp",), optimizers=("adam",), lrs=(0.1, 0.01), seeds=(0, 1), repeats=3)
    assert grid.num_trials == 2 * 2 * 3 and grid.replicates == 6
    random = SweepSpec(search="random", seeds=(0, 1), num_samples=4, repeats=3)
    assert random.num_trials == 12 and random.replicates == 3  # a random draw picks one seed
    optuna = SweepSpec(search="optuna", seeds=(0, 1), num_samples=4, repeats=3)
    assert optuna.num_trials == 4 * 6 and optuna.replicates == 6
    space = param_space(optuna)
    assert not {"seed", "base_seed", "replicate"} & set(space) and "arch" in space
    assert search_algorithm(optuna).repeat == 6  # Ray Tune's Repeater, one group per configuration


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--search", "optuna", "--scheduler", "asha", "--repeats", "2"], ["2 seeds", "--scheduler fifo"]),
        (["--search", "optuna", "--scheduler", "asha", "--seed", "0,1"], ["2 seeds", "--scheduler fifo"]),
        (["--repeats", "0"], ["repeats 0 is below 1"]),
    ],
)
def test_what_repeater_cannot_serve_is_one_line_and_writes_nothing(flags, expected, tmp_path, capfd):
    capfd.readouterr()
    assert main(["sweep", *flags, "--results", str(tmp_path)]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert all(text in err for text in expected), err
    assert not (tmp_path / "harness.db").exists()


def test_asha_with_replicates_is_fine_where_each_replicate_is_its_own_trial():
    for search in ("grid", "random"):
        SweepSpec(search=search, scheduler="asha", repeats=3).validate()
    SweepSpec(search="optuna", scheduler="asha").validate()  # one seed, no repeats: no group to average


def test_the_sweep_file_key(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text('archs = ["mlp"]\nrepeats = 2\n')
    spec = SweepSpec.from_toml(str(config), {})
    assert spec.repeats == 2 and spec.num_trials == 2 * 2 * 2  # optimizers x lrs x repeats
    assert SweepSpec.from_toml(str(config), {"repeats": 5}).repeats == 5  # the flag wins
    config.write_text('repeats = "2"\n')
    with pytest.raises(HarnessError, match="repeats = '2' is not int"):
        SweepSpec.from_toml(str(config), {})


def test_a_grid_runs_each_configuration_with_derived_seeds_grouped_on_the_board(ray_session, tmp_path, capsys):
    argv = ["sweep", *QUICK, "--optimizer", "adam", "--lr", "0.01,0.03", "--repeats", "3", "--results", str(tmp_path)]
    assert main(argv) == 0
    trials = _trials(tmp_path)
    assert len(trials) == 2 * 3
    for members in _by_configuration(trials).values():
        assert sorted(t["seed"] for t in members) == [0, SEED_STEP, 2 * SEED_STEP]
        assert sorted((t["config"]["replicate"], t["config"]["base_seed"]) for t in members) == [(0, 0), (1, 0), (2, 0)]
        assert all(t["config"]["seed"] == t["seed"] for t in members)  # the store says which replicate ran
    board = _board(tmp_path, capsys)  # grouped by default
    assert board["grouped"] and [row["n_seeds"] for row in board["rows"]] == [3, 3]
    for row in board["rows"]:
        members = [t for t in trials if t["id"] in row["trial_ids"].split()]
        assert len({t["lr"] for t in members}) == 1 and len(members) == 3
    single = _board(tmp_path, capsys, "--no-group-seeds")
    assert not single["grouped"] and len(single["rows"]) == 6
    assert _board(tmp_path, capsys, "--group-seeds") == board


def test_a_random_search_from_a_sweep_file_repeats_each_draw(ray_session, tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text('search = "random"\nnum_samples = 2\nrepeats = 2\nlr_range = [1e-4, 1e-1]\nseeds = [3]\n')
    argv = ["sweep", "--config", str(config), *QUICK, "--optimizer", "adam,sgd", "--results", str(tmp_path / "r")]
    assert main(argv) == 0
    groups = _by_configuration(_trials(tmp_path / "r"))
    assert len(groups) == 2  # two draws, each kept for both replicates (not redrawn per replicate)
    for members in groups.values():
        assert sorted(t["seed"] for t in members) == [3, 3 + SEED_STEP]


def test_optuna_is_fed_the_mean_over_each_configurations_seeds(ray_session, tmp_path):
    results = tmp_path / "results"
    argv = ["sweep", *QUICK, "--search", "optuna", "--optimizer", "adam,sgd", "--lr-range", "1e-4:1e-1"]
    assert main([*argv, "--num-samples", "3", "--repeats", "2", "--seed", "5", "--results", str(results)]) == 0
    trials = _trials(results)
    groups = _by_configuration(trials)
    assert len(trials) == 6 and len(groups) == 3  # Repeater: each suggestion runs twice, as it was suggested
    for members in groups.values():
        assert sorted(t["seed"] for t in members) == [5, 5 + SEED_STEP]
        assert all("__trial_index__" not in t["config"] for t in members)
    # Optuna's study as Tune saved it (every step, for Optuna sweeps): one trial per configuration,
    # its value the mean of its replicates' last validation accuracy, and no seed among its params.
    (state,) = (results / "ray").glob("*/searcher-state-*.pkl")
    study = pickle.loads(state.read_bytes())["_ot_study"]
    assert len(study.trials) == 3
    with Store.existing(results) as store:
        last = {t["id"]: store.epochs(t["id"])[-1]["val_acc"] for t in trials}  # the result Tune hands Repeater
    means = {key: statistics.fmean(last[t["id"]] for t in members) for key, members in groups.items()}
    for told in study.trials:
        assert "seed" not in told.distributions and "seed" not in told.params
        assert told.value == pytest.approx(means[(told.params["optimizer"], told.params["lr"])])


@pytest.mark.slow
def test_a_driver_killed_inside_a_group_resumes_and_optuna_gets_the_whole_mean(ray_session, tmp_path):
    # A subprocess: the driver is killed (SIGKILL) while a configuration's second replicate trains,
    # its first one finished; in its own process group, so the Ray it started can be cleaned up.
    results = tmp_path / "results"
    # Epochs of a second or so, as in the other killed-driver test: with epochs of milliseconds the
    # kill can land between a trial's start and Tune's next save of its state, which then does not
    # know the trial (a resume runs its replicate under a new id and the store keeps an orphan).
    argv = ["sweep", "--arch", "cnn_small", "--search", "optuna", "--optimizer", "adam,sgd", "--lr-range", "1e-4:1e-1"]
    argv += ["--num-samples", "2", "--repeats", "2", "--epochs", "6", "--max-concurrent", "1", "--no-export"]
    cmd = [sys.executable, "-m", "harness", *argv, "--no-live", "--results", str(results)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(results / "harness.db", "SELECT COUNT(*) FROM trials WHERE status = 'finished'")
        _wait_for(
            results / "harness.db",
            "SELECT COUNT(*) FROM epochs e JOIN trials t ON t.id = e.trial_id WHERE t.status = 'running'",
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert sorted(t["status"] for t in _trials(results)) == ["finished", "running"]  # killed inside the group
    # Optuna's state as Tune pickled it is planted over: the resume learns the group from the store
    marker = tmp_path / "planted-code-ran"
    assert plant_pickles(results / "ray", marker) >= 2  # tuner.pkl and the searcher's state at least
    assert main(["sweep", "--resume", "--no-export", "--no-live", "--results", str(results)]) == 0
    assert not marker.exists()
    trials = _trials(results)
    with Store.existing(results) as store:
        epochs = {t["id"]: store.epochs(t["id"]) for t in trials}
    assert len(trials) == 4 and all([e["epoch"] for e in epochs[t["id"]]] == list(range(1, 7)) for t in trials)
    groups = _by_configuration(trials)
    state = max((results / "ray").glob("*/searcher-state-*.pkl"), key=lambda p: p.stat().st_mtime)  # the resumed run's
    study = pickle.loads(state.read_bytes())["_ot_study"]
    assert len(study.trials) == len(groups) == 2
    for told in study.trials:
        members = groups[(told.params["optimizer"], told.params["lr"])]
        assert sorted(t["seed"] for t in members) == [0, SEED_STEP]
        assert told.value == pytest.approx(statistics.fmean(epochs[t["id"]][-1]["val_acc"] for t in members))


def _wait_for(db: Path, condition: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn, contextlib.suppress(sqlite3.Error):
                if conn.execute(condition).fetchone()[0]:
                    return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {condition}")
