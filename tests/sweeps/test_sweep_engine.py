"""The sweep engine on real Ray: search spaces, ASHA, sweep files, resuming a killed driver,
and a real two-node Ray cluster on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile import plant_pickles
from raycluster import AUTH, free_port, ray_start, stop, temp_dir
from realfiles import write_plugin

from harness.cli.main import main
from harness.config.spec import SweepSpec
from harness.store.db import Store


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _trials(results: Path) -> list[dict]:
    with Store.existing(results) as store:
        return [
            {**t, "epochs_run": [e["epoch"] for e in store.epochs(t["id"])]}
            for t in store._rows("SELECT * FROM trials ORDER BY id")
        ]


def test_asha_stops_weak_trials_early(ray_session, tmp_path):
    # One trial at a time, best learning rate first: later, weaker trials meet a full rung.
    assert (
        main(
            [
                "sweep",
                "--arch",
                "mlp",
                "--optimizer",
                "adam",
                "--lr",
                "0.01,0.003,0.00003,0.00001",
                "--epochs",
                "6",
                "--scheduler",
                "asha",
                "--max-concurrent",
                "1",
                "--no-export",
                "--no-live",
                "--results",
                str(tmp_path),
            ]
        )
        == 0
    )
    trials = {t["lr"]: t for t in _trials(tmp_path)}
    assert len(trials) == 4
    assert trials[0.01]["epochs_run"] == list(range(1, 7)) and trials[0.01]["status"] == "finished"
    stopped = [t for t in trials.values() if t["status"] == "stopped"]
    assert stopped and all(len(t["epochs_run"]) < 6 for t in stopped)


def test_random_and_optuna_search_draw_num_samples(ray_session, tmp_path):
    for search in ("random", "optuna"):
        results = tmp_path / search
        assert (
            main(
                [
                    "sweep",
                    "--arch",
                    "mlp",
                    "--optimizer",
                    "adam,sgd",
                    "--lr-range",
                    "1e-4:1e-1",
                    "--search",
                    search,
                    "--num-samples",
                    "3",
                    "--epochs",
                    "1",
                    "--no-export",
                    "--no-live",
                    "--results",
                    str(results),
                ]
            )
            == 0
        )
        trials = _trials(results)
        assert len(trials) == 3 and all(1e-4 <= t["lr"] <= 1e-1 for t in trials)
        assert len({t["lr"] for t in trials}) == 3  # drawn log-uniformly, not from a list


def test_a_sweep_file_with_flags_on_top(ray_session, tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(
        'task = "digits"\narchs = ["mlp"]\noptimizers = "adamw"\nlrs = [0.01]\n'
        "weight_decays = [0.0, 0.01]\nepochs = 3\nseeds = [1]\n"
    )
    assert (
        main(
            [
                "sweep",
                "--config",
                str(config),
                "--epochs",
                "1",
                "--no-export",
                "--no-live",
                "--results",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    trials = _trials(tmp_path / "r")
    assert [(t["optimizer"], t["seed"], t["epochs_run"]) for t in trials] == [("adamw", 1, [1])] * 2
    spec = SweepSpec.from_toml(str(config), {})
    assert spec.weight_decays == (0.0, 0.01) and spec.optimizers == ("adamw",) and spec.num_trials == 2


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--search", "bayes"], ["unknown search 'bayes'", "optuna"]),
        (["--scheduler", "hyperband"], ["unknown scheduler", "asha"]),
        (["--num-samples", "0"], ["num_samples 0"]),
        (["--lr-range", "1e-2:1e-4", "--search", "random"], ["not 0 < low < high"]),
        (["--lr-range", "1e-4:1e-2"], ["needs a search that samples", "--search random"]),
        (["--lr-range", "fast"], ["LOW:HIGH"]),
        (["--weight-decay", "-1"], ["weight decay -1.0"]),
        (["--config", "/nonexistent.toml"], ["does not exist"]),
        (["--address", "127.0.0.1:1"], ["cannot join the Ray cluster at '127.0.0.1:1'"]),
    ],
)
def test_bad_sweep_specs_are_one_line_and_write_nothing(flags, expected, tmp_path, capfd, monkeypatch):
    # In-process: the same checks a launched `harness sweep` meets, without a Python start per
    # case. As in a fresh process no Ray is up, so the session's own Ray instance (when an earlier
    # test started it) cannot stand in for --address: start_ray must try to join the address.
    import ray

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    capfd.readouterr()
    code = _exit_code(["sweep", *flags, "--results", str(tmp_path)])
    err = capfd.readouterr().err  # file descriptor 2, as the launched process's stderr was
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in err
    assert not (tmp_path / "harness.db").exists()


def _exit_code(argv: list[str]) -> int | str | None:
    """What `harness ARGV` exits with: argparse's own refusals (e.g. `--lr-range fast`) leave
    through sys.exit(2), which the console script turns into the exit code; the rest is main's return."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_a_bad_key_in_a_sweep_file_is_named(tmp_path, capsys):
    config = tmp_path / "sweep.toml"
    config.write_text('task = "digits"\narchitectures = ["mlp"]\n')
    assert main(["sweep", "--config", str(config), "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'architectures'" in err and "archs" in err


# ------------------------------------------------------------------ resume after SIGKILL


def _wait_for(db: Path, condition: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            conn = sqlite3.connect(db, timeout=30)
            try:
                if conn.execute(condition).fetchone()[0]:
                    return
            except sqlite3.OperationalError:
                pass  # tables not created yet
            finally:
                conn.close()
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {condition}")


@pytest.mark.slow
def test_a_killed_driver_is_resumed_without_losing_or_repeating_epochs(ray_session, tmp_path, capsys):
    """Resumed from the store alone: every pickle Ray saved is planted, its experiment state is
    gone, and one unfinished trial's checkpoint is cut short; nothing planted runs, the damaged
    trial starts again from epoch 1 (said in one line), and every trial has each epoch once."""
    results = tmp_path / "results"
    cmd = [
        sys.executable,
        "-m",
        "harness.cli.main",
        "sweep",
        "--arch",
        "cnn_small",
        "--optimizer",
        "adam,momentum",
        "--lr",
        "0.01,0.003",
        "--epochs",
        "8",
        "--no-export",
        "--no-live",
        "--results",
        str(results),
    ]
    # A subprocess: the driver is killed (SIGKILL, no cleanup). Its own process group, so that the
    # Ray instance it started can be cleaned up after the kill.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        db = results / "harness.db"
        _wait_for(db, "SELECT COUNT(*) FROM trials WHERE status = 'finished'")
        _wait_for(db, "SELECT COUNT(*) FROM trials WHERE status = 'running' AND checkpoint_path IS NOT NULL")
        os.kill(proc.pid, signal.SIGKILL)  # the driver only: no handler, no cleanup
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # then the orphaned Ray processes it had started
        except ProcessLookupError:
            pass
    before = {t["id"]: t for t in _trials(results)}
    finished_before = {i for i, t in before.items() if t["status"] == "finished"}
    with Store.existing(results) as store:
        stamps = {i: [e["recorded_at"] for e in store.epochs(i)] for i in finished_before}
        assert store.sweep()["status"] == "running"  # killed: nobody could mark it
    assert finished_before and len(finished_before) < 4
    marker = tmp_path / "planted-code-ran"
    assert plant_pickles(results / "ray", marker) >= 1
    # and a link where Ray writes its state again: the resumed run writes in a folder of its own
    victim = tmp_path / "victim"
    victim.write_bytes(b"kept")
    (experiment,) = [p for p in (results / "ray").iterdir() if p.is_dir()]
    (experiment / "tuner.pkl").unlink()
    (experiment / "tuner.pkl").symlink_to(victim)
    damaged = next(t for t in before.values() if t["status"] == "running" and t["checkpoint_path"])
    checkpoint = Path(damaged["checkpoint_path"]) / "model.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])

    capsys.readouterr()
    assert main(["sweep", "--resume", "--no-export", "--no-live", "--results", str(results)]) == 0
    assert not marker.exists()  # no pickle from the results folder was loaded
    assert victim.read_bytes() == b"kept"
    err = capsys.readouterr().err
    assert f"trial {damaged['ray_id']} starts again from epoch 1: its checkpoint cannot be used" in err
    after = {t["id"]: t for t in _trials(results)}
    assert len(after) == 4 and set(before) <= set(after)
    for trial in after.values():
        assert trial["status"] == "finished"
        assert trial["epochs_run"] == list(range(1, 9)), trial  # every epoch once: none lost, none twice
    with Store.existing(results) as store:
        assert store.sweep()["status"] == "finished"
        for i in finished_before:  # finished trials were not run again
            assert [e["recorded_at"] for e in store.epochs(i)] == stamps[i]


def test_the_store_calls_a_trial_ended_only_once_tune_has_saved_its_state(tmp_path):
    """Trials that ended in a step are stored at the step's end, in one pass; a driver killed
    before leaves them "running", and a resume continues them from their checkpoint. The
    stand-in is Tune's Trial object only; callback, display and store are the real ones."""
    from types import SimpleNamespace

    from harness.sweeps.callback import ACTIVE, StoreCallback
    from harness.views.console import SweepDisplay

    store = Store.create(tmp_path)
    store.create_sweep(sweep_id="s1", task="digits", seed=0, command="harness sweep", spec_json="{}", environment={})
    ACTIVE["s1"] = (store, SweepDisplay(title="t", total=1, metric="val_acc", mode="max", live=False))
    try:
        callback = StoreCallback(sweep_id="s1")
        config = {
            "task": "digits",
            "arch": "mlp",
            "optimizer": "adam",
            "lr": 0.01,
            "batch_size": 64,
            "epochs": 2,
            "seed": 0,
        }
        trial = SimpleNamespace(trial_id="t1", config=config, last_result={"epoch": 2}, get_error=lambda: None)
        callback.on_trial_start(1, [], trial)
        callback.on_trial_complete(1, [], trial)
        assert store.trial("t1")["status"] == "running"  # Tune has not saved its state yet
        callback.on_step_end(2, [])  # Tune calls this right after saving it
        assert store.trial("t1")["status"] == "finished"
    finally:
        ACTIVE.pop("s1", None)
        store.close()


def test_resume_mistakes_are_one_line(tmp_path, swept_copy, capsys):
    assert main(["sweep", "--resume", "--results", str(tmp_path)]) == 2
    assert "no results store" in capsys.readouterr().err
    assert main(["sweep", "--resume", "--results", str(swept_copy)]) == 2
    assert "already finished" in capsys.readouterr().err
    assert main(["sweep", "--resume", "nope", "--results", str(swept_copy)]) == 2
    assert "no sweep 'nope'" in capsys.readouterr().err


# ------------------------------------------------------------------ a real two-node cluster


@pytest.mark.slow
def test_a_sweep_on_a_two_node_cluster_uses_both_nodes(tmp_path, capsys, registries_restored):
    """Its task and network come from a plugin file: the trials on the second node (another
    worker process, which never imported the file) run the code the driver imported."""
    plugin = write_plugin(tmp_path / "code", "cluster_plugin.py")
    port = free_port()
    env = {**os.environ, **AUTH}
    temp = temp_dir("ray-2node-")
    head = ["--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false", f"--temp-dir={temp}"]
    nodes = [ray_start(head, env)]
    try:
        time.sleep(8)  # the head must be up before a worker can join it
        nodes.append(ray_start([f"--address=127.0.0.1:{port}", "--num-cpus=1"], env))
        time.sleep(8)
        results = tmp_path / "results"
        # A fresh process: it must join this cluster, and start_ray would keep a Ray already up in this one.
        cmd = [
            sys.executable,
            "-m",
            "harness.cli.main",
            "sweep",
            "--address",
            f"127.0.0.1:{port}",
            "--plugin",
            str(plugin),
            "--task",
            "plugin_digits",
            "--arch",
            "plugin_mlp",
            "--optimizer",
            "adam,momentum",
            "--lr",
            "0.01",
            "--epochs",
            "3",
            "--no-export",
            "--no-live",
            "--results",
            str(results),
        ]
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        assert run.returncode == 0, run.stderr[-2000:]
    finally:
        stop(nodes)
        shutil.rmtree(temp, ignore_errors=True)
    trials = _trials(results)
    assert len(trials) == 2 and all(t["status"] == "finished" for t in trials), [t["error"] for t in trials]
    assert len({t["node"] for t in trials}) == 2, [t["node"] for t in trials]  # one trial per node
    assert {(t["task"], t["arch"]) for t in trials} == {("plugin_digits", "plugin_mlp")}
    with Store.existing(results) as store:
        environment = json.loads(store.sweep()["environment_json"])
    assert environment["ray_nodes"] == 2
    assert environment["plugins"] == [{"ref": str(plugin), "sha256": sha256(plugin), "origin": "--plugin"}]
    # The plugin's trials export only with the plugin named again, unchanged: never from the store.
    trial, out = trials[0]["id"], ["--results", str(results), "--out", str(tmp_path / "onnx")]
    assert main(["export", "--trial", trial, *out]) == 2
    assert f"used plugin '{plugin}'" in capsys.readouterr().err
    text = plugin.read_text()
    plugin.write_text(text + "# edited\n")
    assert main(["export", "--trial", trial, "--plugin", str(plugin), *out]) == 2
    assert "changed since" in capsys.readouterr().err and not list((tmp_path / "onnx").iterdir())
    plugin.write_text(text)
    assert main(["export", "--trial", trial, "--plugin", str(plugin), *out]) == 0


def test_a_wrongly_typed_value_in_a_sweep_file_is_named(tmp_path, capsys):
    config = tmp_path / "sweep.toml"
    config.write_text('epochs = "ten"\n')
    assert main(["sweep", "--config", str(config), "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "epochs = 'ten' is not int" in err
    config.write_text('lrs = [0.1, "fast"]\n')
    assert main(["sweep", "--config", str(config), "--results", str(tmp_path)]) == 2
    assert "is not a list of float" in capsys.readouterr().err
