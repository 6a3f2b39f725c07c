"""A real ONNX classifier written without training (no Ray, no torch): 1x8x8 grey images ->
10 logits, with the metadata `harness export` writes, for tests of what commands do with hostile
inputs beside a model. (On the test path through `pythonpath` in pyproject.toml.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

METADATA = {
    "task": "digits",
    "architecture": "tiny",
    "trial_id": "t0",
    "output": "logits",
    "classes": json.dumps([str(d) for d in range(10)]),
    "input_shape": json.dumps([1, 8, 8]),
    "preprocessing": json.dumps({"scale": 1 / 255, "mean": [0.5], "std": [0.25], "resize": [8, 8]}),
    "metrics": json.dumps({"epoch": 1, "val_acc": 0.5}),
}


def write_tiny_model(path: Path, **metadata: str) -> Path:
    """A Flatten + Gemm classifier at `path`, its metadata as export writes it, with `metadata`
    replacing or adding keys (values as the file holds them: JSON text)."""
    weights = numpy_helper.from_array(np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32), "w")
    bias = numpy_helper.from_array(np.zeros(10, dtype=np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"]), helper.make_node("Gemm", ["flat", "w", "b"], ["logits"])],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9  # what the installed onnxruntime loads
    helper.set_model_props(model, {**METADATA, **metadata})
    onnx.save(model, path)
    return path
