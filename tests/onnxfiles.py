"""Small real ONNX classifiers with harness metadata, written with onnx.helper in milliseconds,
for tests of what `predict` makes of a file's metadata and graph (no training, no Ray). (On the
test path through `pythonpath` in pyproject.toml.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

GREY_PREP = {"scale": 1 / 255, "mean": [0.5], "std": [0.25]}


def write_classifier(
    path: Path,
    *,
    channels: int = 1,
    outputs: int = 10,
    graph_input: list[Any] | None = None,
    graph_output: list[Any] | None = None,
    input_type: int = TensorProto.FLOAT,
    weights: np.ndarray | None = None,
    **metadata: Any,
) -> Path:
    """A model x -> Cast(float) -> 1x1 Conv (`channels` -> `outputs`) -> global average -> (N, outputs).

    The graph declares `graph_input` and `graph_output` as its shapes (ints or symbolic names;
    default: a symbolic batch only), so a test can leave any size open. The metadata says a grey
    8x8 image and `outputs` digit classes unless `metadata` says otherwise (values are JSON-encoded
    unless already strings)."""
    graph_input = graph_input or ["N", channels, 8, 8]
    graph_output = graph_output or ["N", outputs]
    if weights is None:
        weights = np.random.default_rng(0).normal(size=(outputs, channels, 1, 1)).astype(np.float32)
    nodes = [
        helper.make_node("Cast", ["input"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Conv", ["x", "w"], ["features"]),
        helper.make_node("GlobalAveragePool", ["features"], ["pooled"]),
    ]
    initializers = [numpy_helper.from_array(weights, "w")]
    if isinstance(graph_output[1], str):
        # An output size left open for real: reshaped to a shape computed at run time, (batch, -1),
        # which no shape inference (onnx's or onnxruntime's) fills in from the weights.
        nodes += [
            helper.make_node("Shape", ["pooled"], ["pooled_shape"]),
            helper.make_node("Slice", ["pooled_shape", "zero", "one"], ["batch"]),
            helper.make_node("Concat", ["batch", "rest"], ["target"], axis=0),
            helper.make_node("Reshape", ["pooled", "target"], ["output"]),
        ]
        initializers += [
            numpy_helper.from_array(np.array(v, dtype=np.int64), name)
            for name, v in (("zero", [0]), ("one", [1]), ("rest", [-1]))
        ]
    else:
        nodes.append(helper.make_node("Flatten", ["pooled"], ["output"], axis=1))
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info("input", input_type, graph_input)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, graph_output)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # every onnxruntime this project supports reads IR 8
    props = {
        "classes": [str(d) for d in range(outputs)],
        "input_shape": [1, 8, 8],
        "preprocessing": GREY_PREP,
        "output": "logits",
        **metadata,
    }
    helper.set_model_props(model, {k: v if isinstance(v, str) else json.dumps(v) for k, v in props.items()})
    onnx.save(model, path)
    return path
