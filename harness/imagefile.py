"""One image file -> a uint8 array, the same way for training data and for `harness predict`.

Decoding here (not twice) keeps what a model sees in production identical to what it was
trained on: the same colour conversion, alpha compositing, bit-depth scaling, JPEG draft
scaling and resampling, and the same judgement of which files are unreadable. Pillow and numpy
only: `harness predict` must run where torch is not installed.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image

from harness.errors import HarnessError
from harness.userfiles import NotRegularFile, open_regular

# Set once, process-wide (a per-call catch_warnings is not thread-safe, and decoding runs in
# threads): Pillow's bomb warning becomes an error, so the file is skipped rather than printed about.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

# Modes that carry an alpha channel; other modes may carry a transparent colour in info.
ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


class UnreadableImage(HarnessError):
    """A file that is not a whole, decodable image. Training skips and counts it; predict reports it."""


def read_image(path: Path, *, width: int, height: int, grey: bool = False) -> np.ndarray:
    """uint8 (C, height, width): RGB (or one grey channel), transparent pixels on white, 16-bit
    and float grey scaled to 8 bits.

    Raises UnreadableImage for anything that is not a whole image: a truncated or corrupt file,
    a PNG whose pixel data ends before its last row (Pillow fills the rest with zeros in silence),
    a decompression bomb, or an image past Pillow's bomb warning (89 megapixels), which is
    skipped like a bomb, never decoded in silence (ImageFile.LOAD_TRUNCATED_IMAGES stays False);
    and a FIFO, a device or a folder, without blocking on it.
    """
    try:
        with open_regular(path, what="image") as f, Image.open(f) as img:
            # JPEG: let libjpeg decode at 1/2, 1/4 or 1/8 scale when that still covers the target size.
            img.draft("L" if grey else "RGB", (width, height))
            img.load()  # decoding happens here, inside the try: a truncated file raises now
            if img.format == "PNG":  # Pillow is done with the file: the same handle, read again from the start
                f.seek(0)
                short = png_shortfall(f)
                if short:
                    raise UnreadableImage(f"{path}: truncated ({short})", "the file was cut short: copy it again")
            return to_array(img, width=width, height=height, grey=grey)
    except UnreadableImage:
        raise
    except NotRegularFile as exc:
        raise UnreadableImage(f"{path}: {exc.message.removeprefix(f'image {str(path)!r} is ')}", exc.hint) from None
    except Exception as exc:  # Pillow's plugins raise many types (OSError, SyntaxError, struct.error, ...)
        reason = str(exc).strip().splitlines()[0][:100] if str(exc).strip() else ""
        raise UnreadableImage(
            f"{path}: not a readable image ({type(exc).__name__}{': ' + reason if reason else ''})",
            "replace the file or remove it",
        ) from None


def to_array(img: Image.Image, *, width: int, height: int, grey: bool = False) -> np.ndarray:
    """An opened image as read_image returns it: uint8 (C, height, width), transparency on white."""
    img = to_8bit(img)
    if img.mode in ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")  # as the Pokemon copy was prepared: transparency on white
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    img = img.convert("L" if grey else "RGB").resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(img, dtype=np.uint8)
    return array[None] if grey else array.transpose(2, 0, 1)


def to_8bit(img: Image.Image) -> Image.Image:
    """A 16- or 32-bit integer or a float grey image as 8-bit grey ("L"), scaled over its range;
    other modes as they are. Pillow's own convert("L") clips instead: a 0..65535 gradient would
    become black and white. Integers keep their top 8 bits (65535 -> 255, 256 -> 1); floats are
    read as [0, 1] (the convention of float image files), NaN as 0."""
    if img.mode not in ("I", "F") and not img.mode.startswith("I;16"):
        return img
    array = np.asarray(img)
    if array.dtype.kind == "f":
        unit = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        return Image.fromarray((np.clip(unit, 0.0, 1.0) * 255 + 0.5).astype(np.uint8))
    # PNG holds at most 16 bits (older Pillow opened 16-bit grey PNG as 32-bit "I");
    # otherwise the type's own range, signed types from 0 up.
    bits = 16 if img.format == "PNG" else array.dtype.itemsize * 8 - (array.dtype.kind == "i")
    top = np.clip(array.astype(np.int64), 0, 2**bits - 1) >> (bits - 8)
    return Image.fromarray(top.astype(np.uint8))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # samples per pixel of each PNG colour type
# Adam7's passes: (first row, row step, first column, column step).
ADAM7 = ((0, 8, 0, 8), (0, 8, 4, 8), (4, 8, 0, 4), (0, 4, 2, 4), (2, 4, 0, 2), (0, 2, 1, 2), (1, 2, 0, 1))


def png_shortfall(f: IO[bytes]) -> str | None:
    """What a PNG's pixel data lacks, in words, or None when it holds every row its header
    promises. Pillow stops at the end of a complete zlib stream and leaves the missing rows zero
    without an error, so the rows are counted here: the IDAT chunks are inflated in pieces (never
    more than the header's size plus one piece) and only counted, never kept."""
    if f.read(8) != PNG_SIGNATURE:
        return "no PNG signature"
    length, kind = struct.unpack(">I4s", f.read(8))
    if kind != b"IHDR" or length != 13:
        return "no PNG header"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", f.read(13))
    f.read(4)  # the header's CRC
    samples = PNG_SAMPLES.get(colour)
    if samples is None:
        return f"colour type {colour}"
    expected = _png_bytes(width=width, height=height, bits=depth * samples, interlace=interlace)
    inflate, produced, seen_data = zlib.decompressobj(), 0, False
    while produced <= expected:
        head = f.read(8)
        if len(head) < 8:
            break
        length, kind = struct.unpack(">I4s", head)
        if kind != b"IDAT":
            if seen_data or kind == b"IEND":
                break  # the image data is one run of IDAT chunks
            f.seek(length + 4, 1)
            continue
        seen_data, pending = True, f.read(length)
        f.read(4)  # CRC
        while pending and produced <= expected:
            try:
                produced += len(inflate.decompress(pending, 1 << 16))
            except zlib.error:
                return "its compressed pixel data is corrupt"
            pending = inflate.unconsumed_tail
    if produced >= expected:
        return None
    if interlace:
        return f"its pixel data holds {produced:,} of {expected:,} bytes"
    return f"its pixel data ends after {produced // (1 + _row_bytes(width, depth * samples))} of {height} rows"


def _row_bytes(width: int, bits: int) -> int:
    return (width * bits + 7) // 8


def _png_bytes(*, width: int, height: int, bits: int, interlace: int) -> int:
    """Bytes of filtered pixel data (a filter byte before each row) a PNG of this header holds."""
    if not interlace:
        return height * (1 + _row_bytes(width, bits))
    total = 0
    for row0, row_step, col0, col_step in ADAM7:
        rows = max(0, (height - row0 + row_step - 1) // row_step)
        cols = max(0, (width - col0 + col_step - 1) // col_step)
        if rows and cols:  # an empty pass has no rows at all, not even filter bytes
            total += rows * (1 + _row_bytes(cols, bits))
    return total
