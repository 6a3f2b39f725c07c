"""An exported file's metadata, read and checked against its own graph (no torch).

The metadata says how to feed the model and how to read its output; if it lies (a class list
of the wrong length, another output kind, another input size, a zero std), every answer built
on it is silently wrong. So nothing uses it before it agrees with the graph onnxruntime loaded:
the number of outputs and the classes, the output kind and the output shape, the input shape,
and preprocessing with one finite mean and one non-zero std per input channel.

Each check is made on what will be computed, not on what is written: preprocessing in float32
(1e308 is a finite float64 and an infinite float32), an input size against a bound before
anything of that size exists, and what the graph leaves symbolic (an output of "N" values) by
running it once on one image of the declared shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np

from harness.errors import HarnessError
from harness.heads import HEADS
from harness.runtimes.documents import ModelMetadata, Preprocessing
from harness.userfiles import parse_json, shape_problem

# Metadata values stored as JSON; the model card's (harness.export.card.CARD_KEYS) are absent from older files.
JSON_KEYS = (
    "classes",
    "input_shape",
    "preprocessing",
    "metrics",
    "data",
    "parameters",
    "training",
    "evaluation",
    "published",
)
REQUIRED = ("classes", "input_shape", "preprocessing", "output")
# The largest input side a file may declare, pixels: training allows 1024; one float32 image of
# 3 x 4096 x 4096 is 200 MB. A 4 KB file declaring 60000 x 60000 would make predict allocate GBs.
MAX_SIDE = 4096
CHANNELS = (1, 3)  # what an image file decodes to: grey or RGB (harness.imagefile)
FLOAT_INPUT = "tensor(float)"  # what normalize() feeds


def normalize(images: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """uint8 (N, C, H, W) -> float32 (x * scale - mean) / std, as the model was trained."""
    mean = np.asarray(preprocessing["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(preprocessing["std"], dtype=np.float32).reshape(1, -1, 1, 1)
    return ((images.astype(np.float32) * np.float32(preprocessing["scale"]) - mean) / std).astype(np.float32)


def read_metadata(session: Any, path: str | Path = "the model") -> ModelMetadata:
    """The file's metadata_props, JSON values decoded; a value that is not JSON is one line. Not yet
    checked: `checked_metadata` is what makes its shape a promise."""
    props: dict[str, str] = dict(session.get_modelmeta().custom_metadata_map)  # whatever the file holds
    meta: dict[str, object] = dict(props)
    for key in JSON_KEYS:
        if key in props:  # nesting bounded: a value of 100,000 brackets is one line, not a RecursionError
            what = f"{str(path)!r}: its metadata {key!r}"
            meta[key] = parse_json(props[key], what=what, hint="re-export the model with `harness export`")
    return cast(ModelMetadata, meta)


def typed_metadata(meta: ModelMetadata, path: str | Path) -> ModelMetadata:
    """`meta`, refused in one line when a key it holds has another type than ModelMetadata
    declares (a card key holding a list, a parameter count that is a string): readers such as
    the card then trust the types. Keys a file lacks stay absent (older files lack the card's)."""
    problem = shape_problem(meta, ModelMetadata, where="metadata", require_keys=False)
    if problem:
        raise HarnessError(f"{str(path)!r}: its {problem}", "re-export the model with `harness export`")
    return meta


def checked_metadata(session: Any, path: str | Path) -> ModelMetadata:
    """`read_metadata`, refused in one line unless it agrees with the graph."""
    meta = read_metadata(session, path)
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise HarnessError(
            f"{str(path)!r} has no harness metadata ({', '.join(missing)} missing)",
            "use a file written by `harness export`",
        )
    inputs, outputs = session.get_inputs(), session.get_outputs()
    problem = contradiction(meta, inputs=[i.shape for i in inputs], outputs=[o.shape for o in outputs])
    if problem is None and inputs[0].type != FLOAT_INPUT:
        problem = f"the graph takes {inputs[0].type}, not the {FLOAT_INPUT} that preprocessing gives"
    if problem is None and None in _dims(inputs[0].shape)[1:] + _dims(outputs[0].shape)[1:]:
        # The graph leaves a size open: learn it from one run, before any answer depends on it.
        x = normalize(np.zeros((1, *meta["input_shape"]), dtype=np.uint8), meta["preprocessing"])
        problem = output_problem(meta, run_model(session, x, path=path).shape)
    if problem:
        raise HarnessError(
            f"{str(path)!r}: its metadata contradicts its graph: {problem}",
            "re-export the model with `harness export`; as it is, its answers cannot be trusted",
        )
    return meta


def run_model(session: Any, x: np.ndarray, *, path: str | Path) -> np.ndarray:
    """The graph's first output for `x`; onnxruntime's failure (a graph that cannot take the input
    its metadata declares) is one line, not its traceback."""
    try:
        return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])
    except Exception as exc:  # onnxruntime raises its own pybind error types
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise HarnessError(
            f"{str(path)!r} fails on an input of its declared shape {list(x.shape)} ({reason})",
            "re-export the model with `harness export`",
        ) from None


