"""Benchmark: vgg4_bn's INT8 file against its float32 file, under onnxruntime and, where it
compiles the file, OpenVINO (f32 hint, so only the quantized layers differ), at batch 1 and
batch 64, 2 threads; and OpenVINO's default precision (bf16 on CPUs that have it) against its
f32 hint on the float32 file (onnxruntime's CPU provider has no bf16 path).

The two files take turns in one process: each round times both, in an order that flips every
round, and the ratio is the median over rounds of float32 time / INT8 time, so a machine that
slows down for a while moves both. The CPU's model and its int8/bf16 flags are printed beside the
figures: the INT8 speed-up depends on them (VNNI, AMX). The weights are vgg4_bn's at
initialisation with BatchNorm statistics drawn away from the identity; the speed of a convolution
does not depend on its weights, and the accuracy gate is measured on a trained model by
`harness export --quantize int8` (docs/runtimes.md). To time a trained pair instead, set
HARNESS_BENCH_ONNX to an exported float file with its `.int8.onnx` beside it (as `harness export
--quantize int8` writes them); its task's first 64 test images are the input. It measures and prints; it asserts only
correctness (the INT8 file runs integer throughout and tracks the float file), never a speed.
The goal (>= 2x at batch 64, > 1x at batch 1 on VNNI/AMX CPUs) is printed beside the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from harness.architectures import create_model
from harness.datasets import load_task
from harness.export.int8_graph import float_ops
from harness.export.onnx import export_onnx
from harness.export.quantize import VNNI_FLAGS, cpu_flags, quantize_int8
from harness.runtimes.documents import Preprocessing
from harness.runtimes.metadata import normalize

pytestmark = pytest.mark.bench
HERE = Path(__file__).resolve().parent

THREADS = 2
ROUNDS = 9
BUDGET_S = 0.15  # per phase: one file, one batch size, one round
GOAL_B64 = 2.0
PREP: Preprocessing = {"scale": 1 / 255, "mean": [0.49, 0.48, 0.45], "std": [0.25, 0.24, 0.26]}


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    return next((ln.partition(":")[2].strip() for ln in text.splitlines() if ln.startswith("model name")), "unknown")


def _trained(float_path: Path) -> tuple[Path, Path, np.ndarray]:
    """An exported pair and its task's first 64 test images, normalised as the file says."""
    meta = {p.key: p.value for p in onnx.load(str(float_path), load_external_data=False).metadata_props}
    images = load_task(meta["task"]).test.images[:64]
    return float_path, float_path.with_suffix(".int8.onnx"), normalize(images, json.loads(meta["preprocessing"]))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path, np.ndarray]:
    if os.environ.get("HARNESS_BENCH_ONNX"):
        return _trained(Path(os.environ["HARNESS_BENCH_ONNX"]))
    torch.manual_seed(0)
    model = create_model("vgg4_bn", in_shape=(3, 32, 32), num_outputs=10).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.uniform_(0, 0.5)
                m.running_var.uniform_(0.2, 2)
    folder = tmp_path_factory.mktemp("int8bench")
    float_path = folder / "vgg4_bn.onnx"
    export_onnx(model=model, example=torch.randn(2, 3, 32, 32), out_path=float_path, metadata={})
    images = np.random.default_rng(0).integers(0, 256, size=(256, 3, 32, 32), dtype=np.uint8)
    int8_path = quantize_int8(
        float_path, folder / "vgg4_bn.int8.onnx", train_images=images, preprocessing=PREP, metadata={}
    )
    x = ((images[:64].astype(np.float32) / 255 - 0.48) / 0.25).astype(np.float32)
    return float_path, int8_path, x


def _onnxruntime(path: Path) -> Callable[[np.ndarray], Any]:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = THREADS, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as verify: no spinning threads
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return lambda a: session.run(None, {"input": a})[0]


def _openvino(path: Path, hint: str | None = "f32") -> Callable[[np.ndarray], Any]:
    """OpenVINO on the CPU; `hint` None keeps its default precision (bf16 on CPUs that have it)."""
    import openvino as ov

    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": THREADS}
    if hint:
        config["INFERENCE_PRECISION_HINT"] = hint
    request = ov.Core().compile_model(str(path), "CPU", config).create_infer_request()
    return lambda a: request.infer([a])[0]


def _phase(run: Callable[[np.ndarray], Any], x: np.ndarray) -> float:
    """Seconds per call: one warm-up call, then calls until BUDGET_S has passed (at least 3)."""
    run(x)
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < BUDGET_S or calls < 3:
        run(x)
        calls += 1
    return elapsed / calls


