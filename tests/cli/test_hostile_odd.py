"""Hostile input, class 7 (issue 13): the odd items, each settled. archs --image-size is
validated; an image past Pillow's bomb warning is skipped without the warning; predict on a
folder without images is one line; a failed download leaves no empty folders; a decode that
would not fit in memory says which image size does. (Infinite --lr and --weight-decay are in
test_hostile_inputs.py with the other numbers.)"""

from __future__ import annotations

import subprocess
import sys

import pytest
from hostile import refused
from PIL import Image
from realfiles import cats_and_dogs


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["archs", "--image-size", "64"], "--image-size needs --task"),
        (["archs", "--task", "cats_vs_dogs", "--image-size", "4096"], "image size 4096 is out of range"),
        (["archs", "--task", "cifar10", "--image-size", "64"], "fixed image size of 32 px"),
    ],
)
def test_archs_image_size_is_validated(capsys, argv, expected):
    assert expected in refused(capsys, argv)


def test_a_144_megapixel_image_is_skipped_without_pillows_warning(tmp_path):
    root = tmp_path / "data"
    cats_and_dogs(root / "cats_vs_dogs", 5, layout="chetankv")
    Image.new("L", (12000, 12000)).save(root / "cats_vs_dogs" / "training_set" / "cats" / "huge.png")
    # A subprocess: Pillow's warning goes through `warnings`, which pytest catches in-process; only a
    # real process's stderr shows whether the user would see it.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "data",
            "prepare",
            "cats_vs_dogs",
            "--data-dir",
            str(root),
            "--image-size",
            "16",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("\n") == 1 and "skipped 1 unreadable file(s), first: " in proc.stderr
    assert "huge.png" in proc.stderr and "DecompressionBombWarning" not in proc.stderr


def test_predict_on_a_folder_without_images_is_one_line(swept, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    (model,) = (swept / "onnx").glob("*.onnx")
    err = refused(capsys, ["predict", str(model), str(tmp_path / "empty")])
    assert "no image files in" in err and ".png" in err


def test_a_failed_download_leaves_no_empty_folders(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    from harness.datasets import MissingData, prepare

    monkeypatch.delenv("HARNESS_OFFLINE")
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("off")))
    (tmp_path / "mine.txt").write_text("a user's file")
    with pytest.raises(MissingData, match="download failed"):
        prepare("cifar10", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_a_decode_that_would_not_fit_in_memory_says_which_size_does(monkeypatch):
    from harness.datasets import _images
    from harness.errors import HarnessError

    monkeypatch.setattr(_images, "available_memory", lambda: 8 * 2**30)
    with pytest.raises(HarnessError, match=r"decoding 25,000 images at 1024 px needs about 161\.1 GiB") as exc:
        _images.check_memory(25_000, 1024)
    size = int(exc.value.hint.split("--image-size ")[1].split()[0])
    _images.check_memory(25_000, size)  # the size it names fits
    with pytest.raises(HarnessError):
        _images.check_memory(25_000, size + 8)
