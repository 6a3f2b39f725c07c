"""Sweeps on the reports' own tasks and real data from ../shared/data, end to end through real
Ray, each exported and verified under onnxruntime: a one-logit Keras network on the cats-vs-dogs
photos (with the report's batch augmentation), the upsampling task's image head with its PSNR
and Keras-style scores on MNIST, and a multi-class network on CIFAR-10's real batches, with its
INT8 model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import cast

import onnx
import onnxruntime as ort
import pytest

from harness.cli.main import main
from harness.store.db import Store
from harness.store.rows import ExportRow, TrialRow


def _sweep(results: Path, *flags: str) -> None:
    assert main(["sweep", *flags, "--epochs", "1", "--results", str(results), "--no-live"]) == 0


def _only_export(results: Path) -> tuple[ExportRow, TrialRow]:
    with Store.existing(results) as store:
        (export,) = cast("list[ExportRow]", store._rows("SELECT * FROM exports"))  # the store's only export
        trial = store.trial(export["trial_id"])
    return export, trial


def _references(results: Path, capsys) -> list[dict]:
    """The published rows below the task's leaderboard. A 1-epoch sweep reproduces none of them:
    each row has no "ours" and names our trial as the closest other run, saying what differs."""
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(results), "--format", "json"]) == 0
    (board,) = json.loads(capsys.readouterr().out)
    refs = board["references"]
    assert refs and all(ref["ours"] is None and ref["closest"] is not None for ref in refs)
    assert all(
        ref["closest_trial_id"] == board["rows"][0]["trial_id"] and "1 of " in ref["closest_differs"] for ref in refs
    )
    return refs


def _metadata(path: str) -> dict:
    """The file's metadata as another runtime sees it (onnxruntime, no harness code), raw
    strings; checked against what the export wrote (onnx's own reader) and decoded."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    raw = dict(session.get_modelmeta().custom_metadata_map)
    assert raw == {p.key: p.value for p in onnx.load(path).metadata_props}
    for key in (
        "task",
        "classes",
        "input_shape",
        "input_dtype",
        "preprocessing",
        "output",
        "report_id",
        "architecture",
        "trial_id",
        "metrics",
        "harness_version",
    ):
        assert key in raw, key
    assert raw["input_dtype"] == "float32"
    assert set(json.loads(raw["preprocessing"])) >= {"scale", "mean", "std", "resize"}
    return {
        k: json.loads(v) if k in ("classes", "input_shape", "preprocessing", "metrics") else v for k, v in raw.items()
    }


def _verification(export: dict) -> dict:
    details = json.loads(export["details_json"])
    latency = details["latency"]
    assert latency["onnxruntime_b1_p50_ms"] > 0 and latency["torch_b64_images_per_s"] > 0
    assert latency["onnxruntime_b1_p95_ms"] >= latency["onnxruntime_b1_p50_ms"]
    return details


@pytest.mark.slow
def test_cats_vs_dogs_single_logit_sweep_on_the_real_photos(ray_session, tmp_path, shared_data, capsys):
    results = tmp_path / "results"
    _sweep(
        results,
        "--task",
        "cats_vs_dogs",
        "--arch",
        "keras_cnn2",
        "--image-size",
        "64",
        "--optimizer",
        "adam",
        "--lr",
        "0.001",
        "--batch-size",
        "32",
        "--train-limit",
        "256",
        "--data-dir",
        str(shared_data),
    )
    export, trial = _only_export(results)
    assert export["status"] == "verified" and export["top1_agreement"] >= 0.999
    details = _verification(export)
    assert details["gate"] == "single_logit" and details["n"] == 2000  # the shared copy's test_set: 1,000 per class
    meta = _metadata(export["path"])
    assert meta["output"] == "single_logit" and meta["input_shape"] == [3, 64, 64]
    assert meta["classes"] == ["cat", "dog"] and meta["report_id"] == "itesm2022-catsdogs"
    assert meta["trial_id"] == trial["id"] and meta["architecture"] == "keras_cnn2"
    with Store.existing(results) as store:
        (sweep,) = store._rows("SELECT * FROM sweeps")
    spec = json.loads(sweep["spec_json"])
    assert (spec["image_size"], spec["variant"], trial["arch"]) == (64, "A", "keras_cnn2")
    references = _references(results, capsys)
    assert {r["report"] for r in references} == {"uni2022-catsdogs", "itesm2022-catsdogs", "itam2020-catsdogs-mnist"}

    # Another runtime's view: the real photos of a folder, through onnxruntime only (torch unimportable)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("cats/cat.4001.jpg", "cats/cat.4002.jpg", "dogs/dog.4001.jpg"):
        shutil.copy(shared_data / "cats_vs_dogs" / "test_set" / name, photos)
    # A fresh interpreter: this one has imported torch already, so only a new process can forbid it.
    code = (
        "import sys; sys.modules['torch'] = None\nfrom harness.cli.main import main\n"
        f"sys.exit(main(['predict', {export['path']!r}, {str(photos)!r}, '--top', '2', '--json']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    predictions = json.loads(proc.stdout)
    assert [Path(p["path"]).name for p in predictions] == ["cat.4001.jpg", "cat.4002.jpg", "dog.4001.jpg"]
    for prediction in predictions:  # one sigmoid logit -> both labels, probabilities summing to 1
        assert {label for label, _ in prediction["top"]} == {"cat", "dog"}
        assert sum(prob for _, prob in prediction["top"]) == pytest.approx(1.0)


def test_mnist_upsample_sweep_on_the_real_digits(ray_session, tmp_path, shared_data, capsys):
    results = tmp_path / "results"
    _sweep(
        results,
        "--task",
        "mnist_upsample",
        "--arch",
        "espcn",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--batch-size",
        "64",
        "--train-limit",
        "1024",
        "--data-dir",
        str(shared_data),
    )
    export, trial = _only_export(results)
    assert export["status"] == "verified"
    details = _verification(export)  # the image gate: PSNR under both runtimes within 0.1 dB
    assert details["gate"] == "image" and abs(details["torch_psnr"] - details["ort_psnr"]) <= 0.1
    meta = _metadata(export["path"])
    assert meta["output"] == "image" and meta["input_shape"] == [1, 7, 7] and meta["classes"] == []
    with Store.existing(results) as store:
        (epoch,) = store.epochs(trial["id"])
    extra = json.loads(epoch["extra_json"])
    assert set(extra) == {"train_psnr", "val_psnr", "train_keras_acc", "val_keras_acc", "val_n"}
    assert extra["val_psnr"] > 0 and 0 <= extra["val_keras_acc"] <= epoch["val_acc"] <= 1
    capsys.readouterr()
    assert main(["show", trial["id"], "--results", str(results), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["confusion"] is None and report["test"]["psnr"] > 0 and 0 <= report["test"]["acc"] <= 1
    # no binomial form for pixel scores: the test scoring bootstrapped them over the 10,000 test images
    low, high = report["test"]["ci95"]["acc"]
    assert low < report["test"]["acc"] < high and report["test"]["ci95"]["psnr"][0] < report["test"]["psnr"]
    assert main(["show", trial["id"], "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "val_psnr" in out and "psnr" in out and "confusion" not in out
    assert {r["score"] for r in _references(results, capsys)} == {"val_keras_acc"}  # measured as the report did


@pytest.mark.slow
def test_cifar10_report_split_from_the_real_batches(ray_session, tmp_path, shared_data, capsys):
    results = tmp_path / "results"
    _sweep(
        results,
        "--task",
        "cifar10",
        "--arch",
        "mlp",
        "--optimizer",
        "adam",
        "--lr",
        "0.001",
        "--batch-size",
        "128",
        "--data-dir",
        str(shared_data),
    )
    export, trial = _only_export(results)
    assert export["status"] == "verified" and _verification(export)["gate"] == "logits"
    meta = _metadata(export["path"])
    assert meta["output"] == "logits" and len(meta["classes"]) == 10 and meta["input_shape"] == [3, 32, 32]
    with Store.existing(results) as store:
        (sweep,) = store._rows("SELECT * FROM sweeps")
    data = json.loads(sweep["environment_json"])["data"]
    assert data["variant"] == "report" and data["counts"] == {"train": 10_000, "val": 10_000, "test": 10_000}
    assert data["skipped"] == 0 and "cifar-10-batches-py" in data["source"]
    assert [r["published"] for r in _references(results, capsys)] == [0.729, 0.6923]

    # INT8: calibrated on training images, verified against float32 PyTorch under its own gate
    out = tmp_path / "int8"
    assert main(
        [
            "export",
            "--trial",
            trial["id"],
            "--quantize",
            "int8",
            "--out",
            str(out),
            "--results",
            str(results),
            "--format",
            "json",
        ]
    ) in (0, 1)
    fp32, int8 = json.loads(capsys.readouterr().out)
    assert fp32["passed"] and fp32["quantize"] is None and int8["quantize"] == "int8" and int8["gate"] == "int8"
    assert int8["path"].endswith(".int8.onnx") and 0.2 < int8["size_ratio"] < 0.5  # int8 weights: about a quarter
    change = int8["ort_metric"] - int8["torch_metric"]
    assert int8["passed"] == (change >= -0.01) and int8["torch_metric"] == fp32["torch_metric"]
    assert _metadata(int8["path"])["quantize"] == "int8"
    assert main(
        ["verify", int8["path"], "--results", str(results), "--format", "json", "--runtime", "onnxruntime"]
    ) in (0, 1)
    again = json.loads(capsys.readouterr().out)
    assert (
        again["gate"] == "int8"
        and again["size_ratio"] == int8["size_ratio"]
        and again["ort_metric"] == int8["ort_metric"]
    )
    assert main(["leaderboard", "--results", str(results), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)[0]["rows"]
    assert row["int8_change"] == again["ort_metric"] - again["torch_metric"] and row["onnx"] == "verified"
    assert row["onnx_ms"] > 0 and row["onnx_speedup"] > 0
