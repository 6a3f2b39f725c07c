"""Benchmark of `harness site` (issue 29): the site of a real 12-trial sweep (mlp and cnn_small x
sgd, momentum, adam x two learning rates, 1 epoch, the best exported and verified), built in a
fresh `harness` process so the figure includes Python's start and the imports, as a user waits
for it; then built again over the same folder (the update in place). The issue's goal: under 10 s.

It measures and prints; it asserts only correctness (every trial has its page, a rebuild keeps
the files), never a speed: timings on a shared 2-core machine are not a pass/fail signal.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from realfiles import ROOT

from harness.cli.main import main

pytestmark = [pytest.mark.bench, pytest.mark.ray]  # the sweep starts Ray in-process

GOAL_S = 10.0


def _site(results: Path, out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "harness", "site", str(out), "--results", str(results)],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    return seconds


def test_bench_site_of_a_12_trial_sweep(ray_session, tmp_path):
    results, out = tmp_path / "results", tmp_path / "site"
    flags = ["--arch", "mlp,cnn_small", "--optimizer", "sgd,momentum,adam", "--lr", "0.01,0.1", "--epochs", "1"]
    assert main(["sweep", *flags, "--results", str(results), "--no-live"]) == 0
    first = _site(results, out)
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert len(list((out / "trials").glob("*.html"))) == 12
    again = _site(results, out)
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == files
    model = os.uname().machine
    try:
        model = next(x.split(":", 1)[1].strip() for x in open("/proc/cpuinfo") if x.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(
        f"\nharness site of a 12-trial sweep ({len(files)} files): {first:.2f} s, again over it {again:.2f} s"
        f" (goal: under {GOAL_S:g} s; {model}, {os.cpu_count()} CPUs)"
    )
