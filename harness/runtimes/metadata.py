"""An exported file's metadata, read and checked against its own graph (no torch).

The metadata says how to feed the model and how to read its output; if it lies (a class list
of the wrong length, another output kind, another input size, a zero std), every answer built
on it is silently wrong. So nothing uses it before it agrees with the graph onnxruntime loaded:
the number of outputs and the classes, the output kind and the output shape, the input shape,
and preprocessing with one finite mean and one non-zero std per input channel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from harness.errors import HarnessError
from harness.heads import HEADS
from harness.runtimes.documents import ModelMetadata
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
    problem = contradiction(
        meta, inputs=[i.shape for i in session.get_inputs()], outputs=[o.shape for o in session.get_outputs()]
    )
    if problem:
        raise HarnessError(
            f"{str(path)!r}: its metadata contradicts its graph: {problem}",
            "re-export the model with `harness export`; as it is, its answers cannot be trusted",
        )
    return meta


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
    if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(d, int) and d > 0 for d in shape)):
        return f"input_shape {shape!r} is not [channels, height, width]"
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
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers):
        return "preprocessing holds a number that is not finite"
    if prep["scale"] <= 0 or any(s == 0 for s in prep["std"]):
        return "preprocessing has a zero std or a scale <= 0"
    return None
