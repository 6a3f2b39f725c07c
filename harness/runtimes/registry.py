"""The runtimes an exported file is checked under: a registry, one entry per runtime.

Each entry says how to find out whether (and which version of) the runtime is installed, and
how to run a whole normalised split through a file with it: the outputs, what ran them
(provider or device), the precision the runtime really used, and batch-1 latency in rounds.
The Python runtimes run in this process; Node.js and the browser run in their own
(harness.runtimes.js). harness.export.matrix compares each one with PyTorch under the gates of
harness.export.verify.

No torch here: the runtimes only ever see numpy arrays.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError

BATCH = 256  # images per call when a runtime scores the split
LATENCY_ROUNDS = 7  # batch-1 latency: the median of each round, and the spread over rounds
ROUND_BUDGET_S = 0.05
ROUND_MIN_CALLS = 10
PIP_HINT = 'pip install "harness[runtimes]"'
JS_HINT = "scripts/install-runtimes (Node.js, Chromium, onnxruntime-node/-web)"


class Outcome:
    """A matrix row's status (harness.export.matrix): the plain strings stored and printed."""

    PASSED = "passed"
    FAILED = "failed"  # ran, and missed the gate
    ERROR = "error"  # could not load or run the file
    INFO = "info"  # an informational row: figures only, never fails
    MISSING = "not installed"


COUNTED = (Outcome.PASSED, Outcome.FAILED, Outcome.ERROR)  # the rows "k/N runtimes" counts


def tally(rows: list[dict[str, Any]]) -> tuple[int, int]:
    """(passed, checked) over matrix rows (their JSON shape): informational rows and runtimes
    that are not installed aside."""
    counted = [r for r in rows if not r["informational"] and r["status"] in COUNTED]
    return sum(r["status"] == Outcome.PASSED for r in counted), len(counted)


@dataclass(frozen=True)
class RuntimeRun:
    """One runtime's pass over a split."""

    outputs: np.ndarray  # float32, one row per input, in input order
    provider: str  # what ran it: the execution provider, device or backend the runtime reports
    precision: str  # the precision the runtime used for inference ("f32", "bf16"), as it reports it
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


def in_process(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, *, provider: str, precision: str) -> RuntimeRun:
    """A runtime that lives in this process: the split in batches, then batch-1 rounds."""
    outputs = np.concatenate([np.asarray(run(x[i : i + BATCH]), dtype=np.float32) for i in range(0, len(x), BATCH)])
    single = np.ascontiguousarray(x[:1])
    rounds = [
        phase(lambda: run(single), min_calls=ROUND_MIN_CALLS, budget_s=ROUND_BUDGET_S) * 1e3
        for _ in range(LATENCY_ROUNDS)
    ]
    return RuntimeRun(outputs=outputs, provider=provider, precision=precision, b1_round_ms=rounds)


def package_version(*names: str) -> str | None:
    """The installed version of the first of `names` that pip knows, or None."""
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _importable(module: str, *packages: str) -> Callable[[], str | None]:
    def version() -> str | None:
        try:
            __import__(module)
        except Exception:  # a broken install is as good as none: the row says "not installed"
            return None
        return package_version(*packages) or "unknown"

    return version


# ---------------------------------------------------------------------------------- onnxruntime


def _onnxruntime(path: Path, x: np.ndarray, threads: int) -> RuntimeRun:
    from harness.runtimes.predict import open_session

    session = open_session(path, threads=threads)
    name = session.get_inputs()[0].name
    return in_process(
        lambda a: session.run(None, {name: a})[0], x, provider=session.get_providers()[0], precision="f32"
    )


# ------------------------------------------------------------------------------------- OpenVINO


def _openvino(hint: str | None) -> Evaluate:
    """OpenVINO on the CPU. `hint` None keeps OpenVINO's default inference precision, which is
    bf16 on CPUs that have it (AVX512-BF16, AMX): the row then shows what a user who does not
    set the hint gets."""

    def evaluate(path: Path, x: np.ndarray, threads: int) -> RuntimeRun:
        import openvino as ov

        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads}
        if hint:
            config["INFERENCE_PRECISION_HINT"] = hint
        compiled = ov.Core().compile_model(str(path), "CPU", config)
        request = compiled.create_infer_request()
        used = str(compiled.get_property("INFERENCE_PRECISION_HINT")).removeprefix("<Type: '").removesuffix("'>")
        precision = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}.get(used, used)
        return in_process(lambda a: request.infer([a])[0], x, provider="CPU", precision=precision)

    return evaluate


# --------------------------------------------------------------------------------------- OpenCV


def _opencv(path: Path, x: np.ndarray, threads: int) -> RuntimeRun:
    import cv2

    cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromONNX(str(path))

    def run(a: np.ndarray) -> np.ndarray:
        net.setInput(a)
        return np.asarray(net.forward())

    return in_process(run, x, provider="DNN_BACKEND_OPENCV/CPU", precision="f32")


# ---------------------------------------------------------------------------------------- tract


def _tract(path: Path, x: np.ndarray, threads: int) -> RuntimeRun:
    import tract

    # The file's batch axis stays symbolic: fixing it (set_input_fact) clashes with the
    # exporter's symbolic shapes inside the graph ("Impossible to unify Sym(batch) with Val(8)").
    runnable = tract.onnx().load(str(path)).into_model().into_runnable()
    return in_process(lambda a: runnable.run([a])[0].to_numpy(), x, provider="CPU", precision="f32")


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("onnxruntime", PIP_HINT, lambda: package_version("onnxruntime-gpu", "onnxruntime"), _onnxruntime),
        Runtime("openvino", PIP_HINT, _importable("openvino", "openvino"), _openvino("f32")),
        Runtime(
            "openvino-default",
            PIP_HINT,
            _importable("openvino", "openvino"),
            _openvino(None),
            informational=True,
            about="openvino-default: OpenVINO as deployments run it, with no precision hint; on CPUs "
            "with bf16 it computes in bf16 and drifts from PyTorch: set INFERENCE_PRECISION_HINT=f32 "
            "(the openvino row) to match it. Shown for speed and accuracy; never fails verify",
        ),
        Runtime("opencv", PIP_HINT, _importable("cv2", "opencv-python-headless", "opencv-python"), _opencv),
        Runtime("tract", PIP_HINT, _importable("tract", "tract"), _tract),
    )
}
JS_RUNTIMES = ("onnxruntime-node", "onnxruntime-web")  # registered by harness.runtimes.js


def all_runtimes() -> dict[str, Runtime]:
    """The Python runtimes, then Node.js and the browser."""
    from harness.runtimes.js import RUNTIMES as JS

    return {**RUNTIMES, **JS}


def choose(spec: str | None, *, default: str = "installed") -> list[Runtime]:
    """`--runtime`: comma-separated names, `all` (every runtime, installed or not: the missing
    ones are listed as such) or `installed`; None means `default`."""
    known = all_runtimes()
    spec = spec or default
    if spec == "all":
        return list(known.values())
    if spec == "installed":
        return [r for r in known.values() if r.version() is not None]
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise HarnessError(
            f"unknown runtime {', '.join(map(repr, unknown)) or repr(spec)}",
            f"pass --runtime as a comma-separated list of {', '.join(known)}, or all, or installed",
        )
    return [known[n] for n in dict.fromkeys(names)]
