"""Writers of the real on-disk formats, for tests that need small files of their own: CIFAR-10
python batches, IDX files (gzipped or raw), images of every mode, decompression bombs, and
the cats-vs-dogs layouts. (On the test path through `pythonpath` in pyproject.toml.)"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

RNG = np.random.default_rng(0)
# The real datasets the tests train on: $HARNESS_DATA_DIR where it is set (the harness reads the
# same variable), else ../shared/data beside the project (CI has it there).
ROOT = Path(__file__).resolve().parents[1]  # the project
SHARED_DATA = Path(os.environ.get("HARNESS_DATA_DIR") or ROOT.parent / "shared" / "data")


def write_cifar_batch(path: Path, n: int, *, first_label: int = 0) -> None:
    """An official-style python batch: dict with uint8 `data` (n, 3072) and a list of `labels`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = {
        "batch_label": "test",
        "labels": [(first_label + i) % 10 for i in range(n)],
        "data": RNG.integers(0, 256, (n, 3072), dtype=np.uint8),
        "filenames": [f"{i}.png" for i in range(n)],
    }
    path.write_bytes(pickle.dumps(batch, protocol=2))


def write_idx(path: Path, array: np.ndarray, *, gz: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)


def write_mnist(folder: Path, *, gz: bool, n_train: int = 100, n_test: int = 20) -> None:
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{split}-images-idx3-ubyte", RNG.integers(0, 256, (n, 28, 28)), gz=gz)
        write_idx(folder / f"{split}-labels-idx1-ubyte", np.arange(n) % 10, gz=gz)


def write_image(path: Path, *, mode: str = "RGB", size: tuple[int, int] = (40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    colors: dict[str, int | tuple[int, ...]] = {
        "RGB": (200, 30, 40),
        "L": 128,
        "CMYK": (0, 50, 100, 0),
        "RGBA": (10, 20, 30, 0),
        "P": 3,
    }
    color = colors[mode]
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    Image.new(mode, size, color).save(path, fmt)


def write_bomb(path: Path) -> None:
    """A PNG whose header claims 30000 x 30000 pixels: Pillow refuses it as a decompression bomb."""
    Image.new("L", (1, 1)).save(path, "PNG")
    buf = bytearray(path.read_bytes())
    ihdr = bytearray(buf[12:29])  # chunk type + 13 data bytes
    ihdr[4:12] = struct.pack(">II", 30000, 30000)
    buf[12:29] = ihdr
    buf[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    path.write_bytes(bytes(buf))


def salt(folder: Path) -> list[str]:
    """Bad and odd files in a class folder; returns the names that must be counted as skipped."""
    good = folder / "good_source.jpg"
    write_image(good, size=(64, 48))
    data = good.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes_saved_as.jpg").write_text("not an image")
    write_bomb(folder / "bomb.png")
    (folder / ".DS_Store").write_bytes(b"\0\1junk")  # ignored: no image extension
    (folder / "README.txt").write_text("ignored too")
    for mode in ("L", "CMYK", "RGBA", "P"):  # converted, not skipped
        write_image(folder / f"odd_{mode}.{'jpg' if mode == 'CMYK' else 'png'}", mode=mode)
    return ["truncated.jpg", "empty.jpg", "notes_saved_as.jpg", "bomb.png"]


def cats_and_dogs(folder: Path, n: int, *, layout: str) -> None:
    for plural, title in (("cats", "Cat"), ("dogs", "Dog")):
        for i in range(n):
            if layout == "chetankv":
                write_image(folder / ("training_set" if i < n * 0.8 else "test_set") / plural / f"{plural[:3]}.{i}.jpg")
            elif layout == "kaggle":
                write_image(folder / "train" / f"{plural[:3]}.{i}.jpg")
            else:
                write_image(folder / "PetImages" / title / f"{i}.jpg")


# A 3-class image set as users have them: one class name with a space and an accent, another
# in a non-Latin script; PNG, JPEG, BMP and WebP files, grey and colour, of different sizes.
USER_CLASSES = ("chat tigré", "chien", "птица")
FORMATS = (".png", ".jpg", ".bmp", ".webp")


def write_image_folder(folder: Path, *, per_class: int = 20, classes: tuple[str, ...] = USER_CLASSES) -> Path:
    """Class-per-folder images a small network can tell apart: each class its own colour and
    stripe direction, with noise; every fourth image grey. Returns `folder`."""
    rng = np.random.default_rng(1)
    for c, name in enumerate(classes):
        target = folder / name
        target.mkdir(parents=True, exist_ok=True)
        base = np.zeros((3,), dtype=np.float64)
        base[c % 3] = 200
        for i in range(per_class):
            h, w = 24 + (i % 3) * 8, 32 + (i % 2) * 8
            yy, xx = np.mgrid[0:h, 0:w]
            stripes = np.sin((xx if c % 2 else yy) * (0.8 + 0.3 * c)) * 40
            pixels = base[None, None, :] + stripes[..., None] + rng.normal(0, 25, (h, w, 3))
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
            if i % 4 == 3:
                image = image.convert("L")
            suffix = FORMATS[i % len(FORMATS)]
            image.save(target / f"img {i:03d}{suffix}")
    return folder


# A plugin as users write one: a task (the digits, under another name) and a network, both
# registered on import, and a function a sweep can name as FILE.py:tiny.
PLUGIN = '''
from torch import nn

from harness import DatasetSpec, register_arch, register_task
from harness.datasets import get_task

DIGITS = get_task("digits")
register_task(
    DatasetSpec(
        name="plugin_digits",
        kind="classification",
        input_shape=DIGITS.input_shape,
        classes=DIGITS.classes,
        mean=DIGITS.mean,
        std=DIGITS.std,
        find=DIGITS.find,
        decode=DIGITS.decode,
        reads_data_dir=False,
        description="the digits, registered by a plugin",
    )
)


@register_arch("plugin_mlp", input_shape=(1, 8, 8), num_outputs=10, adaptive=True)
def plugin_mlp(in_shape, num_outputs):
    """A two-layer perceptron from a plugin file."""
    c, h, w = in_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 32), nn.ReLU(), nn.Linear(32, num_outputs))


def tiny(in_shape, num_outputs):
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_outputs))
'''


def write_plugin(folder: Path, name: str = "myplugin.py", text: str = PLUGIN) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path
