"""Benchmark: does `harness verify` give the same onnxruntime-vs-PyTorch ratio twice?

A trained vgg4_bn (report uchile2020's small network, CIFAR-10's shape: 3x32x32, 10 classes) is
verified five times, each in a fresh `harness verify` process, as a user would run it. It trains
on a generated 10-class folder task of that shape: the figure is the latency of one image, which
does not depend on the test split, and CIFAR-10's 10,000 test images took 4 of this benchmark's
5 minutes (a PyTorch and an onnxruntime pass over them in each of the six verifications). The figure is the batch-1
ratio's max / min over the five runs (goal: at most 1.5; before issue 12 it ranged from 2.8x
to 251x). It is printed and kept in the benchmark's extra_info, never asserted: timings on a
shared 2-core machine are not a pass/fail signal. What is asserted is what must hold whatever
the machine: every run passed its gate and measured five rounds.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from realfiles import write_image_folder

from harness.cli.main import main
from harness.export.verify import LATENCY_ROUNDS

RUNS = 5
GOAL = 1.5

pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def trained_vgg4(ray_session, tmp_path_factory):
    results = tmp_path_factory.mktemp("vgg4")
    classes = tuple(f"class {i}" for i in range(10))
    images = write_image_folder(results.parent / "cifar-shaped", per_class=20, classes=classes)
    assert (
        main(
            [
                "sweep",
                "--task",
                f"folder:{images}",
                "--image-size",
                "32",
                "--arch",
                "vgg4_bn",
                "--optimizer",
                "adam",
                "--lr",
                "0.001",
                "--epochs",
                "1",
                "--cpus-per-trial",
                "2",
                "--no-live",
                "--results",
                str(results),
            ]
        )
        == 0
    )
    (model,) = (results / "onnx").glob("*.onnx")
    return results, model


def test_bench_verify_latency_ratio_repeats(benchmark, trained_vgg4):
    results, model = trained_vgg4
    cmd = [
        sys.executable,
        "-m",
        "harness",
        "verify",
        str(model),
        "--results",
        str(results),
        "--format",
        "json",
        "--runtime",
        "onnxruntime",
    ]
    latencies = []

    def verify_once() -> None:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        verification = json.loads(proc.stdout)
        assert verification["passed"] and verification["latency"]["rounds"] == LATENCY_ROUNDS
        latencies.append(verification["latency"])

    benchmark.pedantic(verify_once, rounds=RUNS, iterations=1)
    ratios = [lat["speedup_b1"] for lat in latencies]
    spread = max(ratios) / min(ratios)
    figures = {
        "speedup_b1_runs": ratios,
        "speedup_b1_max_over_min": spread,
        "goal_max_over_min": GOAL,
        "clear_runs": sum(lat["speedup_b1_clear"] for lat in latencies),
        "threads": latencies[0]["threads"],
        "onnxruntime_b1_p50_ms": [lat["onnxruntime_b1_p50_ms"] for lat in latencies],
        "torch_b1_p50_ms": [lat["torch_b1_p50_ms"] for lat in latencies],
        "speedup_b64_runs": [lat["speedup_b64"] for lat in latencies],
    }
    benchmark.extra_info.update(figures)
    print(
        f"\nharness verify x{RUNS}, vgg4_bn, {figures['threads']} threads: batch-1 ratio "
        f"{', '.join(f'{r:.2f}x' for r in ratios)}; max/min {spread:.2f} (goal <= {GOAL}); "
        f"spreads separated in {figures['clear_runs']} of {RUNS} runs"
    )
    assert all(r > 0 for r in ratios)
