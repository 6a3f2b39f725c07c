"""One image file -> a uint8 array, the same way for training data and for `harness predict`.

Decoding here (not twice) keeps what a model sees in production identical to what it was
trained on: the same colour conversion, alpha compositing, JPEG draft scaling and resampling.
Pillow and numpy only: `harness predict` must run where torch is not installed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from harness.userfiles import open_regular

# Set once, process-wide (a per-call catch_warnings is not thread-safe, and decoding runs in
# threads): Pillow's bomb warning becomes an error, so the file is skipped rather than printed about.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


def read_image(path: Path, *, width: int, height: int, grey: bool = False) -> np.ndarray:
    """uint8 (C, height, width): RGB (or one grey channel), transparent pixels on white.

    Raises whatever Pillow raises for unreadable files (OSError, DecompressionBombError, ...);
    an image past Pillow's bomb warning (89 megapixels) raises DecompressionBombWarning instead
    of printing it: such a file is skipped (and counted) like a bomb, never decoded in silence.
    A FIFO, a device or a folder raises NotRegularFile (an OSError) without blocking.
    """
    with open_regular(path, what="image") as f, Image.open(f) as img:
        # JPEG: let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers the target size.
        img.draft("L" if grey else "RGB", (width, height))
        return to_array(img, width=width, height=height, grey=grey)


def to_array(img: Image.Image, *, width: int, height: int, grey: bool = False) -> np.ndarray:
    """An opened image as read_image returns it: uint8 (C, height, width), transparency on white."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")  # as the Pokemon copy was prepared: transparency on white
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    img = img.convert("L" if grey else "RGB").resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(img, dtype=np.uint8)
    return array[None] if grey else array.transpose(2, 0, 1)
