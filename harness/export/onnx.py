"""Checkpoint -> ONNX (with metadata) -> onnx.checker, then verification (harness.export.verify) and,
on request, INT8 (harness.export.quantize).

Export is always followed by verification, and both land in the store: an ONNX file nobody
compared with PyTorch is not a product. The file is recorded as "exported" the moment it is
written, then as "verified" or "failed".
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import cast

import numpy as np
import onnx
import torch

from harness import __version__
from harness.architectures import count_params, get_arch, load_user_code
from harness.config.spec import TrialSpec
from harness.datasets import DatasetSpec, Split, TaskData, get_task, load_task
from harness.engine.checkpoint import Checkpoint, load_checkpoint
from harness.errors import HarnessError
from harness.export.card import card_facts, card_path, file_sha256
from harness.export.matrix import check_runtimes
from harness.export.verify import Verification, verification_details, verify_onnx
from harness.heads import Head
from harness.paths import safe_name
from harness.runtimes.base import Runtime
from harness.runtimes.documents import CardFacts, Preprocessing
from harness.runtimes.metadata import checked_metadata, read_metadata
from harness.runtimes.predict import normalize, open_session
from harness.safefile import refuse_links, writer
from harness.store.db import Store
from harness.store.rows import fastest_deployment

OPSET = 18  # the default: the oldest opset torch's dynamo exporter writes natively, read by onnxruntime >= 1.14
MIN_OPSET = 18


def _probe(*, ir: int, opset: int) -> bool:
    """Does the installed onnxruntime load a one-node model of this IR version and opset?"""
    import onnxruntime as ort

    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    vi = [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [1]) for n in ("x", "y")]
    graph = onnx.helper.make_graph([node], "probe", [vi[0]], [vi[1]])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)], ir_version=ir)
    try:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return True
    except Exception:  # onnxruntime's refusals ("Unsupported model IR version", opset) are generic Fails
        return False


def ort_max_ir_version() -> int:
    """The newest ONNX IR version the installed onnxruntime loads, found by asking it.

    onnx may write a newer IR than onnxruntime reads (onnx 1.23 defaults to IR 14, which
    onnxruntime 1.31 refuses), so probe with a one-node model instead of trusting a table.
    """
    for ir in range(onnx.IR_VERSION, 3, -1):
        if _probe(ir=ir, opset=13):
            return ir
    raise RuntimeError("onnxruntime loads no IR version this onnx can write")


def ort_max_opset() -> int:
    """The newest default-domain opset that both this onnx knows and onnxruntime loads (probed)."""
    ir = ort_max_ir_version()
    return next(v for v in range(onnx.defs.onnx_opset_version(), MIN_OPSET - 1, -1) if _probe(ir=ir, opset=v))


def check_opset(opset: int) -> int:
    newest = ort_max_opset()
    if not MIN_OPSET <= opset <= newest:
        raise HarnessError(
            f"--opset {opset} is outside what torch's exporter and this onnxruntime share, {MIN_OPSET}..{newest}",
            f"pass --opset between {MIN_OPSET} and {newest} (default {OPSET})",
        )
    return opset


def preprocessing(task: DatasetSpec, shape: tuple[int, int, int], pixels: str | None = None) -> Preprocessing:
    """How raw pixels become the model's input; written into the file for other runtimes."""
    mean, std = task.pixel_stats(pixels)
    return {
        "scale": 1.0 / 255.0,
        "mean": list(mean),
        "std": list(std),
        "resize": list(shape[1:]),
        "color": "L" if shape[0] == 1 else "RGB",
        "formula": "(pixel * scale - mean) / std, pixels 0..255, layout NCHW",
    }


def model_metadata(
    *, task: DatasetSpec, spec: TrialSpec, trial_id: str, metrics: dict[str, float], card: CardFacts | None = None
) -> dict[str, str]:
    """Everything another runtime needs to use the file without our code; `card`: the model
    card's facts (harness.export.card.card_facts), written as JSON values."""
    shape = task.shape(spec.image_size)
    return {
        "task": task.name,
        "classes": json.dumps(list(task.classes)),
        "input_shape": json.dumps(list(shape)),
        "input_dtype": "float32",
        "preprocessing": json.dumps(preprocessing(task, shape, spec.pixels)),
        "output": str(get_arch(spec.arch).head),  # the head kind's plain value: harness.heads says what it means
        "report_id": get_arch(spec.arch).report or "",
        "architecture": spec.arch,
        "trial_id": trial_id,
        "metrics": json.dumps(metrics),
        "harness_version": __version__,
        **{key: json.dumps(value) for key, value in (card or {}).items()},
    }


