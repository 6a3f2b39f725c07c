"""bf16 on the CPU: training throughput against float32 per network, and whether accuracy holds.

The throughput benchmark times float32 (NCHW and channels_last) and bf16 autocast
(channels_last, the harness's layout) training steps of each network in paired rounds that take
turns, in one process, and reports bf16 over the better float32 layout as the median of the
per-round ratios; a 2048x2048 matmul in both precisions sits beside them. The accuracy benchmark
(`bench_large`: about 25 minutes on 2 cores) trains 3 seeds x fp32/bf16 of vgg4_bn on CIFAR-10's
report split (5 epochs) and cnn_small on digits through `harness sweep`, and compares the test
accuracies over seeds with Welch's test (harness.stats.welch_p). Both print the CPU's name and
flags; neither asserts a speed.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from harness.architectures import create_model
from harness.cli.main import main
from harness.engine.cpu_bf16 import cpu_bf16
from harness.engine.train import OBJECTIVES
from harness.environment import cpu_model, cpu_speed_flags
from harness.stats import welch_p
from harness.store.db import Store

# (network, image size, batch, classes): the three and the digits default
NETWORKS = (("vgg4_bn", 32, 128, 10), ("vgg8_bn", 32, 64, 10), ("cnn5_bn", 128, 32, 2), ("cnn_small", 32, 64, 10))
ROUNDS = 5
ROUND_S = 0.6  # per precision per round: several steps of the larger networks
MATMUL_N = 2048
PRECISIONS = {
    "fp32_nchw": (None, False),
    "fp32_channels_last": (None, True),
    "bf16_channels_last": (torch.bfloat16, True),
}
SEEDS = "0,1,2"
ACCURACY_RUNS = {  # the two networks, each with its own budget
    "vgg4_bn on cifar10 (report split), 5 epochs": [
        *("--task", "cifar10", "--variant", "report", "--arch", "vgg4_bn"),
        *("--optimizer", "adam", "--lr", "0.001", "--batch-size", "128", "--epochs", "5"),
    ],
    "cnn_small on digits, 10 epochs": [
        *("--task", "digits", "--arch", "cnn_small", "--optimizer", "adam", "--lr", "0.003", "--epochs", "10"),
    ],
}


def _machine() -> str:
    return (
        f"{cpu_model()} [{', '.join(cpu_speed_flags()) or 'no bf16/VNNI/AMX flags'}], {torch.get_num_threads()} threads"
    )


class _Trainer:
    """One network's training step in one precision and layout, on a fixed random batch."""

    def __init__(self, arch: str, size: int, batch: int, classes: int, dtype: torch.dtype | None, cl: bool) -> None:
        torch.manual_seed(0)
        fmt = torch.channels_last if cl else torch.contiguous_format
        self.model = create_model(arch, in_shape=(3, size, size), num_outputs=classes).train().to(memory_format=fmt)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.x = torch.randn(batch, 3, size, size).contiguous(memory_format=fmt)
        self.y = torch.randint(0, classes, (batch,))
        self.dtype = dtype

    def step(self) -> float:
        with torch.autocast("cpu", dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None):
            loss = OBJECTIVES["logits"].loss(self.model(self.x), self.y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def images_per_s(self) -> float:
        start, steps = time.perf_counter(), 0
        while steps < 2 or time.perf_counter() - start < ROUND_S:
            assert math.isfinite(self.step())
            steps += 1
        return steps * len(self.x) / (time.perf_counter() - start)


def _matmul_gflops(dtype: torch.dtype) -> float:
    a, b = torch.randn(MATMUL_N, MATMUL_N, dtype=dtype), torch.randn(MATMUL_N, MATMUL_N, dtype=dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(4))
    return 2 * MATMUL_N**3 / best / 1e9


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@pytest.mark.bench
def test_bench_bf16_training_throughput_per_network():
    assert cpu_bf16() is not None or pytest.fail(f"no native bf16 on {_machine()}: nothing to compare")
    lines = [f"bf16 autocast vs float32 training, {_machine()}, median of {ROUNDS} paired rounds:"]
    for arch, size, batch, classes in NETWORKS:
        trainers = {name: _Trainer(arch, size, batch, classes, *how) for name, how in PRECISIONS.items()}
        for t in trainers.values():  # warm-up: oneDNN picks and caches its kernels per shape and layout
            t.step()
        rates: dict[str, list[float]] = {name: [] for name in trainers}
        for i in range(ROUNDS):
            for name in list(trainers)[:: 1 if i % 2 == 0 else -1]:
                rates[name].append(trainers[name].images_per_s())
        best_fp32 = [max(a, b) for a, b in zip(rates["fp32_nchw"], rates["fp32_channels_last"], strict=True)]
        ratio = statistics.median(b / f for b, f in zip(rates["bf16_channels_last"], best_fp32, strict=True))
        medians = {name: statistics.median(r) for name, r in rates.items()}
        assert all(math.isfinite(v) and v > 0 for v in medians.values()) and ratio > 0
        lines.append(
            f"  {arch} {size} px batch {batch}: float32 {max(medians['fp32_nchw'], medians['fp32_channels_last']):.0f}"
            f" img/s (NCHW {medians['fp32_nchw']:.0f}, channels_last {medians['fp32_channels_last']:.0f}),"
            f" bf16 {medians['bf16_channels_last']:.0f} img/s: {ratio:.2f}x"
        )
    fp32, bf16 = _matmul_gflops(torch.float32), _matmul_gflops(torch.bfloat16)
    lines.append(
        f"  {MATMUL_N}x{MATMUL_N} matmul: float32 {fp32:.0f} GFLOP/s, bf16 {bf16:.0f} GFLOP/s: {bf16 / fp32:.2f}x"
    )
    print("\n".join(lines))


def _test_accuracies(results: Path) -> dict[str, list[float]]:
    with Store.existing(results) as store:
        rows = store._rows("SELECT precision, test_json, status FROM trials ORDER BY seed")
    out: dict[str, list[float]] = {}
    for row in rows:
        assert row["status"] == "finished" and row["test_json"], row
        out.setdefault(row["precision"], []).append(json.loads(row["test_json"])["acc"])
    return out


@pytest.mark.bench_large
def test_bench_bf16_keeps_accuracy_over_seeds(ray_session, tmp_path, shared_data):
    assert cpu_bf16() is not None or pytest.fail(f"no native bf16 on {_machine()}: nothing to compare")
    lines = [f"test accuracy over seeds {SEEDS}, fp32 vs bf16, {_machine()}:"]
    for label, flags in ACCURACY_RUNS.items():
        accs: dict[str, list[float]] = {}
        for precision in ("fp32", "bf16"):
            results = tmp_path / f"{label.split()[0]}-{precision}"
            command = ["sweep", *flags, "--seed", SEEDS, "--precision", precision, "--gpus-per-trial", "0"]
            assert main([*command, "--data-dir", str(shared_data), "--results", str(results), "--no-export"]) == 0
            accs.update(_test_accuracies(results))
        assert len(accs["fp32"]) == len(accs["bf16"]) == 3
        p = welch_p(accs["fp32"], accs["bf16"])
        mean = {k: statistics.mean(v) for k, v in accs.items()}
        lines.append(
            f"  {label}: fp32 {100 * mean['fp32']:.2f}% ({', '.join(f'{100 * a:.2f}' for a in accs['fp32'])}),"
            f" bf16 {100 * mean['bf16']:.2f}% ({', '.join(f'{100 * a:.2f}' for a in accs['bf16'])}),"
            f" difference {100 * (mean['bf16'] - mean['fp32']):+.2f} pp, Welch p {p:.2f}"
        )
    print("\n".join(lines))
