"""Sweeps on the reports' own tasks, end to end through real Ray: a one-logit Keras network on
cats-vs-dogs photos (with the report's batch augmentation), the upsampling task's image head
with its PSNR and Keras-style scores, and CIFAR-10 from the real batches in ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from PIL import Image

from harness.cli import main
from harness.store import Store


def _sweep(results: Path, *flags: str) -> None:
    assert main(["sweep", *flags, "--epochs", "1", "--results", str(results), "--no-live"]) == 0


def _only_export(results: Path) -> tuple[dict, dict]:
    with Store.existing(results) as store:
        (export,) = store._rows("SELECT * FROM exports")
        trial = store.trial(export["trial_id"])
    return export, trial


def _references(results: Path, capsys) -> list[dict]:
    """The published rows below the task's leaderboard, each with our best trial's figure."""
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(results), "--format", "json"]) == 0
    (board,) = json.loads(capsys.readouterr().out)
    assert board["references"] and all(ref["ours_best"] is not None for ref in board["references"])
    return board["references"]


def test_cats_vs_dogs_single_logit_sweep(ray_session, tmp_path, capsys):
    rng = np.random.default_rng(0)
    for split, n in (("training_set", 24), ("test_set", 8)):
        for c, plural in enumerate(("cats", "dogs")):
            for i in range(n):  # cats reddish, dogs bluish: learnable in one epoch
                pixels = rng.integers(0, 80, (70, 90, 3)).astype(np.uint8)
                pixels[..., 0 if c == 0 else 2] += 150
                path = tmp_path / "data" / "cats_vs_dogs" / split / plural / f"{plural[:3]}.{i}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(path)
    results = tmp_path / "results"
    _sweep(results, "--task", "cats_vs_dogs", "--arch", "keras_cnn2", "--image-size", "64", "--optimizer", "adam",
           "--lr", "0.001", "--batch-size", "16", "--data-dir", str(tmp_path / "data"))  # fmt: skip
    export, trial = _only_export(results)
    assert export["status"] == "verified" and export["top1_agreement"] >= 0.999
    meta = {p.key: p.value for p in onnx.load(export["path"]).metadata_props}
    assert meta["output"] == "single_logit" and json.loads(meta["input_shape"]) == [3, 64, 64]
    assert json.loads(meta["classes"]) == ["cat", "dog"]
    with Store.existing(results) as store:
        (sweep,) = store._rows("SELECT * FROM sweeps")
    spec = json.loads(sweep["spec_json"])
    assert (spec["image_size"], spec["variant"], trial["arch"]) == (64, "A", "keras_cnn2")
    references = _references(results, capsys)
    assert {r["report"] for r in references} == {"uni2022-catsdogs", "itesm2022-catsdogs", "itam2020-catsdogs-mnist"}


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_upsample_sweep_records_psnr_and_keras_accuracy(ray_session, tmp_path, capsys):
    rng = np.random.default_rng(1)
    raw = tmp_path / "data" / "mnist" / "MNIST" / "raw"
    for split, n in (("train", 300), ("t10k", 60)):
        digits = np.zeros((n, 28, 28), dtype=np.uint8)
        for k in range(n):  # a bright square somewhere: something to upsample
            r, c = rng.integers(4, 16, 2)
            digits[k, r : r + 8, c : c + 8] = 255
        _write_idx(raw / f"{split}-images-idx3-ubyte", digits)
        _write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)
    results = tmp_path / "results"
    _sweep(results, "--task", "mnist_upsample", "--arch", "espcn", "--optimizer", "adam", "--lr", "0.01",
           "--batch-size", "32", "--data-dir", str(tmp_path / "data"))  # fmt: skip
    export, trial = _only_export(results)
    assert export["status"] == "verified"
    with Store.existing(results) as store:
        (epoch,) = store.epochs(trial["id"])
    extra = json.loads(epoch["extra_json"])
    assert set(extra) == {"train_psnr", "val_psnr", "train_keras_acc", "val_keras_acc"}
    assert extra["val_psnr"] > 0 and 0 <= extra["val_keras_acc"] <= epoch["val_acc"] <= 1
    capsys.readouterr()
    assert main(["show", trial["id"], "--results", str(results), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["confusion"] is None and report["test"]["psnr"] > 0 and 0 <= report["test"]["acc"] <= 1
    assert main(["show", trial["id"], "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "val_psnr" in out and "psnr" in out and "confusion" not in out
    assert {r["score"] for r in _references(results, capsys)} == {"val_keras_acc"}  # measured as the report did


def test_cifar10_report_split_from_the_real_batches(ray_session, tmp_path, shared_data, capsys):
    results = tmp_path / "results"
    _sweep(results, "--task", "cifar10", "--arch", "mlp", "--optimizer", "adam", "--lr", "0.001",
           "--batch-size", "128", "--data-dir", str(shared_data))  # fmt: skip
    export, _ = _only_export(results)
    assert export["status"] == "verified"
    with Store.existing(results) as store:
        (sweep,) = store._rows("SELECT * FROM sweeps")
    data = json.loads(sweep["environment_json"])["data"]
    assert data["variant"] == "report" and data["counts"] == {"train": 10_000, "val": 10_000, "test": 10_000}
    assert data["skipped"] == 0 and "cifar-10-batches-py" in data["source"]
    assert [r["published"] for r in _references(results, capsys)] == [0.729, 0.6923]
