"""Every task on real on-disk formats: tiny copies written here (CIFAR pickles, IDX gzipped and
raw, each image-folder layout salted with bad files) and the real copies in ../shared/data."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from realfiles import RNG, cats_and_dogs, salt, write_cifar_batch, write_image, write_mnist

from harness.cli.main import main
from harness.datasets import MissingData, describe_task, get_task, load_task, prepare
from harness.engine.train import OBJECTIVES
from harness.errors import HarnessError

# ---------------------------------------------------------------- CIFAR-10


def test_cifar_report_and_full_variants(tmp_path):
    raw = tmp_path / "cifar10" / "cifar-10-batches-py"
    for i in range(1, 6):
        write_cifar_batch(raw / f"data_batch_{i}", 40, first_label=i)
    write_cifar_batch(raw / "test_batch", 30)
    report = load_task("cifar10", tmp_path, variant="report")
    assert (len(report.train), len(report.val), len(report.test)) == (40, 40, 30)
    assert report.train.labels[:3].tolist() == [1, 2, 3] and report.val.labels[0] == 2
    assert report.train.images.shape == (40, 3, 32, 32) and report.train.images.dtype == np.uint8
    full = load_task("cifar10", tmp_path, variant="full")
    assert (len(full.train), len(full.val), len(full.test)) == (180, 20, 30)
    assert np.bincount(full.val.labels).tolist() == [2] * 10  # stratified: 10% of each class


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_and_not_run(tmp_path, capsys):
    raw = tmp_path / "cifar10" / "cifar-10-batches-py"
    for name in ("data_batch_2", "test_batch"):
        write_cifar_batch(raw / name, 10)
    exploit = _Exploit()
    exploit.marker = tmp_path / "pwned"
    (raw / "data_batch_1").write_bytes(pickle.dumps({"data": exploit, "labels": [0]}, protocol=2))
    assert main(["data", "prepare", "cifar10", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refusing" in err and ("posix.system" in err or "os.system" in err)
    assert not exploit.marker.exists()


def test_cifar_missing_batches_say_what_to_put_where(tmp_path):
    write_cifar_batch(tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_1", 5)
    with pytest.raises(MissingData, match="data_batch_2") as exc:
        prepare("cifar10", tmp_path)
    assert "cifar-10-python.tar.gz" in str(exc.value) and "\n" not in str(exc.value)


# ---------------------------------------------------------------- MNIST, Fashion-MNIST, upsampling


@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_gzipped_or_raw(tmp_path, gz):
    write_mnist(tmp_path / "mnist" / "MNIST" / "raw", gz=gz)
    data = load_task("mnist", tmp_path)
    assert (len(data.train) + len(data.val), len(data.test)) == (100, 20)
    assert len(data.val) == 10 and data.train.images.shape[1:] == (1, 28, 28)


def test_fashion_mnist_from_torchvision_and_debian_layouts(tmp_path, monkeypatch):
    from harness.datasets import mnist

    write_mnist(tmp_path / "tv" / "fashion_mnist" / "FashionMNIST" / "raw", gz=False, n_train=50)
    assert len(load_task("fashion_mnist", tmp_path / "tv").test) == 20
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    write_mnist(debian, gz=True, n_train=60)
    monkeypatch.setattr(mnist, "DEBIAN_FASHION", debian)  # where `apt-get install dataset-fashion-mnist` puts them
    data = load_task("fashion_mnist", tmp_path / "empty-root")
    assert len(data.train) + len(data.val) == 60 and "usr-share" in data.source


def test_a_corrupt_idx_file_is_one_line(tmp_path):
    folder = tmp_path / "mnist" / "MNIST" / "raw"
    write_mnist(folder, gz=False)
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x0c\x01garbage")
    with pytest.raises(HarnessError, match="not a valid IDX file"):
        prepare("mnist", tmp_path)


def test_upsampling_inputs_follow_the_report_degrade(tmp_path):
    from harness.datasets.mnist_upsample import degrade, downscale

    flat = np.full((3, 28, 28), 200, dtype=np.uint8)
    assert np.allclose(downscale(flat), 200 / 255)  # a flat image stays flat through blur and resize
    targets = RNG.integers(0, 256, (400, 28, 28)).astype(np.uint8)
    a, b = degrade(targets, file_id=0), degrade(targets, file_id=0)
    assert a.shape == (400, 7, 7) and (a == b).all()  # seeded per sample: never changes
    clean = np.rint(downscale(targets) * 255).astype(np.uint8)
    flipped = a != clean
    assert ((a[flipped].astype(int) + clean[flipped]) == 255).all()  # flipped pixels are |v - 1|
    assert 0.07 < flipped.mean() < 0.13
    write_mnist(tmp_path / "mnist" / "MNIST" / "raw", gz=True)
    data = load_task("mnist_upsample", tmp_path)
    assert data.train.images.shape[1:] == (1, 7, 7) and data.train.labels.shape[1:] == (1, 28, 28)
    assert (len(data.train) + len(data.val), len(data.test)) == (100, 20)


# ---------------------------------------------------------------- photo folders


@pytest.mark.parametrize("layout", ["chetankv", "kaggle", "petimages"])
def test_cats_vs_dogs_layouts_with_bad_files(tmp_path, layout):
    root = tmp_path / "cats_vs_dogs"
    cats_and_dogs(root, 20, layout=layout)
    class_folder = {
        "chetankv": root / "training_set" / "cats",
        "kaggle": root / "train",
        "petimages": root / "PetImages" / "Cat",
    }[layout]
    bad = salt(class_folder)
    if layout == "kaggle":  # the 25,000-image layout names classes in the file names only
        for p in class_folder.glob("odd_*"):
            p.rename(class_folder / f"cat.{p.name}")
        for name in bad + ["good_source.jpg"]:
            (class_folder / name).rename(class_folder / f"cat.{name}")
        bad = [f"cat.{name}" for name in bad]
    meta = prepare("cats_vs_dogs", tmp_path, image_size=32)
    assert sorted(Path(p).name for p in meta["skipped"]) == sorted(bad)
    data = load_task("cats_vs_dogs", tmp_path, image_size=32)
    total = sum(len(s) for s in data.splits().values())
    assert total == 40 + 5  # 20 per class, plus the good source and 4 converted odd images
    assert data.train.images.shape[1:] == (3, 32, 32) and set(np.unique(data.test.labels)) == {0, 1}


def test_cats_vs_dogs_variant_b_needs_a_big_layout(tmp_path):
    cats_and_dogs(tmp_path / "cats_vs_dogs", 4, layout="chetankv")
    with pytest.raises(MissingData, match="PetImages"):
        prepare("cats_vs_dogs", tmp_path, variant="B", image_size=16)


def test_a_class_with_no_readable_image_is_an_error(tmp_path):
    root = tmp_path / "cats_vs_dogs"
    cats_and_dogs(root, 10, layout="chetankv")
    for p in (root / "training_set" / "dogs").iterdir():
        p.write_bytes(b"broken")
    with pytest.raises(HarnessError, match="no readable image of class 'dog'"):
        prepare("cats_vs_dogs", tmp_path, image_size=16)


def test_pokemon_folders_split_80_20_within_each_class(tmp_path):
    from harness.datasets.pokemon150 import CLASSES

    root = tmp_path / "pokemon150" / "PokemonData"
    for i, name in enumerate(CLASSES):
        for j in range(5 + i % 3):
            write_image(root / name / f"{j}.png", mode="RGBA" if j == 0 else "RGB", size=(20, 20))
    skipped = salt(root / CLASSES[0])
    data = load_task("pokemon150", tmp_path, image_size=16)
    meta = prepare("pokemon150", tmp_path, image_size=16)
    assert len(meta["skipped"]) == len(skipped)
    for c in range(len(CLASSES)):
        n = sum(int((s.labels == c).sum()) for s in data.splits().values())
        assert (data.test.labels == c).sum() == round(0.2 * n)


# ---------------------------------------------------------------- the cache and the commands


def test_decoded_once_then_memory_mapped(tmp_path):
    write_mnist(tmp_path / "mnist" / "MNIST" / "raw", gz=True)
    first = prepare("mnist", tmp_path)
    stamp = (Path(first["folder"]) / "train_images.npy").stat().st_mtime_ns
    again = prepare("mnist", tmp_path)
    assert again == first and (Path(first["folder"]) / "train_images.npy").stat().st_mtime_ns == stamp
    data = load_task("mnist", tmp_path)
    assert isinstance(data.train.images, np.memmap)
    assert not list(Path(first["folder"]).parent.glob("*.tmp-*"))  # built in a temp folder, renamed into place


def test_data_command_shows_counts_skips_and_cache(tmp_path, capsys):
    cats_and_dogs(tmp_path / "cats_vs_dogs", 10, layout="chetankv")
    salt(tmp_path / "cats_vs_dogs" / "test_set" / "dogs")
    args = ["--data-dir", str(tmp_path), "--image-size", "24"]
    assert main(["data", "cats_vs_dogs", *args, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "found"
    assert main(["data", "prepare", "cats_vs_dogs", *args]) == 0
    out, err = capsys.readouterr()
    assert "skipped 4 unreadable" in err and "cached" in out
    assert main(["data", "cats_vs_dogs", *args, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["skipped"] == 4 and row["cache_bytes"] > 0 and row["per_class"]["test"]["dog"] == 2 + 5


def test_missing_data_offline_is_one_line_that_says_where(tmp_path, capsys):
    assert main(["data", "prepare", "pokemon150", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PokemonData" in err and str(tmp_path / "pokemon150") in err
    row = describe_task("mnist", tmp_path)
    assert row["status"] == "missing" and "train-images-idx3-ubyte" in row["source"]


def test_online_download_goes_through_torchvision_up_to_the_network(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    urls: list[str] = []

    def no_network(request, *args, **kwargs):
        urls.append(getattr(request, "full_url", str(request)))
        raise urllib.error.URLError("no network in tests")

    monkeypatch.delenv("HARNESS_OFFLINE")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(MissingData, match="download failed") as exc:
        prepare("cifar10", tmp_path)
    assert any("cifar-10-python.tar.gz" in u for u in urls)
    assert "cifar-10-batches-py" in str(exc.value)


def test_online_download_goes_through_kagglehub_up_to_the_network(tmp_path, monkeypatch):
    import requests

    urls: list[str] = []

    def no_network(self, request, **kwargs):
        urls.append(request.url)
        raise requests.ConnectionError("no network in tests")

    monkeypatch.delenv("HARNESS_OFFLINE")
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    monkeypatch.setattr(requests.Session, "send", no_network)
    with pytest.raises(MissingData, match="download failed") as exc:
        prepare("cats_vs_dogs", tmp_path)
    assert any("kaggle" in u for u in urls)
    assert "training_set" in str(exc.value)


# ---------------------------------------------------------------- the real copies in ../shared/data


def test_real_cifar10_report_split(shared_data):
    data = load_task("cifar10", shared_data, variant="report")
    assert (len(data.train), len(data.val), len(data.test)) == (10_000, 10_000, 10_000)
    assert data.train.labels[:4].tolist() == [6, 9, 9, 4] and data.test.labels[:4].tolist() == [3, 8, 8, 0]


def test_real_mnist_and_the_keras_accuracy_cap(shared_data):
    data = load_task("mnist", shared_data)
    assert (len(data.train) + len(data.val), len(data.test)) == (60_000, 10_000)
    # The upsampling report's "accuracy" could never pass the share of exactly-0-or-1 pixels:
    # a perfect prediction scores exactly that share under Keras' binary accuracy.
    up = load_task("mnist_upsample", shared_data)
    import torch

    targets = torch.from_numpy(np.asarray(up.train.labels[:20_000]))
    perfect = OBJECTIVES["image"].scores(targets.float() / 255, targets)
    assert perfect["acc"].item() / len(targets) == 1.0
    assert 0.80 < perfect["keras_acc"].item() / len(targets) < 0.83


def test_real_cats_vs_dogs(shared_data):
    data = load_task("cats_vs_dogs", shared_data, image_size=64)
    assert (len(data.train) + len(data.val), len(data.test)) == (2_000, 2_000)
    assert np.bincount(data.test.labels).tolist() == [1_000, 1_000]
    assert get_task("cats_vs_dogs").classes == ("cat", "dog")


def test_real_pokemon150(shared_data):
    data = load_task("pokemon150", shared_data, image_size=32)
    labels = np.concatenate([s.labels for s in data.splits().values()])
    assert len(labels) == 6_817 and len(np.unique(labels)) == 150
    per_class = np.bincount(labels, minlength=150)
    assert (np.bincount(data.test.labels, minlength=150) == np.rint(0.2 * per_class)).all()


def test_predict_decodes_a_file_exactly_as_training_did(tmp_path):
    from harness.datasets._images import decode_image
    from harness.runtimes.predict import load_image

    write_image(tmp_path / "alpha.png", mode="RGBA")
    write_image(tmp_path / "cmyk.jpg", mode="CMYK")
    Image.fromarray(RNG.integers(0, 256, (300, 400, 3)).astype(np.uint8)).save(tmp_path / "big.jpg")  # draft-scaled
    for path in tmp_path.iterdir():
        assert (decode_image(path, 32) == load_image(path, shape=(3, 32, 32))).all(), path.name
    assert (decode_image(tmp_path / "alpha.png", 8) == 255).all()  # fully transparent -> white
