"""Verification: an exported file against its PyTorch checkpoint, on the whole test split.

Both runtimes score the same normalised test images; the gate for the model's output kind
(a registry, below) decides pass or fail; latency is measured for both on this machine, in
the same run, so the speed-up is a ratio of numbers taken side by side.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import onnx
import torch

from harness.datasets import Split
from harness.engine.train import OBJECTIVES
from harness.export.documents import (
    Figures,
    TrialVerificationDocument,
    VerificationDetails,
    VerificationDocument,
)
from harness.export.int8_graph import float_ops
from harness.heads import Head
from harness.runtimes.base import LATENCY_ROUNDS, phase
from harness.runtimes.metadata import checked_metadata
from harness.runtimes.predict import normalize, open_session
from harness.store.rows import Latency

if TYPE_CHECKING:
    from harness.runtimes.documents import ModelMetadata
    from harness.store.rows import Fastest, RuntimeCheck

MIN_AGREEMENT = 0.999  # top-1 agreement below this fails verification
MAX_ABS_DIFF = 1e-3  # largest |torch - onnxruntime| output difference allowed
MAX_PSNR_DIFF_DB = 0.1  # image outputs: PSNR under the two runtimes may differ this much
MAX_INT8_DROP = 0.01  # an INT8 model may lose this much of the task metric (1 percentage point)
# A runtime computing in bf16 or fp16 is judged as a deployment, not for bit parity: the task
# metric as for INT8, and its top-1 answers agreeing with float32 PyTorch's this often.
MIN_REDUCED_AGREEMENT = 0.99
VERIFY_BATCH = 256


@dataclass(frozen=True)
class Gate:
    rule: str  # what passing means, shown beside the verdict
    passes: Callable[[Figures], bool]


_CLASSES = Gate(
    f"top-1 agreement >= {MIN_AGREEMENT:.1%}, max abs difference <= {MAX_ABS_DIFF:g}",
    lambda v: v["top1_agreement"] >= MIN_AGREEMENT and v["max_abs_diff"] <= MAX_ABS_DIFF,
)


def _psnr_gap(v: Figures) -> float:
    """dB between the two runtimes' PSNR; an image head's figures hold both (its objective scores them)."""
    torch_psnr, psnr = v["torch_psnr"], v["psnr"]
    if torch_psnr is None or psnr is None:
        raise TypeError("the image gate reads figures without a PSNR")
    return abs(torch_psnr - psnr)


# Which gate applies: the model's head kind, or "int8" for a quantized file. Each reads the
# figures of `compare`: "metric" and "psnr" are the runtime's, beside PyTorch's.
GATES: dict[str, Gate] = {
    Head.LOGITS: _CLASSES,
    Head.SINGLE_LOGIT: _CLASSES,
    Head.IMAGE: Gate(
        f"PSNR within {MAX_PSNR_DIFF_DB} dB, max abs difference <= {MAX_ABS_DIFF:g}",
        lambda v: _psnr_gap(v) <= MAX_PSNR_DIFF_DB and v["max_abs_diff"] <= MAX_ABS_DIFF,
    ),
    "int8": Gate(
        f"task metric at most {100 * MAX_INT8_DROP:g} percentage point below float32 PyTorch",
        lambda v: v["metric"] - v["torch_metric"] >= -MAX_INT8_DROP,
    ),
    "reduced": Gate(
        f"task metric at most {100 * MAX_INT8_DROP:g} percentage point below float32 PyTorch,"
        f" top-1 agreement >= {MIN_REDUCED_AGREEMENT:.0%}",
        lambda v: v["metric"] - v["torch_metric"] >= -MAX_INT8_DROP and v["top1_agreement"] >= MIN_REDUCED_AGREEMENT,
    ),
}
FULL_PRECISION = "f32"  # what a runtime row reports when it computed in float32


def gate_of(head: Head, quantize: str | None, inference_precision: str = FULL_PRECISION) -> str:
    """The GATES key for a file: "int8" when it is quantized, "reduced" for a float file that a
    runtime computed in bf16 or fp16, else its head kind (a plain string: it is stored and printed)."""
    if quantize:
        return "int8"
    return str(head) if inference_precision == FULL_PRECISION else "reduced"


def compare(torch_out: torch.Tensor, out: torch.Tensor, labels: torch.Tensor, head: Head) -> Figures:
    """A runtime's outputs beside PyTorch's on the same inputs: the figures every gate reads."""
    objective = OBJECTIVES[head]
    torch_scores, scores = objective.scores(torch_out, labels), objective.scores(out, labels)
    n = len(labels)
    return {
        "max_abs_diff": (torch_out - out).abs().max().item(),
        "top1_agreement": (objective.predict(torch_out) == objective.predict(out)).float().mean().item(),
        "torch_metric": torch_scores["acc"].item() / n,
        "metric": scores["acc"].item() / n,
        "torch_psnr": torch_scores["psnr"].item() / n if "psnr" in torch_scores else None,
        "psnr": scores["psnr"].item() / n if "psnr" in scores else None,
    }


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
    # a quantized file: op type -> how many such ops it computes in float (harness.export.int8_graph),
    # {} when it runs integer throughout; None for a float file
    float_ops: dict[str, int] | None
    latency: Latency | None  # see measure_latency
    runtimes: tuple[RuntimeCheck, ...] = ()  # the cross-runtime matrix, when one was asked for (harness.export.matrix)
    fastest: Fastest | None = None  # the matrix's fastest row that passes its gate (harness.store.rows)


@dataclass(frozen=True)
class TrialVerification:
    """A verification with the trial it belongs to, as `harness export` and a sweep report it."""

    trial_id: str
    verification: Verification

    def as_json(self) -> TrialVerificationDocument:
        """The --format json shape: the trial id, then every field of the verification."""
        return {"trial_id": self.trial_id, **verification_json(self.verification)}


def verification_details(v: Verification) -> VerificationDetails:
    """What the store keeps (exports.details_json): every field in order, less the matrix, which has
    a table of its own, and the fastest row, which is read from it."""
    details = asdict(v)
    del details["runtimes"], details["fastest"]
    return cast(VerificationDetails, details)  # asdict's keys are the fields, which VerificationDetails declares


def verification_json(v: Verification) -> VerificationDocument:
    """Every field; the matrix rows with their latency medians, and the fastest that passes."""
    return {**verification_details(v), "runtimes": [c.as_json() for c in v.runtimes], "fastest": v.fastest}


def _clear(faster: list[float], slower: list[float]) -> bool:
    """Whether two runtimes' round medians do not overlap: the ratio is then no accident of one round."""
    return max(faster) < min(slower) or min(faster) > max(slower)


