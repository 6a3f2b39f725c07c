"""GPU trials on a fake-GPU Ray cluster (`--num-gpus 2` on loopback, no CUDA behind it): Ray's
assignment reaches the store, 0.25 of a GPU packs 4 trials onto every GPU with the derived CPU
share, a trial given a GPU without working CUDA fails loudly, and a GPU request on a CPU-only
cluster is refused before the store is touched. With HARNESS_FAKE_CUDA=1 (harness.engine.device's
test seam) a trial records the GPU Ray gave it and trains on the CPU. Each sweep runs as a
subprocess that joins the session's cluster (`fake_gpu_cluster` in conftest.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from raycluster import AUTH

from harness.cli.main import main
from harness.store.db import Store

pytestmark = pytest.mark.slow  # whole scenarios on a cluster of their own: tens of seconds each


def _sweep(address: str, results: Path, *flags: str, fake_cuda: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, **AUTH, "HARNESS_FAKE_CUDA": "1"}
    if not fake_cuda:
        env.pop("HARNESS_FAKE_CUDA")
    cmd = [sys.executable, "-m", "harness", "sweep", "--address", address, "--arch", "mlp", "--no-export"]
    cmd += ["--no-live", "--results", str(results), *flags]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _trials(results: Path) -> list[dict]:
    """Every trial with its epochs' timestamps (ISO 8601, seconds)."""
    with Store.existing(results) as store:
        return [
            {**t, "recorded": [e["recorded_at"] for e in store.epochs(t["id"])]}
            for t in store._rows("SELECT * FROM trials ORDER BY id")
        ]


def test_each_trial_records_the_fake_gpu_ray_gave_it(fake_gpu_cluster, tmp_path, capsys):
    results = tmp_path / "results"
    run = _sweep(
        fake_gpu_cluster, results, "--optimizer", "adam,momentum", "--lr", "0.01,0.1", "--epochs", "1",
        "--gpus-per-trial", "0.5",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    trials = _trials(results)
    assert len(trials) == 4 and {t["status"] for t in trials} == {"finished"}
    for t in trials:
        (gpu,) = json.loads(t["gpu_ids"])
        assert t["device"].startswith(f"fake GPU {gpu} (trained on cpu ") and t["precision"] in ("fp32", "bf16")
    # 4 trials at half a GPU each, at once: two on each
    assert Counter(json.loads(t["gpu_ids"])[0] for t in trials) == {"0": 2, "1": 2}
    # Each epoch's GPU-seconds: its training + validation wall seconds x the half GPU Ray held for it.
    with Store.existing(results) as store:
        epochs = [e for t in trials for e in store.epochs(t["id"])]
    assert len(epochs) == 4 and all(e["cpu_s"] > 0 for e in epochs)
    assert all(e["gpu_s"] == pytest.approx(0.5 * (e["epoch_time_s"] + e["eval_time_s"])) for e in epochs)
    capsys.readouterr()
    assert main(["show", trials[0]["id"], "--results", str(results), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)["trial"]
    assert (shown["device"], shown["gpu_ids"]) == (trials[0]["device"], json.loads(trials[0]["gpu_ids"]))
    # markdown keeps every column (a narrow terminal's table may drop the device for the intervals)
    assert main(["leaderboard", "--results", str(results), "--format", "markdown"]) == 0
    assert "fake GPU 0 fp32" in capsys.readouterr().out


def test_a_quarter_gpu_packs_four_trials_onto_every_gpu(fake_gpu_cluster, tmp_path):
    """No --cpus-per-trial: 4 CPUs / (2 GPUs x 4 trials per GPU) = 0.5 CPU each, so all 8 run
    at once (one CPU each would have held 4 at a time, 2 per GPU)."""
    results = tmp_path / "results"
    run = _sweep(
        fake_gpu_cluster, results, "--optimizer", "adam,momentum", "--lr", "0.01,0.02,0.05,0.1", "--epochs", "2",
        "--gpus-per-trial", "0.25",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    trials = _trials(results)
    assert len(trials) == 8 and {t["status"] for t in trials} == {"finished"}
    on = {gpu: [t for t in trials if json.loads(t["gpu_ids"]) == [gpu]] for gpu in ("0", "1")}
    assert {gpu: len(ts) for gpu, ts in on.items()} == {"0": 4, "1": 4}, [t["gpu_ids"] for t in trials]

    # [started, last epoch recorded]: strict comparisons of whole seconds never see an overlap that was not
    def overlap(a: dict, b: dict) -> bool:
        return a["started_at"] < b["recorded"][-1] and b["started_at"] < a["recorded"][-1]

    for gpu, ts in on.items():
        pairs = [(a["ray_id"], b["ray_id"]) for i, a in enumerate(ts) for b in ts[i + 1 :] if overlap(a, b)]
        assert pairs, f"no two trials on fake GPU {gpu} overlapped in time"
    last_start = max(t["started_at"] for t in trials)
    assert sum(t["recorded"][-1] > last_start for t in trials) > 4  # more than 1 CPU each would allow


def test_a_trial_given_a_gpu_without_cuda_fails_loudly(fake_gpu_cluster, tmp_path):
    """4 trials failing at once (the default 2 x 2 grid): each one's error in the store, with the
    whole report of both tries (one retry), never a silent CPU run."""
    results = tmp_path / "results"
    run = _sweep(fake_gpu_cluster, results, "--epochs", "1", "--gpus-per-trial", "0.5", fake_cuda=False)
    assert run.returncode == 1, run.stderr[-3000:]
    lines = run.stderr.strip().splitlines()
    # progress lines, then exactly one summary line: no Ray ERROR line, no traceback
    assert [line for line in lines if not re.match(r"\[\d/\d\] trial ", line)] == lines[-1:]
    assert lines[-1].startswith("error: 0 of 4 trials finished: 4 error (first: HarnessError: this trial was given GPU")
    assert "but CUDA does not work in its process" in lines[-1] and "Traceback" not in run.stderr
    trials = _trials(results)
    assert len(trials) == 4 and {t["status"] for t in trials} == {"error"}
    for t in trials:
        assert t["error"].startswith("HarnessError: this trial was given GPU ") and "CUDA does not work" in t["error"]
        assert "Failure # 2" in t["traceback"] and t["traceback"].count("CUDA does not work") == 2
        assert t["device"] is None and t["recorded"] == []  # it never trained, on the CPU or anywhere


def test_a_gpu_request_on_a_cpu_only_cluster_is_refused_before_the_store(tmp_path):
    """A fresh local Ray instance on this GPU-less machine (the command's own, as users get it)."""
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_FAKE_CUDA"}
    cmd = [sys.executable, "-m", "harness", "sweep", "--arch", "mlp", "--gpus-per-trial", "0.25", "--no-live"]
    run = subprocess.run([*cmd, "--results", str(results)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr[-3000:]
    assert run.stderr.count("\n") == 1
    assert "a trial asks for 1 CPU and 0.25 GPU, but this machine has" in run.stderr and " and 0 GPU: " in run.stderr
    assert not (results / "harness.db").exists()
