"""The shapes of the store's rows, as its reads return them (see `harness.store.schema` for the tables).

They stay plain dicts at runtime (sqlite3.Row -> dict), so the JSON a command prints is the row
itself; these TypedDicts only tell mypy and the reader which keys a row has. Columns a store
can leave NULL are `| None`; keys computed by a query (`epochs_run`, `best_metric`, ...) are
declared on the row kind whose query adds them. No torch, no rich: any module may import this.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

__all__ = [
    "Latency",
    "RuntimeCheck",
    "RuntimeCheckRow",
    "EpochRow",
    "ExportRow",
    "ProbeRow",
    "SweepListRow",
    "SweepRow",
    "StoredTrial",
    "SweepTrialRow",
    "TrialRow",
    "TrialSummary",
]


class SweepRow(TypedDict):
    """A row of `sweeps`."""

    id: str
    task: str  # one task, or several joined by "," (a reproduction may mix tasks)
    status: str
    created_at: str  # ISO 8601, UTC
    finished_at: str | None
    seed: int
    command: str
    spec_json: str
    environment_json: str


class SweepListRow(SweepRow):
    """`Store.sweeps()`: a sweep with its trials counted by status."""

    trials: dict[str, int]


class StoredTrial(TypedDict):
    """`Store.sweep_record()`: one trial of a sweep as a resume re-plans it."""

    id: str
    ray_id: str
    status: str
    ended_at: str | None
    checkpoint_path: str | None
    config_json: str
    epochs: list[dict[str, Any]]  # each stored epoch as the trial reported it: epoch, metrics, scores


class SweepTrialRow(TypedDict):
    """`Store.sweep_trials()`: how one trial of a sweep ended."""

    id: str
    status: str
    error: str | None
    ended_at: str | None
    epochs_run: int


class TrialRow(TypedDict):
    """A row of `trials`."""

    id: str  # <sweep id>.<Ray's id>
    ray_id: str
    sweep_id: str
    task: str
    arch: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int  # planned
    seed: int
    status: str
    error: str | None
    traceback: str | None
    params: int | None
    node: str | None
    device: str | None  # from the first epoch: "cuda:0 NVIDIA H200", "cpu ..."; None before it (or schema < 6)
    gpu_ids: str | None  # JSON list of Ray's GPU ids as strings
    precision: str | None  # fp32 | bf16 | fp16
    checkpoint_path: str | None
    notes: str | None  # what the trial changed of its network (--init, --pretrained, grey input)
    config_json: str | None  # None in stores older than schema 3
    best_epoch: int | None
    test_json: str | None
    started_at: str
    ended_at: str | None


class TrialSummary(TrialRow):
    """`Store.trial_summaries()`: a trial with its epochs and latest exports summed up."""

    epochs_run: int
    best_metric: float | None  # the best of the task's metric over its epochs
    mean_epoch_time_s: float | None  # seconds
    mean_samples_per_s: float | None  # training images per second
    onnx: str | None  # the latest float32 export's status
    onnx_details: str | None  # its details_json
    int8_details: str | None  # the latest INT8 export's details_json
    onnx_matrix: str | None  # the latest float32 export's runtime_checks, a JSON array of their details
    int8_matrix: str | None  # the latest INT8 export's, likewise
    runtimes_passed: int | None  # the latest float32 export's cross-runtime matrix: runtimes that passed
    runtimes_checked: int | None  # ... and that ran or tried to (None: no matrix)


class EpochRow(TypedDict):
    """A row of `epochs`."""

    trial_id: str
    epoch: int  # 1-based
    train_loss: float | None
    train_acc: float | None
    val_loss: float | None
    val_acc: float | None
    epoch_time_s: float | None  # training only, seconds
    eval_time_s: float | None  # seconds
    samples_per_s: float | None
    cpu_s: float | None  # the trial process's CPU seconds over training + validation; None before schema 8
    gpu_s: float | None  # (epoch_time_s + eval_time_s) x the GPU share Ray gave it; None on the CPU
    extra_json: str | None  # the task's own scores, e.g. {"val_psnr": ...}
    recorded_at: str


class ExportRow(TypedDict):
    """A row of `exports`; the verification's columns stay None until it ran."""

    id: int
    trial_id: str
    path: str
    created_at: str
    status: str
    quantize: str | None
    sha256: str | None
    opset: int | None
    ir_version: int | None
    provider: str | None
    max_abs_diff: float | None
    top1_agreement: float | None
    torch_metric: float | None
    ort_metric: float | None
    details_json: str | None


