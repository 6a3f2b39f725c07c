"""Hostile input, class 5 (issue 26): data used wrongly in silence. An image of more than 8 bits
per sample is scaled to 8 bits, never clipped (Pillow's own conversion turns a 16-bit gradient
into black and white); a file that is not a whole image (a PNG whose pixel data ends before its
last row, which Pillow fills with zeros without a word) is unreadable, and predict reports it
exactly as training skips and counts it. Real PNG, TIFF and JPEG files written with Pillow and
numpy; real onnxruntime (tests/onnxfiles.py) for predict."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hostile import refused
from onnxfiles import write_classifier
from PIL import Image

from harness.cli.main import main
from harness.datasets import load_task, prepare
from harness.imagefile import UnreadableImage, read_image

WIDE = 256  # a gradient this wide keeps every 8-bit level once scaled


def _gradient(dtype: str, top: float) -> np.ndarray:
    """A horizontal ramp from 0 to `top`, 16 rows of WIDE columns."""
    return np.tile(np.linspace(0, top, WIDE), (16, 1)).astype(dtype)


# (what is written, how): 16-bit PNG as the issue wrote it, then ours: 16-bit TIFF in both byte
# orders, a 32-bit integer TIFF and a float TIFF in [0, 1].
DEEP = {
    "png-16": (lambda: _gradient("uint16", 65535), ".png"),
    "tiff-16": (lambda: _gradient("uint16", 65535), ".tif"),
    "tiff-16-big-endian": (lambda: _gradient(">u2", 65535), ".tif"),
    "tiff-32-int": (lambda: _gradient("int32", 2**31 - 1), ".tif"),
    "tiff-float": (lambda: _gradient("float32", 1.0), ".tif"),
}


@pytest.mark.parametrize("kind", list(DEEP))
def test_deep_grey_images_are_scaled_not_clipped(tmp_path, kind):
    ramp, suffix = DEEP[kind]
    path = tmp_path / f"ramp{suffix}"
    Image.fromarray(ramp()).save(path)
    for grey in (True, False):  # a grey model and a colour one read the same levels
        pixels = read_image(path, width=WIDE, height=16, grey=grey)
        assert len(np.unique(pixels)) > 200 and pixels.min() == 0 and pixels.max() == 255, kind
        assert 120 <= pixels[0, 0, WIDE // 2] <= 135  # the middle of the ramp is mid-grey


def test_a_16_bit_image_gets_the_answer_of_its_8_bit_twin(tmp_path, capsys):
    """predict end to end: v * 257 in 16 bits and v in 8 bits are the same picture."""
    model = write_classifier(tmp_path / "m.onnx")
    levels = np.random.default_rng(0).integers(0, 256, (8, 8))
    Image.fromarray(levels.astype(np.uint8)).save(tmp_path / "eight.png")
    Image.fromarray((levels * 257).astype(np.uint16)).save(tmp_path / "sixteen.png")
    answers = []
    for name in ("eight.png", "sixteen.png"):
        capsys.readouterr()
        assert main(["predict", str(model), str(tmp_path / name), "--json", "--top", "3"]) == 0
        answers.append(json.loads(capsys.readouterr().out)[0]["top"])
    assert answers[0] == answers[1]  # the same uint8 pixels in, the same numbers out


def test_a_16_bit_image_folder_trains_on_its_levels(tmp_path):
    """The training path (folder: task, decode-once cache) reads the same levels as predict."""
    for c, name in enumerate(("dark", "light")):
        (tmp_path / "set" / name).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(_gradient("uint16", 65535 - 9000 * c - 100 * i)).save(tmp_path / "set" / name / f"{i}.png")
    task = f"folder:{tmp_path / 'set'}"
    meta = prepare(task, image_size=WIDE)
    assert not meta["skipped"]
    train = load_task(task, image_size=WIDE).train.images
    assert len(np.unique(train[0])) > 200 and train.max() > 230


def _png(pixels: np.ndarray, *, rows: int | None = None, interlace: bool = False) -> bytes:
    """A grey PNG, written here so that it can lie: its header says the image's size, its one
    complete zlib stream holds only the first `rows` rows (or, interlaced, only Adam7's first
    passes), and IEND follows. Pillow writes no interlaced PNG, hence this writer."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width = pixels.shape
    if interlace:
        passes = ((0, 8, 0, 8), (0, 8, 4, 8), (4, 8, 0, 4), (0, 4, 2, 4), (2, 4, 0, 2), (0, 2, 1, 2), (1, 2, 0, 1))
        blocks = [pixels[r0::rs, c0::cs] for r0, rs, c0, cs in passes]
        raw = b"".join(b"\x00" + row.tobytes() for block in blocks[:rows] if block.size for row in block)
    else:
        raw = b"".join(b"\x00" + row.tobytes() for row in pixels[:rows])
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, int(interlace))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _jpeg_cut_short() -> bytes:
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


