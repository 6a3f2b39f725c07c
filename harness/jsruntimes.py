"""The runtimes outside Python: onnxruntime-node (Node.js) and onnxruntime-web (WASM in
headless Chromium, driven by Playwright). Each runs in a process of its own; inputs and
outputs cross as raw float32 files.

Placeholder: both report "not installed" until they are implemented.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.runtimes import JS_HINT, Runtime, RuntimeRun


def _missing(path: Path, x: np.ndarray, threads: int) -> RuntimeRun:
    raise NotImplementedError


RUNTIMES: dict[str, Runtime] = {
    name: Runtime(name, JS_HINT, lambda: None, _missing) for name in ("onnxruntime-node", "onnxruntime-web")
}
