"""The runtimes outside Python: onnxruntime-node (Node.js) and onnxruntime-web (WASM in
headless Chromium, driven by Playwright). Each runs in a process of its own; inputs and
outputs cross as raw float32 files (the browser posts its outputs back to the loopback server
that served it the page).

Where they come from: `scripts/install-runtimes` puts both npm packages into one folder,
$HARNESS_NPM_DIR (default ~/.cache/harness/npm), and Chromium and Node.js on the system.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.runtimes.base import (
    JS_HINT,
    LATENCY_ROUNDS,
    Runtime,
    RuntimeRun,
    chromium_path,
    node_path,
    npm_dir,
    npm_version,
)

NODE_TIMEOUT_S = 1800  # a whole split and the latency rounds; a hung process must not hang verify
BROWSER_TIMEOUT_S = 1800
CHROMIUM_ARGS = [  # headless, offline, as root in a container (no sandbox there), no GPU process
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:200] if lines else "no message"


def _check_rounds(name: str, rounds: Any) -> list[float]:
    if not (isinstance(rounds, list) and len(rounds) == LATENCY_ROUNDS and all(r > 0 for r in rounds)):
        raise HarnessError(f"{name} reported latency rounds {rounds!r}", "report this with the model file")
    return [float(r) for r in rounds]


def _read_outputs(name: str, raw: bytes, shape: list[int], n: int) -> np.ndarray:
    outputs = np.frombuffer(raw, dtype="<f4")
    if not shape or shape[0] != n or outputs.size != int(np.prod(shape)):
        raise HarnessError(
            f"{name} returned {outputs.size} floats for the shape {shape}, not one row per input ({n})",
            "report this with the model file",
        )
    return outputs.reshape(shape).astype(np.float32)  # a copy: frombuffer's array is read-only


# ---------------------------------------------------------------------------------------- Node


def _node_version() -> str | None:
    return npm_version("onnxruntime-node") if node_path() else None


def _node(path: Path, x: np.ndarray, threads: int) -> RuntimeRun:
    node = node_path()
    if node is None or npm_version("onnxruntime-node") is None:
        raise HarnessError(f"onnxruntime-node is not installed in {npm_dir()} (or node is not on PATH)", JS_HINT)
    runner = files("harness.runtimes") / "js" / "node_runner.mjs"
    x = np.ascontiguousarray(x, dtype="<f4")
    with tempfile.TemporaryDirectory(prefix="harness-node-") as tmp:
        x_path, out_path = Path(tmp) / "x.f32", Path(tmp) / "out.f32"
        x.tofile(x_path)
        argv = [node, str(runner), str(npm_dir()), str(path), str(x_path), ",".join(map(str, x.shape))]
        proc = subprocess.run(
            [*argv, str(threads), str(out_path)], capture_output=True, text=True, timeout=NODE_TIMEOUT_S
        )
        if proc.returncode != 0:
            raise HarnessError(
                f"onnxruntime-node could not run {path.name}: {_first_line(proc.stderr)}",
                "the row shows onnxruntime-node failed on this file; `node` runs harness/runtimes/js/node_runner.mjs",
            )
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        outputs = _read_outputs("onnxruntime-node", out_path.read_bytes(), report["shape"], len(x))
    return RuntimeRun(
        outputs=outputs,
        provider=str(report["provider"]),
        inference_precision="f32",
        b1_round_ms=_check_rounds("onnxruntime-node", report["rounds"]),
    )


# ------------------------------------------------------------------------------------- browser


def _playwright_installed() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except Exception:  # a broken install is as good as none
        return False
    return True


def _web_version() -> str | None:
    if chromium_path() is None or not _playwright_installed():
        return None
    return npm_version("onnxruntime-web")


def _web(path: Path, x: np.ndarray, threads: int) -> RuntimeRun:
    from harness.runtimes.webpage import serve, write_page

    chromium = chromium_path()
    if chromium is None or not _playwright_installed():
        raise HarnessError("onnxruntime-web needs Chromium and Python's playwright", JS_HINT)
    x = np.ascontiguousarray(x, dtype="<f4")
    with tempfile.TemporaryDirectory(prefix="harness-web-") as tmp:
        folder = Path(tmp)
        write_page(path, folder)
        x.tofile(folder / "x.f32")
        with serve(folder) as server:
            report, errors = _drive_page(chromium, f"{server.url}index.html?threads={threads}", list(x.shape))
            posted = server.posted.get("out.f32")
        if report is None or posted is None:
            raise HarnessError(
                f"onnxruntime-web could not run {path.name}: {_first_line(errors or 'the page gave no outputs')}",
                "the row shows onnxruntime-web failed on this file; `harness web` writes the same page to try",
            )
        outputs = _read_outputs("onnxruntime-web", posted, report["shape"], len(x))
    provider = "wasm" if report["threads"] == 1 else f"wasm ({report['threads']} threads)"
    return RuntimeRun(
        outputs=outputs,
        provider=provider,
        inference_precision="f32",
        b1_round_ms=_check_rounds("onnxruntime-web", report["rounds"]),
    )


def _drive_page(chromium: str, url: str, shape: list[int]) -> tuple[dict[str, Any] | None, str]:
    """Open the page headless, score the split in it; (its report or None, its first error)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(BROWSER_TIMEOUT_S * 1000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url)
            report = page.evaluate("(shape) => window.evaluateSplit('x.f32', shape)", shape)
        except PlaywrightError as exc:  # the page's own exception, or the browser gone
            return None, (errors or [str(exc).removeprefix("Page.evaluate: ").removeprefix("Error: ")])[0]
        finally:
            browser.close()
    return report, "\n".join(errors)


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime(
            "onnxruntime-node",
            JS_HINT,
            _node_version,
            _node,
            about="onnxruntime-node: Node.js, the CPU binding, intra-op threads as the other rows",
        ),
        Runtime(
            "onnxruntime-web",
            JS_HINT,
            _web_version,
            _web,
            about="onnxruntime-web: WASM (SIMD, threads as the other rows) in headless Chromium",
        ),
    )
}
