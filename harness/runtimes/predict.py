"""Running an exported model with onnxruntime, numpy and Pillow only: never imports torch.

The ONNX file describes itself (metadata_props), so prediction needs no harness registry:
preprocessing, labels and output meaning all come from the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.heads import get_head
from harness.imagefile import read_image
from harness.runtimes.documents import Preprocessing
from harness.runtimes.metadata import checked_metadata, read_metadata
from harness.userfiles import NotRegularFile

__all__ = ["checked_metadata", "normalize", "open_session", "predict_files", "read_metadata"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def open_session(path: str | Path, *, cuda: bool = False, threads: int | None = None) -> Any:
    """An onnxruntime session; a missing, corrupt or non-ONNX file is a one-line HarnessError.

    Its intra-op threads do not spin between runs: spinning threads keep cores busy after each
    run and starve whatever runs next on a small machine (PyTorch's OpenMP threads, in verify).
    `threads` sets the intra-op pool (default: onnxruntime's, one per core)."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise HarnessError(
            f"no model file at {str(path)!r}", "pass the path of an .onnx file written by `harness export`"
        )
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the CUDA fallback is reported by us, not by ort's log
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for every bad file
        reason = str(exc).strip().splitlines()[0][:160]
        raise HarnessError(
            f"{str(path)!r} is not a model onnxruntime can load ({reason})",
            "re-export it with `harness export`",
        ) from None


def normalize(images: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    """uint8 (N, C, H, W) -> float32 (x * scale - mean) / std, as the model was trained."""
    mean = np.asarray(preprocessing["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(preprocessing["std"], dtype=np.float32).reshape(1, -1, 1, 1)
    return ((images.astype(np.float32) * np.float32(preprocessing["scale"]) - mean) / std).astype(np.float32)


def load_image(path: Path, *, shape: tuple[int, int, int]) -> np.ndarray:
    """One image file -> uint8 (C, H, W) in the model's colour mode and size, decoded exactly as
    the training data was."""
    channels, height, width = shape
    return read_image(path, width=width, height=height, grey=channels == 1)


def collect_images(inputs: list[str]) -> list[Path]:
    """Files as given; directories expanded to the image files directly inside them. Nothing is
    opened here: a FIFO or a device named like an image is listed, and reading it (read_image)
    refuses it without blocking."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths += sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
        elif item.exists():
            paths.append(item)
        else:
            raise HarnessError(f"no such file or folder {str(item)!r}", "pass image files or folders of images")
    return paths


def class_probabilities(outputs: np.ndarray, output_kind: str) -> np.ndarray:
    """Model outputs -> (N, classes) probabilities, by the output meaning in the metadata."""
    probabilities = get_head(output_kind).probabilities
    if probabilities is None:
        raise HarnessError(f"a model whose output is {output_kind!r} gives no class probabilities")
    return probabilities(outputs)


@dataclass(frozen=True)
class Prediction:
    path: str
    top: list[tuple[str, float]] | None  # (label, probability), best first; None when skipped
    error: str | None = None


def predict_files(model_path: str | Path, inputs: list[str], *, top_k: int = 1) -> list[Prediction]:
    """Classify image files; unreadable images come back with `error` set instead of raising."""
    session = open_session(model_path)
    meta = checked_metadata(session, model_path)  # a file whose metadata lies gives no answers at all
    head = get_head(meta["output"])
    if not head.classifier:
        raise HarnessError(
            f"{str(model_path)!r} is an {head.label} model, not a classifier",
            f"run it with onnxruntime directly: its output is {head.meaning}",
        )
    channels, height, width = meta["input_shape"]  # checked: three positive sizes
    classes = meta["classes"]
    input_name = session.get_inputs()[0].name
    results: list[Prediction] = []
    paths = collect_images(inputs)
    if not paths:
        raise HarnessError(
            f"no image files in {', '.join(map(repr, inputs))}",
            f"pass image files or folders holding {', '.join(sorted(IMAGE_SUFFIXES))} files",
        )
    for path in paths:
        try:
            image = load_image(path, shape=(channels, height, width))
        except NotRegularFile as exc:
            results.append(Prediction(str(path), None, exc.message.removeprefix(f"image {str(path)!r} is ")))
            continue
        except Exception as exc:  # Pillow raises many types for truncated or non-image files
            results.append(Prediction(str(path), None, f"unreadable image ({type(exc).__name__})"))
            continue
        x = normalize(image[None], meta["preprocessing"])
        probs = class_probabilities(session.run(None, {input_name: x})[0], meta["output"])[0]
        order = np.argsort(-probs)[:top_k]
        results.append(Prediction(str(path), [(classes[i], float(probs[i])) for i in order]))
    return results
