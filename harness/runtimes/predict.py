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
from harness.imagefile import UnreadableImage, read_image
from harness.runtimes.metadata import checked_metadata, normalize, output_problem, read_metadata, run_model

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
    with np.errstate(all="ignore"):  # a NaN or infinite output is refused by the caller, not warned about
        return probabilities(outputs)


@dataclass(frozen=True)
class Prediction:
    path: str
    top: list[tuple[str, float]] | None  # (label, probability), best first; None when skipped
    error: str | None = None


def predict_files(model_path: str | Path, inputs: list[str], *, top_k: int = 1) -> list[Prediction]:
    """Classify image files; unreadable images come back with `error` set instead of raising,
    unless no file at all is readable. Every answer is checked: an output of the wrong size or a
    NaN probability is a one-line error, never an answer."""
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
        except UnreadableImage as exc:  # skipped and reported, as training skips and counts it
            results.append(Prediction(str(path), None, f"unreadable image: {exc.message.removeprefix(f'{path}: ')}"))
            continue
        outputs = run_model(session, normalize(image[None], meta["preprocessing"]), path=model_path)
        # Checked on every run, not only the first: a graph's output size may depend on its input.
        problem = output_problem(meta, outputs.shape)
        if problem:
            raise HarnessError(
                f"{str(model_path)!r}: its metadata contradicts its graph: {problem} for {path}",
                "re-export the model with `harness export`; as it is, its answers cannot be trusted",
            )
        probs = class_probabilities(outputs, meta["output"])[0]
        if not np.isfinite(probs).all():
            raise HarnessError(
                f"{str(model_path)!r} gave a non-finite output (NaN or infinity) for {path}",
                "its weights or its preprocessing are broken: re-export the model with `harness export`",
            )
        order = np.argsort(-probs)[:top_k]
        results.append(Prediction(str(path), [(classes[i], float(probs[i])) for i in order]))
    if all(r.error for r in results):
        raise HarnessError(
            f"none of the {len(results)} image file(s) is readable; {results[0].path}: {results[0].error}",
            "pass whole image files",
        )
    return results
