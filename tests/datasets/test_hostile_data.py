"""Hostile input, class 1 (issue 13): cached or read data that is wrong is never used in
silence. A decode-once cache is tied to its sources and to its own bytes; a damaged or stale
one is rebuilt once, in one warning line; a reader refuses a file whose structure does not
hold, naming the file. Every case: exit code, one line, no traceback, the sources untouched."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from hostile import folder_state
from realfiles import cats_and_dogs, write_cifar_batch, write_mnist

from harness.cli.main import main
from harness.datasets import describe_task, load_task, prepare

CIFAR = ("cifar10", "cifar-10-batches-py")


def one_line(text: str, prefix: str) -> str:
    assert text.count("\n") == 1 and text.startswith(prefix) and "Traceback" not in text, text
    return text


@pytest.fixture
def cifar(tmp_path) -> Path:
    root = tmp_path / "data"
    for i, name in enumerate(("data_batch_1", "data_batch_2", "test_batch")):
        write_cifar_batch(root.joinpath(*CIFAR, name), 60, first_label=i)
    return root


def _prepare(root: Path, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["data", "prepare", "cifar10", "--data-dir", str(root)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_cache_array_overwritten_with_another_valid_array_is_rebuilt(cifar, capsys):
    meta = prepare("cifar10", cifar)
    labels = Path(meta["folder"]) / "train_labels.npy"
    right = np.load(labels)
    np.save(labels, np.roll(right, 1))  # same shape, dtype and size: only the checksum tells
    source = folder_state(cifar)
    code, _, err = _prepare(cifar, capsys)
    assert code == 0 and "train_labels.npy has other contents than were written" in one_line(err, "warning: ")
    assert np.array_equal(np.load(labels), right) and folder_state(cifar) == source
    assert _prepare(cifar, capsys)[2] == ""  # rebuilt once: the next check passes quietly


def test_a_truncated_cache_file_is_not_cached_and_is_rebuilt(cifar, capsys):
    meta = prepare("cifar10", cifar)
    images = Path(meta["folder"]) / "test_images.npy"
    images.write_bytes(images.read_bytes()[:1000])
    row = describe_task("cifar10", cifar)
    assert row["status"] == "stale" and "test_images.npy has 1,000 bytes" in row["problem"]
    # a trial (which checks sizes only) would rebuild it rather than map a short file
    assert len(load_task("cifar10", cifar).test) == 60
    code, _, err = _prepare(cifar, capsys)
    assert code == 0 and err == ""


def test_deleted_sources_make_the_cache_stale_and_the_counts_follow(tmp_path, capsys):
    root = tmp_path / "data"
    cats_and_dogs(root / "cats_vs_dogs", 10, layout="chetankv")
    args = ["--data-dir", str(root), "--image-size", "16"]
    assert main(["data", "prepare", "cats_vs_dogs", *args]) == 0
    (root / "cats_vs_dogs" / "test_set" / "cats" / "cat.9.jpg").unlink()
    assert main(["data", "cats_vs_dogs", *args, "--format", "json"]) == 0
    capsys.readouterr()
    assert describe_task("cats_vs_dogs", root, image_size=16)["status"] == "stale"
    assert main(["data", "prepare", "cats_vs_dogs", *args]) == 0
    assert "source files under" in one_line(capsys.readouterr().err, "warning: ")
    assert main(["data", "cats_vs_dogs", *args, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "cached" and row["counts"]["test"] == 3  # 2 cats + 2 dogs before, one cat deleted


def test_a_garbage_cache_description_is_rebuilt(cifar, capsys):
    meta = prepare("cifar10", cifar)
    (Path(meta["folder"]) / "meta.json").write_text("{not json")
    code, _, err = _prepare(cifar, capsys)
    assert code == 0 and "meta.json is unreadable (JSONDecodeError)" in one_line(err, "warning: ")
    assert json.loads((Path(meta["folder"]) / "meta.json").read_text())["counts"]["train"] == 60


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        ({"labels": list(range(10)) * 50, "n": 1000}, "has 1,000 images but 500 integer labels"),
        ({"labels": [10] + [0] * 59, "n": 60}, "labels from 0 to 10, outside 0..9"),
        ({"labels": [-1] + [0] * 59, "n": 60}, "labels from -1 to 0, outside 0..9"),
        ({"labels": [0] * 60, "n": 60, "data": np.zeros((60, 100), np.uint8)}, "not uint8 (N, 3072)"),
    ],
)
def test_a_cifar_batch_that_does_not_hold_together_is_refused_naming_the_file(cifar, capsys, batch, expected):
    bad = cifar.joinpath(*CIFAR, "data_batch_2")
    data = batch.get("data", np.zeros((batch["n"], 3072), np.uint8))
    bad.write_bytes(pickle.dumps({"data": data, "labels": batch["labels"]}, protocol=2))
    source = folder_state(cifar)
    code, out, err = _prepare(cifar, capsys)
    assert code == 2 and out == ""
    assert str(bad) in one_line(err, "error: ") and expected in err
    assert folder_state(cifar) == source


def test_idx_labels_out_of_range_are_refused_naming_the_file(tmp_path, capsys):
    raw = tmp_path / "data" / "mnist" / "MNIST" / "raw"
    write_mnist(raw, gz=False)
    labels = raw / "t10k-labels-idx1-ubyte"
    blob = bytearray(labels.read_bytes())
    blob[-1] = 10  # the last label
    labels.write_bytes(bytes(blob))
    capsys.readouterr()
    assert main(["data", "prepare", "mnist", "--data-dir", str(tmp_path / "data")]) == 2
    err = one_line(capsys.readouterr().err, "error: ")
    assert str(labels) in err and "a label 10, outside 0..9" in err
