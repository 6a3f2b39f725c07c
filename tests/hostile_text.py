"""Writers and readers for the untrusted-text tests (tests/views/test_hostile_text.py): strings
that would command a terminal or forge markdown, a small real ONNX classifier whose labels and
metadata hold them, and a run of the CLI behind a real pseudo-terminal. (On the test path
through `pythonpath` in pyproject.toml.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from realfiles import ROOT

# The cases of the class, then ours: a right-to-left override that shows "exe.jpg" as
# "gpj.exe"-style lies, a C1 CSI (one byte, no ESC), and rich markup that would make a link.
HOSTILE = {
    "script": '<img src=x onerror="window.pwned=1">',
    "heading": "cat\n## forged heading",
    "title": "\x1b]0;pwned\x07dog",
    "link": "\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\",
    "clear": "\x1b[2Jbird",
    "cursor": "\x1b[3A\x1b[2Kfrog",
    "bidi": "photo\u202egpj.exe",
    "c1": "deer\x9b2J",
    "markup": "[link=https://evil.example]horse[/link]",
}
# What the terminal may receive: rich's own styling (SGR), nothing else that starts with ESC.
SGR = re.compile(r"\x1b\[[0-9;]*m")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def write_model(path: Path, *, classes: list[str], meta: Mapping[str, object], winner: int = 0) -> Path:
    """A real ONNX classifier of 1x8x8 images (flatten, matmul, add) whose logits favour class
    `winner`, with the harness's metadata (JSON values) plus `meta`."""
    n = len(classes)
    weights = numpy_helper.from_array(np.zeros((64, n), np.float32), "w")
    bias = numpy_helper.from_array(np.linspace(2.0, 0.0, n, dtype=np.float32)[np.roll(np.arange(n), winner)], "b")
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["scores"]),
            helper.make_node("Add", ["scores", "b"], ["output"]),
        ],
        "hostile",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", n])],
        initializer=[weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    props = {
        "classes": classes,
        "input_shape": [1, 8, 8],
        "output": "logits",
        "preprocessing": {"scale": 1 / 255, "mean": [0.5], "std": [0.5]},
        **meta,
    }
    helper.set_model_props(model, {k: v if isinstance(v, str) else json.dumps(v) for k, v in props.items()})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def run_in_pty(argv: list[str], *, cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """`python -m harness ARGV` with stdin, stdout and stderr on a real pseudo-terminal (rich sees
    a terminal: colours, live output); returns the exit code and everything the terminal got."""
    master, slave = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "COLUMNS": "240", "LINES": "60"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", *argv], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    code = proc.wait(timeout=timeout)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


def commands_in(output: str) -> list[str]:
    """The control characters a terminal would act on, rich's own styling set aside."""
    return CONTROL.findall(SGR.sub("", output).replace("\r\n", "\n"))
