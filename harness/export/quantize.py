"""INT8: onnxruntime's static quantization of an exported float32 file, calibrated on training images.

Static (not dynamic) so that convolutions are quantized too: activation ranges come from
running a seeded sample of the training split, normalised exactly as in training, through the
float model. QDQ format with per-channel weights, which onnxruntime's CPU kernels fuse.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from harness.runtimes.documents import Preprocessing
from harness.runtimes.predict import normalize
from harness.safefile import writer

CALIBRATION_IMAGES = 256
CALIBRATION_BATCH = 32


class Calibration(CalibrationDataReader):
    """Batches of a seeded sample of training images, normalised as in training."""

    def __init__(self, images: np.ndarray, preprocessing: Preprocessing, input_name: str) -> None:
        pick = np.random.default_rng(0).permutation(len(images))[:CALIBRATION_IMAGES]
        x = normalize(images[np.sort(pick)], preprocessing)
        self.batches = iter([{input_name: x[i : i + CALIBRATION_BATCH]} for i in range(0, len(x), CALIBRATION_BATCH)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def quantize_int8(
    float_path: Path,
    out_path: Path,
    *,
    train_images: np.ndarray,
    preprocessing: Preprocessing,
    metadata: dict[str, str],
) -> Path:
    """Write the INT8 model of `float_path` to `out_path`, with the float file's metadata plus
    `quantize: int8` (so `harness verify` applies the INT8 gate)."""
    reader = Calibration(train_images, preprocessing, "input")
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # the quantizer logs a warning per 1-D weight it skips
    try:
        with tempfile.TemporaryDirectory() as tmp:
            prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
            quant_pre_process(str(float_path), str(prepared))  # shape inference + graph clean-up, as ort advises
            # into a private folder: the quantizer opens its output by name, and would follow a link there
            quantize_static(
                str(prepared),
                str(quantized),
                reader,
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
            )
            proto = onnx.load(str(quantized))
    finally:
        root.level = level
    onnx.helper.set_model_props(proto, {**metadata, "quantize": "int8"})
    with writer(out_path, what="INT8 ONNX file") as handle:
        onnx.save(proto, handle)
    return out_path
