"""A sweep of N one-epoch digits/mlp trials (about 20-40 ms of training each, so its cost is
almost all overhead): the scaling benchmark's and the killed-driver test's workload."""

from __future__ import annotations

from pathlib import Path

SLOTS = 2  # conftest's Ray instance: num_cpus=2, one CPU per trial


def scale_argv(n: int, results: Path) -> list[str]:
    """`harness sweep` of n identical one-epoch trials (the grid repeated n times)."""
    return [
        "sweep",
        "--task",
        "digits",
        "--arch",
        "mlp",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--batch-size",
        "64",
        "--epochs",
        "1",
        "--num-samples",
        str(n),
        "--no-export",
        "--no-live",
        "--results",
        str(results),
    ]
