"""Hostile input, class 4 (issue 26): metadata checks without holes. What a file's metadata says
is checked as it will be computed: preprocessing in float32, a declared input size against a
bound before anything of that size exists, the channels against what the graph can take, and
an output size the graph leaves open against the class names, learnt from one run. Every case:
exit code 2, one line, no traceback, nothing on stdout; JSON, when there is any, is strict.
Real ONNX files (tests/onnxfiles.py), real onnxruntime, real PNG files."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hostile import refused
from onnx import TensorProto
from onnxfiles import write_classifier
from PIL import Image

from harness.cli.main import main
from harness.views.console import print_json


def _strict(text: str) -> object:
    """JSON as a strict parser reads it: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> object:
        raise AssertionError(f"{constant} in the JSON output")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def images(tmp_path) -> Path:
    """Three grey PNGs (a dark, a mid and a light one): what every case is asked to classify."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i, level in enumerate((20, 128, 240)):
        Image.fromarray(np.full((8, 8), level, dtype=np.uint8)).save(folder / f"grey{i}.png")
    return folder


def _predict_refused(capsys, model: Path, images: Path, *flags: str) -> str:
    """Refused the same way as a table and as JSON; the line of the JSON run."""
    refused(capsys, ["predict", str(model), str(images), *flags])
    return refused(capsys, ["predict", str(model), str(images), "--json", *flags])


PREPROCESSING = [
    # the case: finite in float64, inf and 0 in float32 (NaN answers, invalid JSON)
    ({"scale": 1 / 255, "mean": [1e308], "std": [1e-308]}, "is not finite and positive in float32"),
    ({"scale": 1 / 255, "mean": [0.5], "std": [1e-46]}, "is not finite and positive in float32"),
    ({"scale": 1e-50, "mean": [0.5], "std": [0.25]}, "is not finite and positive in float32"),
    # a std float32 holds (a subnormal) whose quotient it does not: (1 - 0) / 1e-39 overflows
    ({"scale": 1 / 255, "mean": [0.0], "std": [1e-39]}, "takes pixels beyond float32's range"),
    # ours: a mean so large that float32 rounds black and white to one input (every image one answer)
    ({"scale": 1 / 255, "mean": [1e10], "std": [1.0]}, "gives black and white pixels the same input"),
    ({"scale": 1 / 255, "mean": [0.5], "std": [-0.25]}, "a zero std or a scale <= 0"),
]


@pytest.mark.parametrize(("preprocessing", "expected"), PREPROCESSING)
def test_preprocessing_float32_cannot_compute_is_refused(tmp_path, images, capsys, preprocessing, expected):
    model = write_classifier(tmp_path / "m.onnx", preprocessing=preprocessing)
    assert expected in _predict_refused(capsys, model, images)


@pytest.mark.parametrize("top", ["1", "3", "12"])
def test_an_undeclared_output_longer_than_the_classes_is_refused_at_any_top(tmp_path, images, capsys, top):
    """The graph's output is (N, "K"): 12 values a run, 10 class names. --top 1 used to answer in
    silence (an index past the names never came first) and --top 3 to fail with a traceback."""
    model = write_classifier(tmp_path / "m.onnx", outputs=12, graph_output=["N", "K"], classes=list("abcdefghij"))
    err = _predict_refused(capsys, model, images, "--top", top)
    assert "10 classes (logits) need outputs (batch, 10), a run gave [1, 12]" in err


def test_an_undeclared_output_of_the_right_size_answers(tmp_path, images, capsys):
    """The probe refuses liars only: a graph that leaves its sizes open and keeps its word answers."""
    model = write_classifier(tmp_path / "m.onnx", graph_input=["N", "C", "H", "W"], graph_output=["N", "K"])
    capsys.readouterr()
    assert main(["predict", str(model), str(images), "--json", "--top", "10"]) == 0
    answers = _strict(capsys.readouterr().out)
    assert isinstance(answers, list) and len(answers) == 3
    assert all(abs(sum(p for _, p in a["top"]) - 1) < 1e-5 for a in answers)


@pytest.mark.parametrize(
    ("input_shape", "expected"),
    [
        ([1, 60000, 60000], "is not 1 or 3 channels of at most 4096 x 4096 pixels"),  # the issue's
        ([3, 8, 100000], "is not 1 or 3 channels of at most 4096 x 4096 pixels"),  # ours: one long side
        ([4, 8, 8], "is not 1 or 3 channels"),  # an image file decodes to grey or RGB only
    ],
)
def test_a_declared_input_beyond_the_bound_is_refused_before_any_allocation(
    tmp_path, images, capsys, input_shape, expected
):
    """A file of a few KB whose graph leaves height and width open declares a huge input: it is
    refused from the metadata alone (60000 x 60000 float32 would be 13 GiB per channel)."""
    model = write_classifier(tmp_path / "m.onnx", graph_input=["N", "C", "H", "W"], input_shape=input_shape)
    assert model.stat().st_size < 4096
    tracemalloc.start()
    try:
        err = _predict_refused(capsys, model, images)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert expected in err and peak < 64 * 2**20, peak


def test_channels_the_graph_cannot_take_are_one_line(tmp_path, images, capsys):
    """Metadata says grey; the graph leaves its channels open but its first layer takes 3. The
    probe run finds it before any image is read, as one line, not onnxruntime's traceback."""
    model = write_classifier(tmp_path / "m.onnx", channels=3, graph_input=["N", "C", 8, 8], input_shape=[1, 8, 8])
    err = _predict_refused(capsys, model, images)
    assert "fails on an input of its declared shape [1, 1, 8, 8]" in err
    # and where the graph declares its channels, the metadata is held to them without a run
    declared = write_classifier(tmp_path / "d.onnx", channels=3, graph_input=["N", 3, 8, 8])
    assert "input_shape says [1, 8, 8], the graph takes ['N', 3, 8, 8]" in _predict_refused(capsys, declared, images)


def test_a_graph_that_takes_no_floats_is_refused(tmp_path, images, capsys):
    """Ours: preprocessing gives float32; a graph taking integers would fail at run time."""
    model = write_classifier(tmp_path / "m.onnx", input_type=TensorProto.INT64)
    assert "the graph takes tensor(int64), not the tensor(float)" in _predict_refused(capsys, model, images)


def test_nan_weights_are_one_line_never_nan_json(tmp_path, images, capsys):
    """Ours: honest metadata, broken weights: the probabilities are NaN. predict says so in one
    line; it never prints NaN as if it were JSON."""
    weights = np.full((10, 1, 1, 1), np.nan, dtype=np.float32)
    model = write_classifier(tmp_path / "m.onnx", weights=weights)
    assert "gave a non-finite output (NaN or infinity) for" in _predict_refused(capsys, model, images)


def test_json_output_never_carries_nan(capsys):
    """The last guard for every command's --format json: a NaN or an infinity anywhere (a
    diverged trial's loss on a board) is written as null, which a strict parser reads."""
    print_json([{"top": [["a", 0.5]]}, {"top": [["b", float("nan")]], "loss": float("-inf")}])
    assert _strict(capsys.readouterr().out) == [{"top": [["a", 0.5]]}, {"top": [["b", None]], "loss": None}]
