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

from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.runtimes.base import (
    PIP_HINT,
    Evaluate,
    Runtime,
    RuntimeRun,
    importable,
    in_process,
    package_version,
)
from harness.runtimes.js import RUNTIMES as JS

# ---------------------------------------------------------------------------------- onnxruntime


def _onnxruntime(path: Path, x: np.ndarray, threads: int) -> RuntimeRun:
    from harness.runtimes.predict import open_session

    session = open_session(path, threads=threads)
    name = session.get_inputs()[0].name
    return in_process(
        lambda a: session.run(None, {name: a})[0], x, provider=session.get_providers()[0], inference_precision="f32"
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
        inference_precision = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}.get(used, used)
        return in_process(lambda a: request.infer([a])[0], x, provider="CPU", inference_precision=inference_precision)

    return evaluate


# --------------------------------------------------------------------------------------- OpenCV


def _opencv(path: Path, x: np.ndarray, threads: int) -> RuntimeRun:
    import cv2

    cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromONNX(str(path))

    def run(a: np.ndarray) -> np.ndarray:
        net.setInput(a)
        return np.asarray(net.forward())

    return in_process(run, x, provider="DNN_BACKEND_OPENCV/CPU", inference_precision="f32")


# ---------------------------------------------------------------------------------------- tract


def _tract(path: Path, x: np.ndarray, threads: int) -> RuntimeRun:
    import tract

    # The file's batch axis stays symbolic: fixing it (set_input_fact) clashes with the
    # exporter's symbolic shapes inside the graph ("Impossible to unify Sym(batch) with Val(8)").
    runnable = tract.onnx().load(str(path)).into_model().into_runnable()
    return in_process(lambda a: runnable.run([a])[0].to_numpy(), x, provider="CPU", inference_precision="f32")


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime("onnxruntime", PIP_HINT, lambda: package_version("onnxruntime-gpu", "onnxruntime"), _onnxruntime),
        Runtime("openvino", PIP_HINT, importable("openvino", "openvino"), _openvino("f32")),
        Runtime(
            "openvino-default",
            PIP_HINT,
            importable("openvino", "openvino"),
            _openvino(None),
            informational=True,
            about="openvino-default: OpenVINO as deployments run it, with no precision hint; on CPUs "
            "with bf16 it computes in bf16 and drifts from PyTorch: set INFERENCE_PRECISION_HINT=f32 "
            "(the openvino row) to match it. Shown for speed and accuracy; never fails verify",
        ),
        Runtime("opencv", PIP_HINT, importable("cv2", "opencv-python-headless", "opencv-python"), _opencv),
        Runtime("tract", PIP_HINT, importable("tract", "tract"), _tract),
    )
}
JS_RUNTIMES = ("onnxruntime-node", "onnxruntime-web")  # registered by harness.runtimes.js


def all_runtimes() -> dict[str, Runtime]:
    """The Python runtimes, then Node.js and the browser."""
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
