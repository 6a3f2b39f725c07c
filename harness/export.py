"""Checkpoint -> ONNX (with metadata) -> onnx.checker -> onnxruntime parity on the test split.

Export is always followed by verification, and both land in the store: an ONNX file nobody
compared with PyTorch is not a product.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from harness import __version__
from harness.architectures import get_arch
from harness.checkpoint import load_checkpoint
from harness.config import TrialSpec
from harness.datasets import DatasetSpec, Split, get_task, load_task
from harness.errors import HarnessError
from harness.predict import normalize, open_session, read_metadata
from harness.store import Store
from harness.train import OBJECTIVES

OPSET = 18  # pinned: supported by onnxruntime >= 1.14 and by torch's dynamo exporter
MIN_AGREEMENT = 0.999  # top-1 agreement below this fails verification
MAX_ABS_DIFF = 1e-3  # largest |torch - onnxruntime| output difference allowed
VERIFY_BATCH = 256


def ort_max_ir_version() -> int:
    """The newest ONNX IR version the installed onnxruntime loads, found by asking it.

    onnx may write a newer IR than onnxruntime reads (onnx 1.23 defaults to IR 14, which
    onnxruntime 1.31 refuses), so probe with a one-node model instead of trusting a table.
    """
    import onnxruntime as ort

    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    vi = [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [1]) for n in ("x", "y")]
    graph = onnx.helper.make_graph([node], "probe", [vi[0]], [vi[1]])
    for ir in range(onnx.IR_VERSION, 3, -1):
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)], ir_version=ir)
        try:
            ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            return ir
        except Exception:  # onnxruntime's "Unsupported model IR version" is a generic Fail
            continue
    raise RuntimeError("onnxruntime loads no IR version this onnx can write")


def preprocessing(task: DatasetSpec, shape: tuple[int, int, int], pixels: str | None = None) -> dict[str, Any]:
    """How raw pixels become the model's input; written into the file for other runtimes."""
    mean, std = task.pixel_stats(pixels)
    return {
        "scale": 1.0 / 255.0, "mean": list(mean), "std": list(std),
        "resize": list(shape[1:]), "color": "L" if shape[0] == 1 else "RGB",
        "formula": "(pixel * scale - mean) / std, pixels 0..255, layout NCHW",
    }  # fmt: skip


def model_metadata(*, task: DatasetSpec, spec: TrialSpec, trial_id: str, metrics: dict[str, Any]) -> dict[str, str]:
    """Everything another runtime needs to use the file without our code."""
    shape = task.shape(spec.image_size)
    return {
        "task": task.name,
        "classes": json.dumps(list(task.classes)),
        "input_shape": json.dumps(list(shape)),
        "input_dtype": "float32",
        "preprocessing": json.dumps(preprocessing(task, shape, spec.pixels)),
        "output": get_arch(spec.arch).head,  # logits | single_logit (pass through a sigmoid) | image (0..1)
        "report_id": get_arch(spec.arch).report or "",
        "architecture": spec.arch,
        "trial_id": trial_id,
        "metrics": json.dumps(metrics),
        "harness_version": __version__,
    }


def export_onnx(*, model: torch.nn.Module, example: torch.Tensor, out_path: Path, metadata: dict[str, str],
                opset: int = OPSET) -> onnx.ModelProto:  # fmt: skip
    """Trace with torch's dynamo exporter (chosen explicitly) and a dynamic batch axis."""
    batch = torch.export.Dim("batch", min=1)
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress steps
        program = torch.onnx.export(
            model.eval(), (example,), dynamo=True, opset_version=opset, input_names=["input"],
            output_names=["output"], dynamic_shapes=({0: batch},), verbose=False,
        )  # fmt: skip
    proto = program.model_proto
    proto.ir_version = min(proto.ir_version, ort_max_ir_version())
    onnx.helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, out_path)
    return proto


@dataclass(frozen=True)
class Verification:
    path: str
    n: int  # test images compared
    max_abs_diff: float
    top1_agreement: float
    torch_metric: float  # test accuracy under PyTorch
    ort_metric: float  # test accuracy under onnxruntime
    provider: str  # the execution provider onnxruntime actually used
    requested: str  # the one we asked for first
    passed: bool