def _paired(slower: list[float], faster: list[float]) -> float:
    """The median over rounds of one runtime's figure over the other's, round by round: both
    were measured moments apart, so a machine that slows down for a while moves both."""
    return float(np.median(np.asarray(slower) / np.asarray(faster)))


def measure_latency(
    onnx_path: str, model: torch.nn.Module, x: np.ndarray, *, rounds: int = LATENCY_ROUNDS, budget_s: float = 0.1
) -> Latency:
    """Batch-1 latency and batch-64 throughput, onnxruntime (CPU provider) against PyTorch eager
    (inference mode, float32), both with torch's CPU thread count.

    Each runtime runs in a phase of its own, and the phases take turns over `rounds` rounds
    (the order flips each round), after a first warm-up of each. onnxruntime's intra-op threads
    are told not to spin after a run: spinning threads starve PyTorch's OpenMP threads on a
    small machine, which made PyTorch's batch-1 median jump between 0.8 and 68 ms in one
    process. The result gives per-round medians, their median and min-max spread, the ratio
    (the median of the per-round ratios), and whether the two spreads separate
    (`speedup_b1_clear`): only then is the ratio worth printing."""
    threads = torch.get_num_threads()
    session = open_session(onnx_path, threads=threads)
    name = session.get_inputs()[0].name
    batch = np.ascontiguousarray(np.resize(x, (64, *x.shape[1:])))  # 64 images, repeating the split if it is smaller
    single = batch[:1]
    model = model.eval()
    runners: dict[str, Callable[[np.ndarray], Any]] = {
        "onnxruntime": lambda a: session.run(None, {name: a}),
        "torch": lambda a: model(torch.from_numpy(a)),
    }
    b1: dict[str, list[float]] = {r: [] for r in runners}
    b64: dict[str, list[float]] = {r: [] for r in runners}
    with torch.inference_mode():
        for run in runners.values():  # a first, longer warm-up: one-time allocations and JIT-like paths
            phase(partial(run, batch), min_calls=2, budget_s=0.0, warmup_s=0.2)
        for i in range(rounds):
            for runtime in list(runners)[:: 1 if i % 2 == 0 else -1]:
                run = runners[runtime]
                b1[runtime].append(phase(partial(run, single), min_calls=10, budget_s=budget_s) * 1e3)
                b64[runtime].append(64 / phase(partial(run, batch), min_calls=2, budget_s=budget_s, warmup_calls=1))
    ort, pt, ort64, pt64 = b1["onnxruntime"], b1["torch"], b64["onnxruntime"], b64["torch"]
    return {
        "threads": threads,
        "device": "cpu",
        "rounds": rounds,
        "spinning": False,
        "onnxruntime_b1_round_ms": ort,
        "onnxruntime_b1_p50_ms": float(np.median(ort)),
        "onnxruntime_b1_p95_ms": float(np.percentile(ort, 95)),  # over the round medians
        "onnxruntime_b1_spread_ms": [min(ort), max(ort)],
        "onnxruntime_b64_round_images_per_s": ort64,
        "onnxruntime_b64_images_per_s": float(np.median(ort64)),
        "onnxruntime_b64_spread_images_per_s": [min(ort64), max(ort64)],
        "torch_b1_round_ms": pt,
        "torch_b1_p50_ms": float(np.median(pt)),
        "torch_b1_p95_ms": float(np.percentile(pt, 95)),
        "torch_b1_spread_ms": [min(pt), max(pt)],
        "torch_b64_round_images_per_s": pt64,
        "torch_b64_images_per_s": float(np.median(pt64)),
        "torch_b64_spread_images_per_s": [min(pt64), max(pt64)],
        "speedup_b1": _paired(pt, ort),
        "speedup_b64": _paired(ort64, pt64),
        "speedup_b1_clear": _clear(ort, pt),
        "speedup_b64_clear": _clear(ort64, pt64),
    }


