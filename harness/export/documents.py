"""The shapes of what export measures, prints and stores: a runtime's figures against PyTorch, the
latency, the verification (`--format json`, and `exports.details_json` without its matrix) and the
model card (`harness card --format json`, rendered by `harness.views.card`).

Plain dicts at runtime, so the JSON is the document itself; these TypedDicts only tell mypy and the
reader which keys there are (declaration order is the JSON's order where a dataclass gives it). No
torch: the torch-free card reads them too.
"""

from __future__ import annotations

from typing import TypedDict

from harness.runtimes.documents import ModelMetadata
from harness.store.rows import Fastest, Latency, RuntimeCheckRow

__all__ = [
    "CardVerification",
    "Figures",
    "ModelCard",
    "TrialVerificationDocument",
    "VerificationDetails",
    "VerificationDocument",
]


class Figures(TypedDict):
    """A runtime's outputs beside PyTorch's on the same inputs (`harness.export.verify.compare`):
    what every gate reads. Metrics are proportions 0..1, PSNR in dB."""

    max_abs_diff: float
    top1_agreement: float  # image outputs: binarised pixels that agree
    torch_metric: float
    metric: float  # the task metric under the runtime
    torch_psnr: float | None  # image outputs only
    psnr: float | None


class VerificationDetails(TypedDict):
    """A `harness.export.verify.Verification` as the store keeps it (exports.details_json): every
    field but the cross-runtime matrix, which has a table of its own."""

    path: str
    task: str
    n: int  # test images compared
    max_abs_diff: float
    top1_agreement: float
    torch_metric: float
    ort_metric: float
    torch_psnr: float | None
    ort_psnr: float | None
    provider: str  # the execution provider onnxruntime actually used
    requested: str  # the one asked for first
    gate: str  # the GATES entry applied
    rule: str
    passed: bool
    quantize: str | None
    size_ratio: float | None  # INT8 file size / float32 file size
    float_ops: dict[str, int] | None  # INT8: op type -> count computed in float ({}: none); float file: None
    latency: Latency | None  # None: not measured


class VerificationDocument(VerificationDetails):
    """A verification as `harness verify --format json` prints it: with its matrix's rows."""

    runtimes: list[RuntimeCheckRow]
    fastest: Fastest | None  # the matrix's fastest row within its gate; None without a matrix or a passing row


class TrialVerificationDocument(VerificationDocument):
    """One file of `harness export --format json` (and of a sweep's export): its trial first."""

    trial_id: str


class CardVerification(TypedDict):
    """One stored verification of a file, as the card lists it (`harness.export.card.verifications`)."""

    export_id: int
    when: str  # ISO 8601, UTC
    runtime: str  # "onnxruntime"
    provider: str | None
    max_abs_diff: float | None
    top1_agreement: float | None
    metric: float | None
    torch_metric: float | None
    n: int | None  # None: exported, never verified
    task: str | None
    rule: str | None
    latency_p50_ms: float | None  # onnxruntime, batch 1, milliseconds
    float_ops: dict[str, int] | None  # INT8: op type -> count computed in float; None: a float file, or not recorded
    status: str  # exported (never verified) | verified | failed


class ModelCard(TypedDict):
    """The card (`harness.export.card.build_card`): the file's metadata and what the store says of it."""

    path: str
    sha256: str
    metadata: ModelMetadata
    store: str  # the results store asked (where none was found: where it was looked for)
    store_found: bool
    verifications: list[CardVerification]  # oldest first
    runtime_checks: list[RuntimeCheckRow]  # the matrix of the latest verification that ran one
    fastest: Fastest | None  # its fastest row within the gate (harness.store.rows.fastest_deployment)