def paired_ratios(
    runs: dict[str, Callable[[np.ndarray], Any]], x: np.ndarray, *, other: str = "int8"
) -> dict[str, Any]:
    """float32 time / `other`'s time at batch 1 and 64: per round, their median and min-max."""
    times: dict[tuple[str, int], list[float]] = {(k, b): [] for k in runs for b in (1, 64)}
    for i in range(ROUNDS):
        for kind in list(runs)[:: 1 if i % 2 == 0 else -1]:
            for batch in (1, 64):
                times[kind, batch].append(_phase(runs[kind], x[:batch]))
    out: dict[str, Any] = {}
    for batch in (1, 64):
        ratios = np.asarray(times["float32", batch]) / np.asarray(times[other, batch])
        out[f"b{batch}"] = float(np.median(ratios))
        out[f"b{batch}_spread"] = [float(ratios.min()), float(ratios.max())]
        out[f"b{batch}_ms"] = {k: float(np.median(times[k, batch])) * 1e3 for k in runs}
    return out


def _measure(float_path: Path, int8_path: Path, x: np.ndarray) -> dict[str, Any]:
    """Every runtime's paired ratios. Run in a Python process of its own (test_bench_int8_vs_float32):
    OpenVINO's CPU plugin, loaded into the pytest process beside torch, Ray and onnxruntime, made
    a later test's process crash with a segmentation fault."""
    makers = {"onnxruntime": _onnxruntime, "openvino": _openvino}
    results: dict[str, Any] = {}
    for runtime, make in makers.items():
        try:
            runs = {"float32": make(float_path), "int8": make(int8_path)}
        except ImportError:
            results[runtime] = "not installed"
            continue
        except Exception as exc:  # a runtime that cannot compile the file: its first line, as the matrix does
            results[runtime] = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            continue
        want, got = (np.asarray(runs[k](x)) for k in ("float32", "int8"))
        assert got.shape == want.shape and np.isfinite(got).all()
        # int8 tracks float32: outputs correlate (a broken quantization gives noise or a constant)
        assert np.corrcoef(want.ravel(), got.ravel())[0, 1] > 0.9, runtime
        results[runtime] = paired_ratios(runs, x)
    # bf16 inference of the float32 file: OpenVINO's default on CPUs with bf16; onnxruntime's CPU
    # provider has no bf16 path, so the float32 file is its only float row
    try:
        bf16 = {"float32": _openvino(float_path), "bf16": _openvino(float_path, hint=None)}
    except ImportError:
        return results
    results["openvino bf16 (its default) over f32, float32 file"] = paired_ratios(bf16, x, other="bf16")
    return results


def test_bench_int8_vs_float32(benchmark, files):
    float_path, int8_path, x = files
    assert float_ops(onnx.load(str(int8_path))) == {}  # integer throughout: the rewrite did its job
    shown = sorted(f for f in cpu_flags() if f in (*VNNI_FLAGS, "avx512_bf16", "amx_bf16"))
    cpu = f"{cpu_model()}, flags: {' '.join(shown) or 'no VNNI/AMX'}"
    results: dict[str, Any] = {}

    inputs = float_path.parent / "bench-inputs.npy"
    np.save(inputs, x)
    code = (
        f"import json, sys; from pathlib import Path; import numpy as np; sys.path.insert(0, {str(HERE)!r})\n"
        "from test_bench_int8 import _measure\n"
        f"print(json.dumps(_measure(Path({str(float_path)!r}), Path({str(int8_path)!r}), np.load({str(inputs)!r}))))"
    )

    def measure() -> None:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        results.update(json.loads(proc.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update({"cpu": cpu, "threads": THREADS, "rounds": ROUNDS, **results})
    print(f"\n{float_path.name}: INT8 / float32 throughput, {THREADS} threads, {ROUNDS} paired rounds; {cpu}")
    for runtime, r in results.items():
        if isinstance(r, str):
            print(f"  {runtime}: did not run: {r}")
            continue
        print(
            f"  {runtime}: batch 1 {r['b1']:.2f}x ({r['b1_spread'][0]:.2f}-{r['b1_spread'][1]:.2f}), "
            f"batch 64 {r['b64']:.2f}x ({r['b64_spread'][0]:.2f}-{r['b64_spread'][1]:.2f}); "
            f"ms float32/other: b1 {'/'.join(f'{v:.3g}' for v in r['b1_ms'].values())}, "
            f"b64 {'/'.join(f'{v:.3g}' for v in r['b64_ms'].values())} (INT8 goal: b64 >= {GOAL_B64}x, b1 > 1x)"
        )
    assert isinstance(results["onnxruntime"], dict)  # onnxruntime always runs the file