RAMP = np.tile(np.arange(64, dtype=np.uint8) * 4, (64, 1))
CUT = {
    # the issue's: 20 of 64 rows, a complete zlib stream, IEND: Pillow zero-filled the rest
    "png-20-of-64-rows": (_png(RAMP, rows=20), "its pixel data ends after 20 of 64 rows"),
    "jpeg-cut-short": (_jpeg_cut_short(), "image file is truncated"),
    # ours: an interlaced PNG with 5 of Adam7's 7 passes (every row present, every other column zero)
    "png-interlaced-5-of-7-passes": (_png(RAMP, rows=5, interlace=True), "holds 1,080 of 4,216 bytes"),
}


def test_the_png_writer_tells_the_truth_when_asked(tmp_path):
    """The lying writer's honest files decode to the pixels it was given, interlaced or not."""
    for interlace in (False, True):
        with Image.open(io.BytesIO(_png(RAMP, interlace=interlace))) as img:
            assert np.array_equal(np.asarray(img), RAMP)
        (tmp_path / "whole.png").write_bytes(_png(RAMP, interlace=interlace))
        assert np.array_equal(read_image(tmp_path / "whole.png", width=64, height=64, grey=True)[0], RAMP)


@pytest.mark.parametrize("kind", list(CUT))
def test_a_cut_image_is_refused_by_predict(tmp_path, capsys, kind):
    data, reason = CUT[kind]
    model = write_classifier(tmp_path / "m.onnx")
    (tmp_path / "in").mkdir()
    cut = tmp_path / "in" / f"cut{'.jpg' if 'jpeg' in kind else '.png'}"
    cut.write_bytes(data)
    with pytest.raises(UnreadableImage, match=reason):
        read_image(cut, width=8, height=8, grey=True)
    # alone: no answer at all
    err = refused(capsys, ["predict", str(model), str(cut), "--json"])
    assert "none of the 1 image file(s) is readable" in err and reason in err
    # beside a whole image: that one is answered, this one reported, as training skips it
    Image.fromarray(RAMP).save(tmp_path / "in" / "whole.png")
    capsys.readouterr()
    assert main(["predict", str(model), str(tmp_path / "in"), "--json"]) == 0
    out, err = capsys.readouterr()
    answers = {Path(a["path"]).name: a for a in json.loads(out)}
    assert answers["whole.png"]["top"] and answers[cut.name]["top"] is None and reason in answers[cut.name]["error"]
    assert err.count("\n") == 1 and "skipped 1 unreadable file(s), first: " in err


@pytest.mark.parametrize("kind", list(CUT))
def test_a_cut_image_is_skipped_and_counted_in_training(tmp_path, kind):
    data, _ = CUT[kind]
    folder = tmp_path / "set"
    for name in ("a", "b"):
        (folder / name).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(np.roll(RAMP, 8 * i + 30 * (name == "b"))).save(folder / name / f"{i}.png")
    cut = folder / "a" / f"cut{'.jpg' if 'jpeg' in kind else '.png'}"
    cut.write_bytes(data)
    meta = prepare(f"folder:{folder}", image_size=16)
    assert meta["skipped"] == [str(cut)]
    assert sum(meta["counts"].values()) == 20
