"""Helpers of the JavaScript runtime tests (test_node.py, test_web.py): the runtimes must be
installed (CI runs scripts/install-runtimes first, so a missing one fails, never skips), and
each output kind's file has inputs to compare runtimes on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from harness.runtimes.base import Runtime
from harness.runtimes.webpage import serve

KINDS = ("logits", "single_logit", "image")
FIXTURE = {"logits": "digits_export", "single_logit": "single_logit_export", "image": "upsample_export"}
N = 300  # more than one batch of 256: the runners' batching is part of what is compared


def require(name: str) -> Runtime:
    from harness.runtimes.js import RUNTIMES

    runtime = RUNTIMES[name]
    assert runtime.version() is not None, f"{name} is not installed here: run scripts/install-runtimes (CI does)"
    return runtime


def exported(request: pytest.FixtureRequest, kind: str) -> Path:
    return Path(request.getfixturevalue(FIXTURE[kind]))


def split_inputs(path: Path, data_dir: Path, n: int = N) -> np.ndarray:
    """The first `n` test images of the file's task, normalised by its own metadata; random
    inputs for the untrained one-logit file (its task's photos are not decoded in tests)."""
    from harness.datasets import load_task
    from harness.runtimes.predict import normalize, open_session, read_metadata

    meta = read_metadata(open_session(path))
    if meta["task"] == "cats_vs_dogs":
        return np.random.default_rng(0).standard_normal((n, *meta["input_shape"])).astype(np.float32)
    images = load_task(meta["task"], data_dir).test.images[:n]
    return normalize(images, meta["preprocessing"])


def onnxruntime_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    from harness.runtimes.predict import open_session

    session = open_session(path)
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


def check_run(name: str, path: Path, data_dir: Path, *, provider: str) -> float:
    """The runtime's pass against onnxruntime-python on the same inputs; its batch-1 median (ms)."""
    x = split_inputs(path, data_dir)
    run = require(name).evaluate(path, x, 2)
    expected = onnxruntime_outputs(path, x)
    assert run.outputs.dtype == np.float32 and run.outputs.shape == expected.shape
    assert float(np.abs(run.outputs - expected).max()) <= 1e-4
    assert run.provider.startswith(provider) and run.inference_precision == "f32"
    assert len(run.b1_round_ms) == 7 and all(r > 0 for r in run.b1_round_ms)
    return float(np.median(run.b1_round_ms))


@contextmanager
def open_page(folder: Path) -> Iterator:
    """The page in `folder`, open in headless Chromium over a loopback server, model loaded."""
    from playwright.sync_api import sync_playwright

    from harness.runtimes.base import chromium_path
    from harness.runtimes.js import CHROMIUM_ARGS

    require("onnxruntime-web")
    errors: list[str] = []
    with serve(folder) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{server.url}index.html")
            page.evaluate("window.ready")
            yield page
        finally:
            browser.close()
    assert not errors
