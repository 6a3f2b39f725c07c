"""What every runtime of the matrix shares: the entry type, how a pass over a split is timed,
and where the installs outside Python live (the npm packages, Node.js, Chromium). The Python
runtimes are registered in harness.runtimes.registry, Node.js and the browser in
harness.runtimes.js; both build on this module, and the registry lists them all.

No torch here: the runtimes only ever see numpy arrays.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.kinds import COUNTED, RuntimeStatus

if TYPE_CHECKING:
    from collections.abc import Sequence

    from harness.store.rows import RuntimeCheckRow

BATCH = 256  # images per call when a runtime scores the split
LATENCY_ROUNDS = 7  # batch-1 latency: the median of each round, and the spread over rounds
ROUND_BUDGET_S = 0.05
ROUND_MIN_CALLS = 10
PIP_HINT = 'pip install "harness[runtimes]"'
JS_HINT = "scripts/install-runtimes (Node.js, Chromium, onnxruntime-node/-web)"


def tally(rows: Sequence[RuntimeCheckRow]) -> tuple[int, int]:
    """(passed, checked) over matrix rows (their JSON shape): informational rows and runtimes
    that are not installed aside."""
    counted = [r for r in rows if not r["informational"] and r["status"] in COUNTED]
    return sum(r["status"] == RuntimeStatus.PASSED for r in counted), len(counted)


@dataclass(frozen=True)
class RuntimeRun:
    """One runtime's pass over a split."""

    outputs: np.ndarray  # float32, one row per input, in input order
    provider: str  # what ran it: the execution provider, device or backend the runtime reports
    # the precision the runtime computed in ("f32", "bf16"), as it reports it; not a trial's training precision
    inference_precision: str
    b1_round_ms: list[float]  # batch-1 latency: one median per round


# (path, normalised float32 inputs (N, C, H, W), threads) -> the pass
Evaluate = Callable[[Path, np.ndarray, int], RuntimeRun]


@dataclass(frozen=True)
class Runtime:
    name: str
    install: str  # how to get it, shown in the row when it is missing
    version: Callable[[], str | None]  # None: not installed here
    evaluate: Evaluate
    informational: bool = False  # the row shows a trade-off (speed against accuracy); it never fails verify
    about: str = ""  # one line on what the row is, shown under the table


def phase(
    fn: Callable[[], Any], *, min_calls: int, budget_s: float, warmup_calls: int = 3, warmup_s: float = 0.02
) -> float:
    """Median seconds per call of one phase: warm up (`warmup_calls` and `warmup_s` at least, so
    caches, allocators and thread pools are hot), then time calls until `min_calls` and `budget_s`."""
    deadline = time.perf_counter() + warmup_s
    calls = 0
    while calls < warmup_calls or time.perf_counter() < deadline:
        fn()
        calls += 1
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < min_calls or (time.perf_counter() < deadline and len(times) < 1000):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def in_process(
    run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, *, provider: str, inference_precision: str
) -> RuntimeRun:
    """A runtime that lives in this process: the split in batches, then batch-1 rounds."""
    outputs = np.concatenate([np.asarray(run(x[i : i + BATCH]), dtype=np.float32) for i in range(0, len(x), BATCH)])
    single = np.ascontiguousarray(x[:1])
    rounds = [
        phase(lambda: run(single), min_calls=ROUND_MIN_CALLS, budget_s=ROUND_BUDGET_S) * 1e3
        for _ in range(LATENCY_ROUNDS)
    ]
    return RuntimeRun(outputs=outputs, provider=provider, inference_precision=inference_precision, b1_round_ms=rounds)


def package_version(*names: str) -> str | None:
    """The installed version of the first of `names` that pip knows, or None."""
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def importable(module: str, *packages: str) -> Callable[[], str | None]:
    def version() -> str | None:
        try:
            __import__(module)
        except Exception:  # a broken install is as good as none: the row says "not installed"
            return None
        return package_version(*packages) or "unknown"

    return version


def npm_dir() -> Path:
    """The folder scripts/install-runtimes installs the npm packages into."""
    return Path(os.environ.get("HARNESS_NPM_DIR") or Path.home() / ".cache" / "harness" / "npm").expanduser()


def npm_version(package: str) -> str | None:
    """The version of an npm package installed in npm_dir(), or None."""
    try:
        return str(json.loads((npm_dir() / "node_modules" / package / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def node_path() -> str | None:
    return shutil.which("node")


def chromium_path() -> str | None:
    """$HARNESS_CHROMIUM, Debian's /usr/bin/chromium, or chromium / chromium-browser on PATH."""
    for candidate in (os.environ.get("HARNESS_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")
