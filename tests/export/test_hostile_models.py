"""Hostile input, class 2 (issue 13): an exported file's metadata is checked against its graph
before anything uses it. A file whose metadata lies gives no answer in `predict` and no verdict
in `verify`, and `verify` never touches the store for a file that is not that trial's export.
Every case: exit code 2, one line, no traceback, the store unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch
from hostile import folder_state, refused

from harness.cli.main import main


def _model(results: Path) -> Path:
    (path,) = (results / "onnx").glob("*.onnx")
    return path


def _with_metadata(source: Path, target: Path, **changes: str) -> Path:
    """A copy of an exported file whose metadata says something else: the graph is untouched."""
    proto = onnx.load(source)
    props = {p.key: p.value for p in proto.metadata_props}
    props.update(changes)
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, target)
    return target


LIES = [
    ({"classes": json.dumps([str(d) for d in range(9)])}, "9 classes (logits) need outputs (batch, 9)"),
    ({"output": "single_logit"}, "a single-logit model names 10 classes, not 2"),
    ({"output": "image"}, "output kind 'image' but the graph outputs"),
    ({"output": "probabilities"}, "output kind 'probabilities' is none of"),
    ({"input_shape": "[1, 16, 16]"}, "input_shape says [1, 16, 16], the graph takes"),
    ({"input_shape": "[1, 8]"}, "is not [channels, height, width]"),
    ({"preprocessing": json.dumps({"scale": 1 / 255, "mean": [0.5], "std": [0.0], "resize": [8, 8]})}, "a zero std"),
    (
        {"preprocessing": json.dumps({"scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [1, 1, 1]})},
        "one mean and one std per input channel (1)",
    ),
    ({"classes": "not json"}, "its metadata 'classes' is not JSON"),
]


@pytest.mark.parametrize(("changes", "expected"), LIES)
def test_lying_metadata_is_refused_by_predict_and_verify(swept_copy, tmp_path, digit_images, capsys, changes, expected):
    liar = _with_metadata(_model(swept_copy), tmp_path / "liar.onnx", **changes)
    before = folder_state(swept_copy)
    folder, _ = digit_images
    assert expected in refused(capsys, ["predict", str(liar), str(folder)])
    assert expected in refused(capsys, ["verify", str(liar), "--results", str(swept_copy)])
    assert folder_state(swept_copy) == before


def test_a_foreign_model_with_copied_metadata_does_not_touch_the_trial(swept_copy, tmp_path, capsys):
    """Another network, exported with the real export's metadata: verify refuses it, and the
    trial it names keeps its stored verification."""
    from harness.architectures import create_model
    from harness.export.onnx import export_onnx

    real = _model(swept_copy)
    metadata = {p.key: p.value for p in onnx.load(real).metadata_props}
    foreign = tmp_path / "foreign.onnx"
    model = create_model("mlp", in_shape=(1, 8, 8), num_outputs=10)
    export_onnx(model=model, example=torch.zeros(2, 1, 8, 8), out_path=foreign, metadata=metadata)
    before = folder_state(swept_copy)
    err = refused(capsys, ["verify", str(foreign), "--results", str(swept_copy)])
    assert f"is not a file this store exported for trial {metadata['trial_id']}" in err
    assert folder_state(swept_copy) == before
    # the genuine file, even moved, is recognised by its bytes and verifies
    moved = tmp_path / "moved.onnx"
    moved.write_bytes(real.read_bytes())
    capsys.readouterr()
    assert main(["verify", str(moved), "--results", str(swept_copy), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"]