def batched_outputs(run: Callable[[np.ndarray], Any], x: np.ndarray) -> torch.Tensor:
    return torch.cat(
        [torch.as_tensor(np.asarray(run(x[i : i + VERIFY_BATCH]))).float() for i in range(0, len(x), VERIFY_BATCH)]
    )


def _onnxruntime_outputs(
    onnx_path: str, images: np.ndarray, *, cuda: bool
) -> tuple[torch.Tensor, np.ndarray, ModelMetadata, str]:
    """The split through onnxruntime: outputs, the normalised inputs, the file's metadata and the
    provider used. The session ends here, so its threads are gone before PyTorch runs."""
    session = open_session(onnx_path, cuda=cuda, threads=torch.get_num_threads())
    meta = checked_metadata(session, onnx_path)
    x = normalize(images, meta["preprocessing"])
    name = session.get_inputs()[0].name
    return batched_outputs(lambda a: session.run(None, {name: a})[0], x), x, meta, session.get_providers()[0]


def verify_onnx(
    *,
    onnx_path: str,
    model: torch.nn.Module,
    head: Head,
    test: Split,
    task: str,
    float_size: int | None = None,
    latency: bool = True,
) -> Verification:
    """The whole test split through onnxruntime and the float32 PyTorch model (eval mode, CPU),
    compared under the gate for the file: its output kind, or "int8" when it is quantized
    (then `float_size`, the float32 file's bytes, gives the size ratio)."""
    cuda = torch.cuda.is_available()  # ask onnxruntime for CUDA only when a GPU is really there
    ort_out, x, meta, provider = _onnxruntime_outputs(onnx_path, test.images, cuda=cuda)
    model = model.eval()
    with torch.no_grad():
        torch_out = batched_outputs(lambda a: model(torch.from_numpy(a)), x)
    labels = torch.from_numpy(np.asarray(test.labels))
    numbers = compare(torch_out, ort_out, labels, head)
    quantize = meta.get("quantize") or None
    gate = gate_of(head, quantize)
    size = os.path.getsize(onnx_path)
    return Verification(
        path=str(onnx_path),
        task=task,
        n=len(labels),
        max_abs_diff=numbers["max_abs_diff"],
        top1_agreement=numbers["top1_agreement"],
        torch_metric=numbers["torch_metric"],
        ort_metric=numbers["metric"],
        torch_psnr=numbers["torch_psnr"],
        ort_psnr=numbers["psnr"],
        provider=provider,
        requested="CUDAExecutionProvider" if cuda else "CPUExecutionProvider",
        gate=gate,
        rule=GATES[gate].rule,
        passed=GATES[gate].passes(numbers),
        quantize=quantize,
        size_ratio=size / float_size if quantize and float_size else None,
        float_ops=dict(float_ops(onnx.load(str(onnx_path)))) if quantize else None,
        latency=measure_latency(str(onnx_path), model, x) if latency else None,
    )