def verify_onnx(*, onnx_path: Path, model: torch.nn.Module, head: str, test: Split) -> Verification:
    """The whole test split through onnxruntime and PyTorch (eval mode, CPU), compared."""
    cuda = torch.cuda.is_available()  # ask onnxruntime for CUDA only when a GPU is really there
    session = open_session(onnx_path, cuda=cuda)
    meta = read_metadata(session)
    x = normalize(test.images, meta["preprocessing"])
    input_name = session.get_inputs()[0].name
    ort_out = np.concatenate([
        session.run(None, {input_name: x[i : i + VERIFY_BATCH]})[0] for i in range(0, len(x), VERIFY_BATCH)
    ])  # fmt: skip
    with torch.no_grad():
        torch_out = torch.cat([model.eval()(torch.from_numpy(x[i : i + VERIFY_BATCH])) for i in range(0, len(x), VERIFY_BATCH)])
    ort_t, labels = torch.from_numpy(ort_out), torch.from_numpy(np.asarray(test.labels))
    objective = OBJECTIVES[head]
    # Top-1 agreement for classifiers; for image heads, the share of binarised pixels that agree.
    agreement = (objective.predict(torch_out) == objective.predict(ort_t)).float().mean().item()
    diff = (torch_out - ort_t).abs().max().item()
    return Verification(
        path=str(onnx_path), n=len(labels), max_abs_diff=diff, top1_agreement=agreement,
        torch_metric=objective.scores(torch_out, labels)["acc"].item() / len(labels),
        ort_metric=objective.scores(ort_t, labels)["acc"].item() / len(labels),
        provider=session.get_providers()[0],
        requested="CUDAExecutionProvider" if cuda else "CPUExecutionProvider",
        passed=agreement >= MIN_AGREEMENT and diff <= MAX_ABS_DIFF,
    )  # fmt: skip


def record(store: Store, export_id: int, result: Verification) -> None:
    store.set_verification(
        export_id, status="verified" if result.passed else "failed", provider=result.provider,
        max_abs_diff=result.max_abs_diff, top1_agreement=result.top1_agreement, torch_metric=result.torch_metric,
        ort_metric=result.ort_metric, details=asdict(result),
    )  # fmt: skip


def load_trial(store: Store, trial_id: str) -> tuple[torch.nn.Module, TrialSpec, dict[str, Any]]:
    """A stored trial's best checkpoint, rebuilt."""
    path = store.trial(trial_id)["checkpoint_path"]
    if not path:
        raise HarnessError(
            f"trial {trial_id!r} has no checkpoint (it diverged or never finished an epoch)",
            "pick another trial from `harness leaderboard`",
        )
    return load_checkpoint(path)


def _test_split(spec: TrialSpec) -> Split:
    return load_task(spec.task, spec.data_dir, variant=spec.variant, image_size=spec.image_size).test


def export_trial(store: Store, *, trial_id: str, out_dir: Path, opset: int = OPSET) -> Verification:
    """Export a stored trial's best checkpoint, verify it, and record both in the store."""
    model, spec, ckpt = load_trial(store, trial_id)
    task = get_task(spec.task)
    out_path = out_dir / f"{spec.task}-{spec.arch}-{trial_id}.onnx"
    test = _test_split(spec)
    example = torch.from_numpy(normalize(test.images[:2], preprocessing(task, task.shape(spec.image_size), spec.pixels)))
    metrics = {k: v for k, v in ckpt["metrics"].items() if k == "epoch" or k.startswith("val_")}
    meta = model_metadata(task=task, spec=spec, trial_id=trial_id, metrics=metrics)
    proto = export_onnx(model=model, example=example, out_path=out_path, metadata=meta, opset=opset)
    # Recorded as "exported" at once: should verification itself crash, the store still says
    # the file exists and was never verified.
    export_id = store.add_export(trial_id=trial_id, path=str(out_path), opset=opset, ir_version=proto.ir_version)
    result = verify_onnx(onnx_path=out_path, model=model, head=get_arch(spec.arch).head, test=test)
    record(store, export_id, result)
    return result


def verify_file(store: Store, *, onnx_path: Path) -> Verification:
    """`harness verify`: find the file's trial in the store, rebuild it, compare, record."""
    meta = read_metadata(open_session(onnx_path))
    if "trial_id" not in meta:
        raise HarnessError(f"{str(onnx_path)!r} has no harness metadata", "verify files written by `harness export`")
    model, spec, _ = load_trial(store, meta["trial_id"])
    result = verify_onnx(onnx_path=onnx_path, model=model, head=get_arch(spec.arch).head, test=_test_split(spec))
    proto = onnx.load(str(onnx_path), load_external_data=False)
    export_id = store.add_export(trial_id=meta["trial_id"], path=str(onnx_path), opset=proto.opset_import[0].version,
                                 ir_version=proto.ir_version)  # fmt: skip
    record(store, export_id, result)
    return result
