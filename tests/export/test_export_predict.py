"""ONNX export, verification and prediction against the swept store, with real onnxruntime."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from harness.cli.main import main
from harness.export.onnx import ort_max_ir_version
from harness.store.db import Store


def _model(results):
    with Store.existing(results) as store:
        return store._rows("SELECT path FROM exports")[0]["path"]


def test_exported_model_describes_itself(swept):
    model = onnx.load(_model(swept))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["task"] == "digits" and meta["output"] == "logits"
    assert json.loads(meta["classes"]) == [str(d) for d in range(10)]
    assert json.loads(meta["input_shape"]) == [1, 8, 8]
    assert json.loads(meta["preprocessing"])["std"] == [0.375]
    assert meta["architecture"] in ("mlp", "cnn_small") and meta["trial_id"]
    assert model.ir_version <= ort_max_ir_version()
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value  # dynamic batch axis


def test_ir_probe_matches_onnxruntime():
    ir = ort_max_ir_version()
    assert 3 < ir <= onnx.IR_VERSION
    # The probe's answer is the boundary: the next IR is refused (when onnx can write it).
    if ir < onnx.IR_VERSION:
        node = onnx.helper.make_node("Identity", ["x"], ["y"])
        vi = [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [1]) for n in "xy"]
        graph = onnx.helper.make_graph([node], "g", [vi[0]], [vi[1]])
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)], ir_version=ir + 1)
        with pytest.raises(Exception):  # noqa: B017 (onnxruntime raises its own pybind error types)
            ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_export_and_verify_commands(swept_copy, capsys):
    capsys.readouterr()
    assert main(["export", "--task", "digits", "--results", str(swept_copy), "--format", "json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["passed"] and result["n"] == 360
    assert result["torch_metric"] == pytest.approx(result["ort_metric"], abs=1e-3)
    assert main(["verify", result["path"], "--results", str(swept_copy), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["top1_agreement"] >= 0.999
    with Store.existing(swept_copy) as store:
        assert [r["status"] for r in store._rows("SELECT status FROM exports")] == ["verified"] * 3


def test_corrupt_model_file_is_one_line_error(swept_copy, tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 50)
    for argv in (["verify", str(bad), "--results", str(swept_copy)], ["predict", str(bad), str(tmp_path)]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "bad.onnx" in err


def test_predict_without_torch(swept, digit_images):
    """`harness predict` must run where importing torch fails."""
    # A fresh interpreter: this one has imported torch already, so only a new process can forbid it.
    folder, labels = digit_images
    code = (
        "import sys; sys.modules['torch'] = None\n"  # makes `import torch` raise ImportError
        "from harness.cli.main import main\n"
        f"sys.exit(main(['predict', {_model(swept)!r}, {str(folder)!r}, '--top', '3', '--json']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    predictions = json.loads(proc.stdout)
    assert len(predictions) == 7  # six digits and the truncated file; notes.txt is not an image
    bad = [p for p in predictions if p["error"]]
    assert [p["path"].rsplit("/", 1)[1] for p in bad] == ["truncated.png"]
    assert "skipped 1" in proc.stderr
    good = sorted((p for p in predictions if not p["error"]), key=lambda p: p["path"])
    assert all(len(p["top"]) == 3 for p in good)
    assert all(abs(sum(prob for _, prob in p["top"])) <= 1.0 + 1e-6 for p in good)
    hits = sum(int(p["top"][0][0]) == label for p, label in zip(good, labels))
    assert hits >= 4  # a 1-epoch model, but one that learned something


def test_predict_matches_onnxruntime_on_the_same_pixels(swept, digit_images, capsys):
    from harness.runtimes.predict import normalize, open_session, read_metadata

    folder, _ = digit_images
    session = open_session(_model(swept))
    meta = read_metadata(session)
    image = np.asarray(Image.open(folder / "digit0.png"))[None, None]
    expected = session.run(None, {"input": normalize(image, meta["preprocessing"])})[0].argmax()
    capsys.readouterr()
    assert main(["predict", _model(swept), str(folder / "digit0.png"), "--json"]) == 0
    (prediction,) = json.loads(capsys.readouterr().out)
    assert prediction["top"][0][0] == meta["classes"][expected]


def test_export_to_a_named_file_at_another_opset(swept_copy, tmp_path, capsys):
    from harness.export.onnx import ort_max_opset

    assert 18 <= ort_max_opset() <= onnx.defs.onnx_opset_version()
    target = tmp_path / "digits-best.onnx"
    capsys.readouterr()
    argv = [
        "export",
        "--task",
        "digits",
        "--opset",
        "20",
        "--out",
        str(target),
        "--results",
        str(swept_copy),
        "--format",
        "json",
    ]
    assert main(argv) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["path"] == str(target) and result["passed"]
    assert {o.domain: o.version for o in onnx.load(target).opset_import}[""] == 20
    with Store.existing(swept_copy) as store:
        assert store._rows("SELECT opset FROM exports ORDER BY id DESC LIMIT 1")[0]["opset"] == 20


def test_export_and_verify_mistakes_are_one_line(swept_copy, tmp_path, capsys):
    from harness.export.onnx import ort_max_opset

    with Store.existing(swept_copy) as store:
        before = store.counts()
    for argv, expected in (
        (["export", "--opset", "17"], "--opset 17 is outside"),
        (["export", "--opset", str(ort_max_opset() + 1)], "pass --opset between 18 and"),
        (["verify", _model(swept_copy), "--task", "cifar10"], "which cifar10 does not share"),
        (["verify", _model(swept_copy), "--task", "nope"], "unknown task 'nope'"),
    ):
        capsys.readouterr()
        assert main([*argv, "--results", str(swept_copy)]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, err
    with Store.existing(swept_copy) as store:
        assert store.counts() == before  # a refused command writes nothing


def test_the_documents_declare_what_the_dataclasses_write():
    """The TypedDicts of the verification and of a matrix row name the keys their dataclasses give
    the JSON, in order: `inference_precision` keeps its JSON key `precision`."""
    from dataclasses import fields

    from harness.export.documents import VerificationDetails
    from harness.export.verify import Verification
    from harness.store.rows import RuntimeCheck, RuntimeCheckRow

    # the matrix and its fastest row are read from runtime_checks, not kept in details_json
    kept = [f.name for f in fields(Verification) if f.name not in ("runtimes", "fastest")]
    assert list(VerificationDetails.__annotations__) == kept
    written = [f.name.replace("inference_precision", "precision") for f in fields(RuntimeCheck)]
    row = RuntimeCheck("onnxruntime", "passed", inference_precision="f32", b1_round_ms=[1.0, 3.0, 2.0]).as_json()
    assert list(row) == list(RuntimeCheckRow.__annotations__) == [*written, "b1_p50_ms", "b1_spread_ms"]
    assert (row["precision"], row["b1_p50_ms"], row["b1_spread_ms"]) == ("f32", 2.0, (1.0, 3.0))
