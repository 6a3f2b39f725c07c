"""onnxruntime-node: the runtime of `harness verify --runtime onnxruntime-node` and the Node
example (examples/node/predict.mjs), against onnxruntime-python and `harness predict`. Real
node, real onnxruntime-node from the npm folder scripts/install-runtimes fills."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from jsmodels import KINDS, check_run, exported, require
from PIL import Image
from realfiles import ROOT

from harness.cli.main import main
from harness.errors import HarnessError

EXAMPLE = ROOT / "examples" / "node" / "predict.mjs"


@pytest.mark.ray  # the exported files come from sweeps (fixtures looked up by kind)
@pytest.mark.parametrize("kind", KINDS)
def test_node_runtime_matches_onnxruntime(kind, request, shared_data):
    median = check_run("onnxruntime-node", exported(request, kind), shared_data, provider="cpu")
    print(f"\nonnxruntime-node {kind}: batch-1 median {median:.3f} ms")


def test_node_failure_is_one_line(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 50)
    with pytest.raises(HarnessError) as caught:
        require("onnxruntime-node").evaluate(bad, np.zeros((2, 1, 8, 8), np.float32), 1)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("onnxruntime-node could not run bad.onnx: ")
    assert "Protobuf parsing failed" in message  # node's own first line, not a stack trace


def _node_example(model: Path, images: list[Path], top: int) -> list[dict]:
    from harness.runtimes.base import npm_dir

    require("onnxruntime-node")
    env = {**os.environ, "NODE_PATH": str(npm_dir() / "node_modules")}
    argv = [shutil.which("node") or "node", str(EXAMPLE), str(model), *map(str, images), "--top", str(top)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _harness_predict(model: Path, images: list[Path], top: int, capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["predict", str(model), *map(str, images), "--top", str(top), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_node_example_matches_harness_predict(digits_export, single_logit_export, digit_images, tmp_path, capsys):
    folder, _ = digit_images
    digits = sorted(folder.glob("digit*.png"))  # grey 8x8 test digits
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 4), dtype=np.uint8)
    photos = []  # the one-logit model (RGB): a PNG of every colour type, transparency on white
    for mode in ("RGB", "RGBA", "L", "LA", "P"):
        image = Image.fromarray(pixels[..., :3]).quantize() if mode == "P" else Image.fromarray(pixels).convert(mode)
        image.save(tmp_path / f"photo-{mode}.png")
        photos.append(tmp_path / f"photo-{mode}.png")
    for model, images in ((digits_export, digits), (single_logit_export, photos)):
        ours = _node_example(model, images, top=3)
        theirs = _harness_predict(model, images, top=3, capsys=capsys)
        assert [p["path"] for p in ours] == [p["path"] for p in theirs]
        for a, b in zip(ours, theirs):
            assert a["error"] is None and b["error"] is None
            assert [label for label, _ in a["top"]] == [label for label, _ in b["top"]]
            assert np.allclose([p for _, p in a["top"]], [p for _, p in b["top"]], atol=1e-5, rtol=0)


def test_node_example_refuses_other_sizes_per_image(digits_export, tmp_path):
    Image.new("RGB", (40, 30)).save(tmp_path / "big.png")
    (result,) = _node_example(digits_export, [tmp_path / "big.png"], top=1)
    assert result["top"] is None and "the model takes 8x8" in result["error"]