def export_onnx(
    *, model: torch.nn.Module, example: torch.Tensor, out_path: Path, metadata: dict[str, str], opset: int = OPSET
) -> onnx.ModelProto:
    """Trace with torch's dynamo exporter (chosen explicitly) and a dynamic batch axis."""
    batch = torch.export.Dim("batch", min=1)
    # The exporter prints its progress steps, and notes on opset conversion to stderr.
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            program = torch.onnx.export(
                model.eval(),
                (example,),
                dynamo=True,
                opset_version=opset,
                input_names=["input"],
                output_names=["output"],
                dynamic_shapes=({0: batch},),
                verbose=False,
            )
    except Exception as exc:  # the exporter's own error types vary by version
        ops = sorted(set(re.findall(r"aten\.\w+(?:\.\w+)?", str(exc))))
        if ops:  # a network (a library's, a user's) with an operator ONNX has no translation for
            raise HarnessError(
                f"the network cannot be exported to ONNX: no translation of {', '.join(ops[:3])} at opset {opset}",
                "replace that operation in the network, or keep it in PyTorch (`harness --debug export` traces it)",
            ) from exc
        raise HarnessError(
            f"torch's ONNX exporter failed at opset {opset} ({str(exc).strip().splitlines()[0][:160]})",
            f"try the default --opset {OPSET}; `harness --debug export ...` shows the traceback",
        ) from exc
    if program is None:  # only the legacy (dynamo=False) exporter returns None
        raise HarnessError("torch's ONNX exporter returned no program", "report this with `harness --debug export ...`")
    proto = program.model_proto
    proto.ir_version = min(proto.ir_version, ort_max_ir_version())
    onnx.helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with writer(out_path, what="ONNX file") as handle:  # a file object: onnx writes no external data beside it
        onnx.save(proto, handle)
    return proto


def record(store: Store, export_id: int, result: Verification) -> None:
    store.set_verification(
        export_id,
        status="verified" if result.passed else "failed",
        provider=result.provider,
        max_abs_diff=result.max_abs_diff,
        top1_agreement=result.top1_agreement,
        torch_metric=result.torch_metric,
        ort_metric=result.ort_metric,
        details=verification_details(result),
    )


def load_trial(store: Store, trial_id: str) -> tuple[torch.nn.Module, TrialSpec, Checkpoint]:
    """A stored trial's best checkpoint, rebuilt."""
    path = store.trial(trial_id)["checkpoint_path"]
    if not path:
        raise HarnessError(
            f"trial {trial_id!r} has no checkpoint (it diverged or never finished an epoch)",
            "pick another trial from `harness leaderboard`",
        )
    return load_checkpoint(path)


def _data(spec: TrialSpec, task: str | None = None) -> TaskData:
    return load_task(task or spec.task, spec.data_dir, variant=spec.variant, image_size=spec.image_size)


def export_path(out: Path, *, task: str, arch: str, trial_id: str) -> Path:
    """`--out`: a file when it ends in .onnx, else the folder for <task>-<arch>-<trial>.onnx (a
    folder: task or a FILE.py network by its last path part, reduced to a safe file name)."""
    if out.suffix == ".onnx":
        return out
    return out / (safe_name("-".join(n.rpartition("/")[2] for n in (task, arch, trial_id))) + ".onnx")


def load_trial_code(store: Store, trial_id: str, plugins: tuple[str, ...]) -> None:
    """Import the users' code a stored trial needs: the plugins named again (`plugins`), checked
    against what its sweep recorded; nothing is imported from a path the store holds."""
    trial = store.trial(trial_id)
    environment = json.loads(store.sweep(trial["sweep_id"])["environment_json"] or "{}")
    load_user_code((trial["arch"],), plugins, recorded=environment.get("plugins", []), what=f"trial {trial['id']}")


def export_trial(
    store: Store,
    *,
    trial_id: str,
    out: Path,
    opset: int = OPSET,
    quantize: str | None = None,
    runtimes: Sequence[Runtime] = (),
    plugins: tuple[str, ...] = (),
) -> list[Verification]:
    """Export a stored trial's best checkpoint, verify it, and record both in the store; with
    `quantize="int8"`, then the INT8 model beside it (`.int8.onnx`), verified under its own gate.
    `runtimes`: also run each file under these (harness.export.matrix). `plugins`: the plugin
    files its sweep used, named again. Returns the verifications, float32 first."""
    load_trial_code(store, trial_id, plugins)
    model, spec, ckpt = load_trial(store, trial_id)
    task = get_task(spec.task)
    out_path = export_path(out, task=spec.task, arch=spec.arch, trial_id=trial_id)
    # Every name this export writes, checked before the minutes of work: a link at any of them is refused.
    files = [out_path, out_path.with_suffix(".int8.onnx")] if quantize else [out_path]
    refuse_links([*files, *map(card_path, files)])
    data = _data(spec)
    prep = preprocessing(task, task.shape(spec.image_size), spec.pixels)
    example = torch.from_numpy(normalize(data.test.images[:2], prep))
    report: dict[str, object] = dict(ckpt["metrics"])
    # the epoch and its validation figures, as the trial reported them (numbers: the keys say so)
    metrics = cast("dict[str, float]", {k: v for k, v in report.items() if k == "epoch" or k.startswith("val_")})
    card = card_facts(store, trial_id=trial_id, spec=spec, task=task, data=data, params=count_params(model))
    meta = model_metadata(task=task, spec=spec, trial_id=trial_id, metrics=metrics, card=card)
    proto = export_onnx(model=model, example=example, out_path=out_path, metadata=meta, opset=opset)
    head = get_arch(spec.arch).head
    # Both files are verified the same way against the same model and test split.
    verified = partial(
        _verified,
        store,
        trial_id,
        model=model,
        head=head,
        test=data.test,
        task=spec.task,
        opset=opset,
        ir_version=proto.ir_version,
        runtimes=runtimes,
    )
    results = [verified(out_path)]
    if quantize:
        from harness.export.quantize import quantize_int8

        int8_path = quantize_int8(
            out_path,
            files[1],
            train_images=data.train.images,
            preprocessing=prep,
            metadata=meta,
        )
        results.append(verified(int8_path, quantize=quantize, float_size=os.path.getsize(out_path)))
    return results


