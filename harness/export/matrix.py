"""The cross-runtime matrix: one exported file, the whole test split, every chosen runtime.

PyTorch (float32, eval mode, CPU) scores the split once; each runtime then runs the same
normalised inputs (harness.runtimes.registry) and is compared with it under the file's gate
(harness.export.verify.GATES), so a row passes in OpenVINO exactly when it would in onnxruntime.
A runtime that is not installed is a row saying so, never an error; one that fails to load or
run the file is a failed row with the runtime's own first line. Informational rows (OpenVINO
as it comes: bf16 where the CPU has it) show their figures and never fail; a row computed in
bf16 is judged by the task metric and top-1 agreement (GATES["reduced"]), so it can be the
fastest deployment (harness.store.rows.fastest_deployment) without ever failing verify.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from harness.errors import HarnessError
from harness.export.verify import GATES, batched_outputs, compare, gate_of
from harness.heads import Head
from harness.kinds import RuntimeStatus
from harness.runtimes.base import Runtime, RuntimeRun, tally
from harness.store.rows import RuntimeCheck


def torch_outputs(model: torch.nn.Module, x: np.ndarray) -> torch.Tensor:
    """PyTorch's outputs for the split, batched as verify batches them."""
    model = model.eval()
    with torch.inference_mode():
        return batched_outputs(lambda a: model(torch.from_numpy(a)), x)


def check_runtime(
    runtime: Runtime,
    path: Path,
    x: np.ndarray,
    *,
    reference: torch.Tensor,
    labels: torch.Tensor,
    head: Head,
    gate: str,
    threads: int,
) -> RuntimeCheck:
    """One row: `runtime` on the file against PyTorch's `reference` outputs for `x`."""
    version = runtime.version()
    if version is None:
        return RuntimeCheck(
            runtime.name, RuntimeStatus.MISSING, informational=runtime.informational, note=runtime.install
        )
    try:
        run: RuntimeRun = runtime.evaluate(path, x, threads)
        out = torch.from_numpy(np.ascontiguousarray(run.outputs, dtype=np.float32))
        if tuple(out.shape) != tuple(reference.shape):
            raise HarnessError(f"gave outputs of shape {tuple(out.shape)}, PyTorch {tuple(reference.shape)}")
    except Exception as exc:  # each runtime raises its own types for an op it lacks or a file it refuses
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return RuntimeCheck(
            runtime.name, RuntimeStatus.ERROR, version, n=len(x), informational=runtime.informational, note=line
        )
    figures = compare(reference, out, labels, head)
    if gate != "int8":  # a float file computed in bf16 is judged as a deployment, not for parity
        gate = gate_of(head, None, run.inference_precision)
    passed = GATES[gate].passes(figures)
    status = RuntimeStatus.INFO if runtime.informational else RuntimeStatus.PASSED if passed else RuntimeStatus.FAILED
    return RuntimeCheck(
        runtime.name,
        status,
        version,
        provider=run.provider,
        # a quantized file computes its quantized layers in int8 whatever the runtime's float precision
        inference_precision=f"int8+{run.inference_precision}" if gate == "int8" else run.inference_precision,
        n=len(x),
        gate=gate,
        **figures,
        b1_round_ms=list(run.b1_round_ms),
        informational=runtime.informational,
        gate_passed=passed,
        note=runtime.about if runtime.informational else "",
    )


def check_runtimes(
    runtimes: Sequence[Runtime],
    *,
    onnx_path: Path,
    model: torch.nn.Module,
    head: Head,
    x: np.ndarray,
    labels: np.ndarray,
    quantize: str | None = None,
) -> list[RuntimeCheck]:
    """Every runtime in `runtimes` on the whole normalised split `x`, in order."""
    reference = torch_outputs(model, x)
    y = torch.from_numpy(np.asarray(labels))
    gate = gate_of(head, quantize)
    threads = torch.get_num_threads()  # every runtime gets the CPUs PyTorch was given
    return [
        check_runtime(r, onnx_path, x, reference=reference, labels=y, head=head, gate=gate, threads=threads)
        for r in runtimes
    ]


def all_passed(checks: Sequence[RuntimeCheck]) -> bool:
    """Whether every runtime that ran (or tried to) passed, informational rows aside."""
    passed, checked = tally([c.as_json() for c in checks])
    return passed == checked
