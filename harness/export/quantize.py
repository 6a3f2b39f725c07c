"""INT8: onnxruntime's static quantization of an exported float32 file, calibrated on training images.

Static (not dynamic) so that convolutions are quantized too: activation ranges come from
running a seeded sample of the training split, normalised exactly as in training, through the
float model. Before quantizing, every BatchNormalization that could not fold into a convolution
becomes one (harness.export.int8_graph), so the whole network runs in onnxruntime's integer
kernels. The format follows onnxruntime's x86 guidance: QDQ, unsigned 8-bit activations with
signed 8-bit per-channel weights (U8S8, the operand order of the VNNI/AMX dot-product
instructions), and weights reduced to 7 bits only on a CPU without VNNI, whose 16-bit
intermediate sums would otherwise saturate. Measured on an AMD EPYC with avx512_vnni, 2 threads:
vgg4_bn's INT8 file 2.8x the float32 file's throughput at batch 64, 3.2x at batch 1 (docs/runtimes.md).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from harness.errors import HarnessError
from harness.export.int8_graph import rewrite_batchnorms
from harness.runtimes.documents import Preprocessing
from harness.runtimes.predict import normalize
from harness.safefile import writer

CALIBRATION_IMAGES = 256
CALIBRATION_BATCH = 32
REWRITE_TOLERANCE = 1e-5  # the rewritten float graph's outputs may differ by this, relative to the largest output
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # /proc/cpuinfo flags of CPUs with an int8 dot product


class Calibration(CalibrationDataReader):
    """Batches of a seeded sample of training images, normalised as in training."""

    def __init__(self, images: np.ndarray, preprocessing: Preprocessing, input_name: str) -> None:
        pick = np.random.default_rng(0).permutation(len(images))[:CALIBRATION_IMAGES]
        self.x = normalize(images[np.sort(pick)], preprocessing)
        self.batches = iter(
            [{input_name: self.x[i : i + CALIBRATION_BATCH]} for i in range(0, len(self.x), CALIBRATION_BATCH)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The first CPU's flags (empty where there is no /proc/cpuinfo: macOS, Windows)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def reduce_range(flags: set[str]) -> bool:
    """Whether to quantize weights to 7 bits: only where the CPU lacks an int8 dot product. Where
    /proc/cpuinfo says nothing (not Linux), the full range: VNNI is on every x86 server since 2019."""
    return bool(flags) and not any(f in flags for f in VNNI_FLAGS)


def _outputs(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the float graph's unused-initializer notes are no news
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


def check_rewrite(before: onnx.ModelProto, after: onnx.ModelProto, x: np.ndarray) -> float:
    """The largest output difference the rewrite made on `x`, relative to the largest output
    (float32 sums in another order differ by a few ulps); raises when it is over REWRITE_TOLERANCE."""
    want, got = _outputs(before, x), _outputs(after, x)
    diff = float(np.abs(want - got).max() / max(1.0, float(np.abs(want).max())))
    if not diff <= REWRITE_TOLERANCE:
        raise HarnessError(
            f"rewriting BatchNormalization for INT8 changed the float model's outputs by {diff:.2g}",
            "export without --quantize int8, and report the architecture: the rewrite should be exact",
        )
    return diff


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
            prepared, rewritten, quantized = (Path(tmp) / f"{n}.onnx" for n in ("prepared", "rewritten", "int8"))
            # shape inference + graph clean-up, as ort advises; it folds a BatchNormalization after a Conv
            quant_pre_process(str(float_path), str(prepared))
            before = onnx.load(str(prepared))
            after, _ = rewrite_batchnorms(before)
            check_rewrite(before, after, reader.x[:CALIBRATION_BATCH])
            onnx.save(after, str(rewritten))
            # into a private folder: the quantizer opens its output by name, and would follow a link there
            quantize_static(
                str(rewritten),
                str(quantized),
                reader,
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                reduce_range=reduce_range(cpu_flags()),
            )
            proto = onnx.load(str(quantized))
    finally:
        root.level = level
    onnx.helper.set_model_props(proto, {**metadata, "quantize": "int8"})
    with writer(out_path, what="INT8 ONNX file") as handle:
        onnx.save(proto, handle)
    return out_path
