"""The static web page that runs an exported file in the browser with onnxruntime-web (WASM).

`write_page` puts everything the page needs into one folder: index.html, app.js (which reads
the model's classes, input shape, preprocessing and output kind from the .onnx file's own
metadata_props), the model, and the few onnxruntime-web files of its WASM backend. Served from
that folder (`python -m http.server`), it works offline. `serve` is the loopback server that
`harness verify --runtime onnxruntime-web` drives the same page through.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.paths import safe_name
from harness.safefile import copy_file, refuse_links, subfolder, write_bytes

PAGE_FILES = ("index.html", "app.js", "onnxmeta.js")  # harness/runtimes/web/
# The WASM backend only: the ES-module bundle (the Emscripten glue inside it) and the SIMD +
# threads binary, about 14 MB; onnxruntime-web's other files are WebGL/WebGPU/JSPI builds.
ORT_WEB_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")
MODEL_NAME = "model.onnx"
ORT_WEB_HINT = "run scripts/install-runtimes, or pass --ort-web DIR (the dist folder of an onnxruntime-web package)"


def ort_web_dist(ort_web_dir: str | Path | None = None) -> Path:
    """The folder to copy onnxruntime-web's files from: `ort_web_dir`, else the npm folder's."""
    from harness.runtimes.base import npm_dir

    folder = Path(ort_web_dir).expanduser() if ort_web_dir else npm_dir() / "node_modules" / "onnxruntime-web" / "dist"
    missing = [name for name in ORT_WEB_FILES if not (folder / name).is_file()]
    if missing:
        where = "--ort-web folder" if ort_web_dir else "onnxruntime-web folder"
        raise HarnessError(f"no {', '.join(missing)} in the {where} {str(folder)!r}", ORT_WEB_HINT)
    return folder


def write_page(model_path: str | Path, out_dir: str | Path, *, ort_web_dir: str | Path | None = None) -> Path:
    """Write the page for one model into `out_dir` (created); returns its index.html. Every
    name is checked before the first file is written: a link or a folder at any of them, or
    `out_dir` being the model's own folder, is refused and leaves the folder as it was."""
    from harness.runtimes.predict import checked_metadata, open_session

    model_path, out = Path(model_path), Path(out_dir)
    # A file whose metadata is missing or lies would give a page that answers wrongly: refuse it here.
    checked_metadata(open_session(model_path), model_path)
    dist = ort_web_dist(ort_web_dir)
    out.mkdir(parents=True, exist_ok=True)
    if out.samefile(model_path.parent):  # `harness web page/model.onnx page` would copy the model over itself
        raise HarnessError(
            f"the page folder {str(out_dir)!r} is the folder of the model {str(model_path)!r}",
            "pass another folder for the page: the model is copied into it, beside the page's files",
        )
    refuse_links((out / name for name in (*PAGE_FILES, *ORT_WEB_FILES, MODEL_NAME)), what="page file")
    web = files("harness.runtimes") / "web"
    for name in PAGE_FILES:
        write_bytes(out / name, (web / name).read_bytes(), what="page file")
    for name in ORT_WEB_FILES:
        copy_file(dist / name, out / name, what="page file")
    copy_file(model_path, out / MODEL_NAME, what="page file")
    return out / "index.html"


def web_dirs(model_paths: list[Path], out: Path) -> list[tuple[Path, Path]]:
    """`harness export --web DIR`: (model, page folder) pairs, a subfolder per file when there
    are several (named after the file, reduced to a safe name; a link there is refused)."""
    if len(model_paths) == 1:
        return [(model_paths[0], out)]
    return [(path, subfolder(out, safe_name(path.stem), what="page folder")) for path in model_paths]


# ----------------------------------------------------------------------------- loopback server


@dataclass
class PageServer:
    url: str  # http://127.0.0.1:PORT/
    posted: dict[str, bytes] = field(default_factory=dict)  # what the page POSTed, by file name


def _handler(folder: Path, server: PageServer) -> type[SimpleHTTPRequestHandler]:
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def end_headers(self) -> None:
            # Cross-origin isolation: without it there is no SharedArrayBuffer, and
            # onnxruntime-web falls back to one WASM thread.
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cache-Control", "no-store")
            super().end_headers()

        def do_POST(self) -> None:  # the page's outputs, as raw bytes
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            server.posted[self.path.lstrip("/").split("?")[0]] = body
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the page's requests are ours
            pass

    return Handler


@contextmanager
def serve(folder: Path) -> Iterator[PageServer]:
    """Serve `folder` on 127.0.0.1 (an ephemeral port) from a thread, with COOP/COEP headers."""
    state = PageServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(folder, state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, name="harness-page-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
