"""Verification: an exported file against its PyTorch checkpoint, on the whole test split.

Both runtimes score the same normalised test images; the gate for the model's output kind
(a registry, below) decides pass or fail; latency is measured for both on this machine, in
the same run, so the speed-up is a ratio of numbers taken side by side.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from harness.datasets import Split
from harness.predict import normalize, open_session, read_metadata
from harness.train import OBJECTIVES

MIN_AGREEMENT = 0.999  # top-1 agreement below this fails verification
MAX_ABS_DIFF = 1e-3  # largest |torch - onnxruntime| output difference allowed
MAX_PSNR_DIFF_DB = 0.1  # image outputs: PSNR under the two runtimes may differ this much
MAX_INT8_DROP = 0.01  # an INT8 model may lose this much of the task metric (1 percentage point)
VERIFY_BATCH = 256


@dataclass(frozen=True)
class Gate:
    rule: str  # what passing means, shown beside the verdict
    passes: Callable[[dict[str, Any]], bool]


_CLASSES = Gate(f"top-1 agreement >= {MIN_AGREEMENT:.1%}, max abs difference <= {MAX_ABS_DIFF:g}",
                lambda v: v["top1_agreement"] >= MIN_AGREEMENT and v["max_abs_diff"] <= MAX_ABS_DIFF)  # fmt: skip
# Which gate applies: the model's output kind, or "int8" for a quantized file.
GATES: dict[str, Gate] = {
    "logits": _CLASSES,
    "single_logit": _CLASSES,
    "image": Gate(f"PSNR within {MAX_PSNR_DIFF_DB} dB, max abs difference <= {MAX_ABS_DIFF:g}",
                  lambda v: abs(v["torch_psnr"] - v["ort_psnr"]) <= MAX_PSNR_DIFF_DB and v["max_abs_diff"] <= MAX_ABS_DIFF),
    "int8": Gate(f"task metric at most {100 * MAX_INT8_DROP:g} percentage point below float32 PyTorch",
                 lambda v: v["ort_metric"] - v["torch_metric"] >= -MAX_INT8_DROP),
}  # fmt: skip


@dataclass(frozen=True)
class Verification:
    path: str
    task: str
    n: int  # test images compared
    max_abs_diff: float
    top1_agreement: float  # image outputs: the share of binarised pixels that agree
    torch_metric: float  # the task metric (accuracy, pixel accuracy) under PyTorch, float32
    ort_metric: float  # the same under onnxruntime
    torch_psnr: float | None  # image outputs only
    ort_psnr: float | None
    provider: str  # the execution provider onnxruntime actually used
    requested: str  # the one we asked for first
    gate: str  # the GATES entry applied
    rule: str
    passed: bool
    quantize: str | None  # "int8" for a quantized file
    size_ratio: float | None  # quantized file size / float32 file size
    latency: dict[str, Any] | None  # see measure_latency


def _timed(fn: Callable[[], Any], *, runs: int, budget_s: float) -> list[float]:
    """Seconds per call: 3 warm-up calls, then up to `runs` calls or `budget_s` (at least 5)."""
    for _ in range(3):
        fn()
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < runs and (len(times) < 5 or time.perf_counter() < deadline):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def measure_latency(onnx_path: str, model: torch.nn.Module, x: np.ndarray, *, budget_s: float = 2.0) -> dict[str, Any]:
    """p50 and p95 at batch 1 and images/s at batch 64, onnxruntime (CPU provider) and PyTorch
    eager (inference mode, float32), both with torch's CPU thread count, one after the other."""
    import onnxruntime as ort

    threads = torch.get_num_threads()
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(onnx_path, sess_options=options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    batch = np.ascontiguousarray(np.resize(x, (64, *x.shape[1:])))  # 64 images, repeating the split if it is smaller
    single = batch[:1]
    out: dict[str, Any] = {"threads": threads, "device": "cpu"}
    model = model.eval()
    runners = {
        "onnxruntime": lambda a: session.run(None, {name: a}),
        "torch": lambda a: model(torch.from_numpy(a)),
    }
    with torch.inference_mode():
        for runtime, run in runners.items():
            ones = _timed(lambda: run(single), runs=200, budget_s=budget_s)
            sixty_fours = _timed(lambda: run(batch), runs=20, budget_s=budget_s)
            out[f"{runtime}_b1_p50_ms"] = float(np.percentile(ones, 50) * 1e3)
            out[f"{runtime}_b1_p95_ms"] = float(np.percentile(ones, 95) * 1e3)
            out[f"{runtime}_b64_images_per_s"] = float(64 / np.median(sixty_fours))
    out["speedup_b1"] = out["torch_b1_p50_ms"] / out["onnxruntime_b1_p50_ms"]
    out["speedup_b64"] = out["onnxruntime_b64_images_per_s"] / out["torch_b64_images_per_s"]
    return out


def _outputs(run: Callable[[np.ndarray], Any], x: np.ndarray) -> torch.Tensor:
    return torch.cat([torch.as_tensor(np.asarray(run(x[i : i + VERIFY_BATCH]))).float() for i in range(0, len(x), VERIFY_BATCH)])


def verify_onnx(*, onnx_path: str, model: torch.nn.Module, head: str, test: Split, task: str,
                float_size: int | None = None, latency: bool = True) -> Verification:  # fmt: skip
    """The whole test split through onnxruntime and the float32 PyTorch model (eval mode, CPU),
    compared under the gate for the file: its output kind, or "int8" when it is quantized
    (then `float_size`, the float32 file's bytes, gives the size ratio)."""
    cuda = torch.cuda.is_available()  # ask onnxruntime for CUDA only when a GPU is really there
    session = open_session(onnx_path, cuda=cuda)
    meta = read_metadata(session)
    x = normalize(test.images, meta["preprocessing"])
    name = session.get_inputs()[0].name
    ort_out = _outputs(lambda a: session.run(None, {name: a})[0], x)
    model = model.eval()
    with torch.no_grad():
        torch_out = _outputs(lambda a: model(torch.from_numpy(a)), x)
    labels = torch.from_numpy(np.asarray(test.labels))
    objective = OBJECTIVES[head]
    torch_scores, ort_scores = objective.scores(torch_out, labels), objective.scores(ort_out, labels)
    quantize = meta.get("quantize") or None
    numbers = {
        "max_abs_diff": (torch_out - ort_out).abs().max().item(),
        "top1_agreement": (objective.predict(torch_out) == objective.predict(ort_out)).float().mean().item(),
        "torch_metric": torch_scores["acc"].item() / len(labels),
        "ort_metric": ort_scores["acc"].item() / len(labels),
        "torch_psnr": torch_scores["psnr"].item() / len(labels) if "psnr" in torch_scores else None,
        "ort_psnr": ort_scores["psnr"].item() / len(labels) if "psnr" in ort_scores else None,
    }  # fmt: skip
    gate = "int8" if quantize else head
    size = os.path.getsize(onnx_path)
    return Verification(
        path=str(onnx_path), task=task, n=len(labels), **numbers, provider=session.get_providers()[0],
        requested="CUDAExecutionProvider" if cuda else "CPUExecutionProvider", gate=gate, rule=GATES[gate].rule,
        passed=GATES[gate].passes(numbers), quantize=quantize,
        size_ratio=size / float_size if quantize and float_size else None,
        latency=measure_latency(str(onnx_path), model, x) if latency else None,
    )  # fmt: skip