class ProbeRow(TypedDict):
    """`Store.probes()`: one probe's figure for a trial (harness.results.probes), its detail parsed."""

    probe: str
    value: float  # the figure as the report measured it, a proportion 0..1
    n: int  # what it counts over: images (x passes), or pixels
    ci95_low: float | None  # None: an exact count, no interval
    ci95_high: float | None
    baseline: float | None  # the trial's own figure beside it; None where the store has none
    detail: dict[str, Any]  # how it was measured
    recorded_at: str  # ISO 8601, UTC


class RuntimeCheckRow(TypedDict):
    """A `RuntimeCheck` as JSON (`RuntimeCheck.as_json`): what `--format json` prints, the store keeps in
    runtime_checks.details_json and `Store.runtime_checks()` gives back, and what the matrix's views read."""

    runtime: str
    status: str  # a RuntimeStatus
    version: str | None
    provider: str | None
    precision: str | None  # RuntimeCheck.inference_precision, under the key the store has always used
    n: int
    gate: str | None
    max_abs_diff: float | None
    top1_agreement: float | None
    torch_metric: float | None
    metric: float | None
    torch_psnr: float | None
    psnr: float | None
    b1_round_ms: list[float]  # milliseconds, one median per round
    informational: bool
    gate_passed: bool | None
    note: str
    b1_p50_ms: float | None  # the median of b1_round_ms
    b1_spread_ms: Sequence[float] | None  # (min, max) of b1_round_ms: a tuple fresh, a list read back from JSON


@dataclass(frozen=True)
class RuntimeCheck:
    """One runtime's row of an exported file's verification matrix (harness.export.matrix), as
    the store writes it (runtime_checks)."""

    runtime: str
    status: str  # a RuntimeStatus
    version: str | None = None
    provider: str | None = None  # what ran it, as the runtime reports it
    # The precision the runtime really computed in ("f32", "bf16", "int8+f32"), not the trial's training
    # precision (TrialRow.precision); its JSON key and store column keep the name `precision`.
    inference_precision: str | None = None
    n: int = 0  # test images run
    gate: str | None = None  # the GATES entry applied
    max_abs_diff: float | None = None  # against PyTorch float32
    top1_agreement: float | None = None  # image outputs: binarised pixels that agree
    torch_metric: float | None = None
    metric: float | None = None  # the task metric under this runtime
    torch_psnr: float | None = None
    psnr: float | None = None
    b1_round_ms: list[float] = field(default_factory=list)  # batch-1 latency, one median per round
    informational: bool = False
    gate_passed: bool | None = None  # what the gate said, informational rows included (None: did not run)
    note: str = ""  # the install hint, the error line, or what an informational row shows

    @property
    def b1_ms(self) -> float | None:
        return float(statistics.median(self.b1_round_ms)) if self.b1_round_ms else None

    @property
    def b1_spread_ms(self) -> tuple[float, float] | None:
        return (min(self.b1_round_ms), max(self.b1_round_ms)) if self.b1_round_ms else None

    def as_json(self) -> RuntimeCheckRow:
        """The fields in declaration order (`inference_precision` as "precision"), then the latency's
        median and spread."""
        return {
            "runtime": self.runtime,
            "status": self.status,
            "version": self.version,
            "provider": self.provider,
            "precision": self.inference_precision,
            "n": self.n,
            "gate": self.gate,
            "max_abs_diff": self.max_abs_diff,
            "top1_agreement": self.top1_agreement,
            "torch_metric": self.torch_metric,
            "metric": self.metric,
            "torch_psnr": self.torch_psnr,
            "psnr": self.psnr,
            "b1_round_ms": list(self.b1_round_ms),
            "informational": self.informational,
            "gate_passed": self.gate_passed,
            "note": self.note,
            "b1_p50_ms": self.b1_ms,
            "b1_spread_ms": self.b1_spread_ms,
        }