def output_problem(meta: ModelMetadata, shape: tuple[int, ...]) -> str | None:
    """What is wrong with an output of `shape` for one input batch under `meta`, or None."""
    head = HEADS[meta["output"]]
    channels = meta["input_shape"][0]
    if head.spatial:
        if len(shape) != 4 or shape[1] != channels:
            return f"an {head.label} model of {channels} channel(s) gave an output of shape {list(shape)}"
        return None
    width = head.num_outputs(classes=len(meta["classes"]), channels=channels)
    if len(shape) != 2 or shape[1] != width:
        classes = f"{len(meta['classes'])} classes ({meta['output']})"
        return f"{classes} need outputs (batch, {width}), a run gave {list(shape)}"
    return None


def _dims(shape: list[Any]) -> list[int | None]:
    """A graph shape with symbolic dimensions (the batch) as None."""
    return [d if isinstance(d, int) else None for d in shape]


def contradiction(meta: Mapping[str, object], *, inputs: list[list[Any]], outputs: list[list[Any]]) -> str | None:
    """What in `meta` the graph's input and output shapes contradict, or None. `meta` is read as the
    file holds it (any value of any type), since this is the check that decides whether it is a
    ModelMetadata."""
    kind, classes, shape, prep = meta["output"], meta["classes"], meta["input_shape"], meta["preprocessing"]
    head = HEADS.get(kind) if isinstance(kind, str) else None
    if head is None:
        return f"output kind {kind!r} is none of {', '.join(HEADS)}"
    if not (isinstance(shape, list) and len(shape) == 3 and all(type(d) is int and d > 0 for d in shape)):
        return f"input_shape {shape!r} is not [channels, height, width]"
    if shape[0] not in CHANNELS or max(shape[1:]) > MAX_SIDE:
        return f"input_shape {shape} is not 1 or 3 channels of at most {MAX_SIDE} x {MAX_SIDE} pixels"
    if len(inputs) != 1 or len(outputs) < 1:
        return f"the graph has {len(inputs)} inputs and {len(outputs)} outputs, not one of each"
    graph_in, graph_out = _dims(inputs[0]), _dims(outputs[0])
    if len(graph_in) != 4 or any(g is not None and g != m for g, m in zip(graph_in[1:], shape)):
        return f"input_shape says {shape}, the graph takes {inputs[0]}"
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        return "classes is not a list of names"
    if head.spatial:
        if len(graph_out) != 4:
            return f"output kind {kind!r} but the graph outputs {outputs[0]}"
    else:
        width = head.num_outputs(classes=len(classes), channels=shape[0])
        if head.classes is not None and len(classes) != head.classes:
            return f"a {head.label} model names {len(classes)} classes, not {head.classes}"
        if len(classes) < 2:
            return f"a classifier names {len(classes)} classes"
        if len(graph_out) != 2 or graph_out[1] not in (None, width):
            return f"{len(classes)} classes ({kind}) need outputs (batch, {width}), the graph gives {outputs[0]}"
    return _preprocessing_problem(prep, channels=shape[0])


def _preprocessing_problem(prep: object, *, channels: int) -> str | None:
    if not isinstance(prep, dict) or not {"scale", "mean", "std"} <= set(prep):
        return "preprocessing lacks scale, mean or std"
    numbers = (
        [prep["scale"], *prep["mean"], *prep["std"]]
        if isinstance(prep["mean"], list) and isinstance(prep["std"], list)
        else None
    )
    if numbers is None or len(prep["mean"]) != channels or len(prep["std"]) != channels:
        return f"preprocessing needs one mean and one std per input channel ({channels})"
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers):
        return "preprocessing holds a number that is not finite"
    if prep["scale"] <= 0 or any(s <= 0 for s in prep["std"]):
        return "preprocessing has a zero std or a scale <= 0"
    return _float32_problem(cast(Preprocessing, prep), channels=channels)


def _float32_problem(prep: Preprocessing, *, channels: int) -> str | None:
    """What float32 makes of preprocessing that float64 accepts: a mean of 1e308 is infinite and a
    std of 1e-308 is zero (NaN inputs, NaN answers); a std of 1e30 maps black and white to one
    input (every image the same answer). normalize() is monotonic in the pixel, so black and white
    bound every input."""
    with np.errstate(all="ignore"):
        numbers = np.asarray([prep["scale"], *prep["mean"], *prep["std"]], dtype=np.float32)
        ends = normalize(np.array([0, 255], dtype=np.uint8).reshape(2, 1, 1, 1).repeat(channels, 1), prep)
    if not np.isfinite(numbers).all() or (numbers[1 + channels :] <= 0).any() or numbers[0] <= 0:
        return f"preprocessing {_numbers(prep)} is not finite and positive in float32, as the model computes"
    if not np.isfinite(ends).all():
        return f"preprocessing {_numbers(prep)} takes pixels beyond float32's range"
    if (ends[0] == ends[1]).any():
        return f"preprocessing {_numbers(prep)} gives black and white pixels the same input in float32"
    return None


def _numbers(prep: Preprocessing) -> str:
    """The numbers in 3 significant digits: 1e+308, not 308 digits."""
    mean, std = (", ".join(f"{v:.3g}" for v in prep[key]) for key in ("mean", "std"))
    return f"(scale {prep['scale']:.3g}, mean [{mean}], std [{std}])"
