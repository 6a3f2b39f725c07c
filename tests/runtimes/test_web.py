"""onnxruntime-web: the runtime of `harness verify --runtime onnxruntime-web`, and the page
`harness web` writes, in real headless Chromium (Playwright driving the system's Chromium)
served over a loopback HTTP server, against onnxruntime-python and `harness predict`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from jsmodels import KINDS, check_run, exported, onnxruntime_outputs, open_page
from PIL import Image

from harness.cli.main import main
from harness.runtimes.webpage import ORT_WEB_FILES, web_dirs


@pytest.mark.ray  # the exported files come from sweeps (fixtures looked up by kind)
@pytest.mark.parametrize("kind", KINDS)
def test_web_runtime_matches_onnxruntime(kind, request, shared_data):
    median = check_run("onnxruntime-web", exported(request, kind), shared_data, provider="wasm")
    print(f"\nonnxruntime-web {kind}: batch-1 median {median:.3f} ms")


def _write_page(model: Path, folder: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["web", str(model), str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and f"wrote {folder / 'index.html'}" in out and "http.server" in out
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["index.html", "app.js", "onnxmeta.js", "model.onnx", *ORT_WEB_FILES]
    )


@pytest.mark.slow
def test_page_classifies_as_harness_predict(cifar10_export, shared_data, tmp_path, capsys):
    """The acceptance: 20 CIFAR-10 test images (PNG, 32x32) classified in the page give the
    top-1 labels `harness predict --json` gives for the same files."""
    from harness.datasets import load_task

    folder = tmp_path / "page"
    _write_page(cifar10_export, folder, capsys)
    images = load_task("cifar10", shared_data).test.images[:20]
    names = [f"test{i:02d}.png" for i in range(len(images))]
    for name, image in zip(names, images):
        Image.fromarray(image.transpose(1, 2, 0)).save(folder / name)
    assert main(["predict", str(cifar10_export), *(str(folder / n) for n in names), "--top", "5", "--json"]) == 0
    theirs = json.loads(capsys.readouterr().out)
    with open_page(folder) as page:
        ours = [page.evaluate("(url) => window.classify(url)", name) for name in names]
    assert [p["path"] for p in ours] == names and all(p["error"] is None and len(p["top"]) == 5 for p in ours)
    assert [p["top"][0][0] for p in ours] == [p["top"][0][0] for p in theirs]
    assert np.allclose([p["top"][0][1] for p in ours], [p["top"][0][1] for p in theirs], atol=1e-5, rtol=0)


def test_page_runs_the_upsampling_model(upsample_export, shared_data, tmp_path, capsys):
    """window.run on 20 upsampling test inputs (uint8 7x7, as the split stores them) gives
    onnxruntime's outputs; window.classify refuses an image model."""
    from harness.datasets import load_task
    from harness.runtimes.predict import normalize, open_session, read_metadata

    folder = tmp_path / "page"
    _write_page(upsample_export, folder, capsys)
    inputs = load_task("mnist_upsample", shared_data).test.images[:20]
    expected = onnxruntime_outputs(
        upsample_export, normalize(inputs, read_metadata(open_session(upsample_export))["preprocessing"])
    )
    with open_page(folder) as page:
        ours = [page.evaluate("(x) => window.run(x)", x.tolist()) for x in inputs]  # nested (C, H, W)
        flat = page.evaluate("(x) => window.run(x)", inputs[0].ravel().tolist())
        with pytest.raises(Exception, match="use window.run"):
            page.evaluate("window.classify('model.onnx')")
    assert all(o["shape"] == [1, 28, 28] for o in ours) and flat == ours[0]
    got = np.asarray([o["pixels"] for o in ours], dtype=np.float32).reshape(expected.shape)
    assert float(np.abs(got - expected).max()) <= 1e-3


def test_page_reads_the_metadata_from_the_file(digits_export, digit_images, tmp_path, capsys):
    """The page's classes and preprocessing come from the .onnx file itself (its
    metadata_props, parsed in the page); an image already at the input size is used as it is."""
    folder = tmp_path / "page"
    _write_page(digits_export, folder, capsys)
    images, _ = digit_images
    for png in sorted(images.glob("digit*.png")):
        (folder / png.name).write_bytes(png.read_bytes())
    names = sorted(p.name for p in folder.glob("digit*.png"))
    assert main(["predict", str(digits_export), *(str(folder / n) for n in names), "--top", "3", "--json"]) == 0
    theirs = json.loads(capsys.readouterr().out)
    with open_page(folder) as page:
        meta = page.evaluate("window.ready")
        ours = [page.evaluate("(url) => window.classify(url, 3)", n) for n in names]
        broken = page.evaluate("window.classify('no-such.png')")
    assert meta["classes"] == [str(d) for d in range(10)] and meta["inputShape"] == [1, 8, 8]
    assert meta["output"] == "logits" and meta["preprocessing"]["std"] == [0.375]
    for a, b in zip(ours, theirs):
        assert [label for label, _ in a["top"]] == [label for label, _ in b["top"]]
        assert np.allclose([p for _, p in a["top"]], [p for _, p in b["top"]], atol=1e-5, rtol=0)
    assert broken["top"] is None and broken["error"].startswith("unreadable image")


def test_missing_ort_web_is_one_line(digits_export, tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("HARNESS_NPM_DIR", str(empty))  # no npm packages there either
    for argv, names in (
        (["web", str(digits_export), str(tmp_path / "a"), "--ort-web", str(empty)], "--ort-web folder"),
        (["web", str(digits_export), str(tmp_path / "b")], "scripts/install-runtimes"),
    ):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and names in err and "ort.wasm.bundle.min.mjs" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_export_writes_theopen_page(swept_copy, tmp_path, capsys):
    web = tmp_path / "web"
    capsys.readouterr()
    assert (
        main(["export", "--task", "digits", "--results", str(swept_copy), "--format", "json", "--web", str(web)]) == 0
    )
    captured = capsys.readouterr()
    (result,) = json.loads(captured.out)  # stdout stays the JSON; the page's line goes to stderr
    assert f"wrote {web / 'index.html'}" in captured.err
    assert (web / "model.onnx").read_bytes() == Path(result["path"]).read_bytes()
    assert web_dirs([Path("x/a.onnx"), Path("x/b.onnx")], web) == [
        (Path("x/a.onnx"), web / "a"),
        (Path("x/b.onnx"), web / "b"),
    ]