class Fastest(TypedDict):
    """The fastest deployment of an exported file that passes its gate (`fastest_deployment`)."""

    runtime: str
    precision: str  # what the runtime computed in, as its row says: "f32", "bf16", "int8+f32"
    b1_ms: float  # batch-1 latency, the median of its rounds
    # onnxruntime's batch-1 latency on the float32 file over this one's; None where that row is absent
    speedup: float | None
    metric_change: float  # its task metric less float32 PyTorch's, a proportion (-0.0002: -0.02 pp)


def fastest_deployment(
    rows: Sequence[RuntimeCheckRow], *, baseline: Sequence[RuntimeCheckRow] | None = None
) -> Fastest | None:
    """The row of `rows` (one file's matrix) with the lowest batch-1 latency among those whose
    gate passed: informational rows count here (a bf16 row's gate is the task metric and top-1
    agreement, harness.export.matrix), failed and missing ones do not. The speed-up is against
    onnxruntime's row in `baseline`, the float32 file's matrix (default `rows`: a float32 file's
    own). None when no row passed with a latency."""
    against = rows if baseline is None else baseline
    reference = next((r["b1_p50_ms"] for r in against if r["runtime"] == "onnxruntime"), None)
    passing = [r for r in rows if r["gate_passed"] and r["b1_p50_ms"] and r["metric"] is not None]
    if not passing:
        return None
    row = min(passing, key=lambda r: r["b1_p50_ms"] or math.inf)
    b1 = row["b1_p50_ms"] or math.inf
    return {
        "runtime": row["runtime"],
        "precision": row["precision"] or "f32",
        "b1_ms": b1,
        "speedup": reference / b1 if reference else None,
        "metric_change": (row["metric"] or 0.0) - (row["torch_metric"] or 0.0),
    }


def fastest_of(*candidates: Fastest | None) -> Fastest | None:
    """The lowest batch-1 latency of several files' fastest (a trial's float32 and INT8 files)."""
    known = [c for c in candidates if c is not None]
    return min(known, key=lambda c: c["b1_ms"]) if known else None


class Latency(TypedDict):
    """Batch-1 latency and batch-64 throughput, onnxruntime (CPU provider) against PyTorch eager, in
    interleaved rounds (`harness.export.verify.measure_latency`), as an export's
    details_json keeps it and `harness show` reads it back. Each runtime's keys carry its
    name as a prefix; a median is over the round medians, a spread is [min, max] over rounds."""

    threads: int  # torch's CPU threads, which both runtimes got
    device: str  # "cpu"
    rounds: int
    spinning: bool  # whether onnxruntime's threads spin between runs (never: they starve PyTorch's)
    onnxruntime_b1_round_ms: list[float]  # milliseconds, one median per round
    onnxruntime_b1_p50_ms: float
    onnxruntime_b1_p95_ms: float
    onnxruntime_b1_spread_ms: list[float]
    onnxruntime_b64_round_images_per_s: list[float]
    onnxruntime_b64_images_per_s: float
    onnxruntime_b64_spread_images_per_s: list[float]
    torch_b1_round_ms: list[float]
    torch_b1_p50_ms: float
    torch_b1_p95_ms: float
    torch_b1_spread_ms: list[float]
    torch_b64_round_images_per_s: list[float]
    torch_b64_images_per_s: float
    torch_b64_spread_images_per_s: list[float]
    speedup_b1: float  # PyTorch's batch-1 time over onnxruntime's: the median of the per-round ratios
    speedup_b64: float  # onnxruntime's images/s over PyTorch's, likewise
    speedup_b1_clear: bool  # whether the two runtimes' spreads separate: only then is the ratio worth printing
    speedup_b64_clear: bool