def _verified(
    store: Store,
    trial_id: str,
    path: Path,
    *,
    model: torch.nn.Module,
    head: Head,
    test: Split,
    task: str,
    opset: int,
    ir_version: int,
    quantize: str | None = None,
    float_size: int | None = None,
    runtimes: Sequence[Runtime] = (),
) -> Verification:
    # Recorded as "exported" at once: should verification itself crash, the store still says
    # the file exists and was never verified.
    export_id = store.add_export(
        trial_id=trial_id,
        path=str(path),
        opset=opset,
        ir_version=ir_version,
        quantize=quantize,
        sha256=file_sha256(path),
    )
    result = verify_onnx(onnx_path=str(path), model=model, head=head, test=test, task=task, float_size=float_size)
    record(store, export_id, result)
    if runtimes:
        checks = check_runtimes(
            runtimes,
            onnx_path=path,
            model=model,
            head=head,
            x=normalize(test.images, read_metadata(open_session(path), path)["preprocessing"]),
            labels=np.asarray(test.labels),
            quantize=quantize,
        )
        store.add_runtime_checks(export_id, checks)
        # an INT8 file's speed-up is against onnxruntime on the trial's float32 file, verified before it
        baseline = store.latest_matrix(trial_id) if quantize else None
        fastest = fastest_deployment([c.as_json() for c in checks], baseline=baseline)
        result = replace(result, runtimes=tuple(checks), fastest=fastest)
    return result


def _own_export(store: Store, trial_id: str, path: Path) -> None:
    """Refuse a file this store did not write for that trial (copied metadata, a foreign model):
    verifying it would stamp another model's result on the trial. Exports of stores older than
    the checksums are known by their path."""
    digest, where = file_sha256(path), str(path)
    exports = store.exports(trial_id)
    if not any(x["sha256"] == digest or (x["sha256"] is None and x["path"] == where) for x in exports):
        raise HarnessError(
            f"{where!r} is not a file this store exported for trial {trial_id} (its checksum matches "
            "none of that trial's exports)",
            f"verify the files `harness export --trial {trial_id}` writes",
        )


def verify_file(
    store: Store,
    *,
    onnx_path: Path,
    task: str | None = None,
    runtimes: Sequence[Runtime] = (),
    plugins: tuple[str, ...] = (),
) -> Verification:
    """`harness verify`: find the file's trial in the store, rebuild it, compare on the test split
    of its task (or of `task`, which must take the same input and outputs), record; then run
    it under each of `runtimes`. The file's metadata must agree with its graph, and the file must
    be one this store exported."""
    refuse_links([card_path(onnx_path)])  # the card it writes after: refused before the store records anything
    meta = checked_metadata(open_session(onnx_path), onnx_path)
    if "trial_id" not in meta:
        raise HarnessError(f"{str(onnx_path)!r} has no harness metadata", "verify files written by `harness export`")
    trial_id = store.trial(meta["trial_id"])["id"]  # an old short id resolves where it is unambiguous
    _own_export(store, trial_id, onnx_path)
    load_trial_code(store, trial_id, plugins)
    model, spec, _ = load_trial(store, trial_id)
    if task and task != spec.task:
        other, own = get_task(task), get_task(spec.task)
        if other.shape(spec.image_size) != own.shape(spec.image_size) or other.num_outputs(
            meta["output"]
        ) != own.num_outputs(meta["output"]):
            raise HarnessError(
                f"{str(onnx_path)!r} takes {spec.task}'s input and outputs, which {task} does not share",
                f"verify it on {spec.task} (the default) or on a task of the same shape",
            )
    quantize = meta.get("quantize") or None
    float_path = Path(str(onnx_path).removesuffix(".int8.onnx") + ".onnx")  # where export wrote its float model
    proto = onnx.load(str(onnx_path), load_external_data=False)
    return _verified(
        store,
        trial_id,
        onnx_path,
        model=model,
        head=get_arch(spec.arch).head,
        test=_data(spec, task).test,
        task=task or spec.task,
        opset={o.domain: o.version for o in proto.opset_import}.get("", 0),
        ir_version=proto.ir_version,
        quantize=quantize,
        float_size=os.path.getsize(float_path) if quantize and float_path.is_file() else None,
        runtimes=runtimes,
    )
