"""Shared fixtures: one Ray instance for the whole session (Ray takes ~7 s to start) and one
real default sweep (1 epoch) whose store several tests read."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from realfiles import SHARED_DATA

from harness.cli.main import main

# Set before Ray starts so that trial processes inherit them: tests never download anything,
# and decoded caches go to a folder of this session's own, not the user's ~/.cache.
os.environ["HARNESS_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"  # timm's and datasets' Hub: read when they are first imported
os.environ["HARNESS_CACHE_DIR"] = tempfile.mkdtemp(prefix="harness-cache-")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real datasets kept beside the project (CI has them too): these tests never skip."""
    assert SHARED_DATA.is_dir(), (
        f"{SHARED_DATA} is missing: set HARNESS_DATA_DIR to the real datasets, or put them at ../shared/data"
    )
    return SHARED_DATA


@pytest.fixture(scope="session")
def ray_session():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def fake_gpu_cluster():
    """The address of a Ray cluster of this session's own with 4 CPUs and 2 fake GPUs (Ray's
    bookkeeping only; tests/raycluster.py): sweeps join it as subprocesses with `--address`,
    with HARNESS_FAKE_CUDA=1 when their trials should train on the CPU as if on the GPU."""
    from raycluster import fake_gpu_cluster as cluster

    with cluster(cpus=4, gpus=2) as address:
        yield address


@pytest.fixture(scope="session")
def swept(ray_session, tmp_path_factory) -> Path:
    """A results folder holding the default digits sweep (2 x 2 x 2 grid), 2 epochs, exported and verified."""
    results = tmp_path_factory.mktemp("swept")
    code = main(["sweep", "--epochs", "2", "--results", str(results), "--no-live"])
    assert code == 0
    return results


@pytest.fixture
def swept_copy(swept, tmp_path) -> Path:
    """A private copy of the swept results, for tests that write or must prove nothing changed."""
    target = tmp_path / "results"
    shutil.copytree(swept, target, ignore=shutil.ignore_patterns("ray"))
    return target


@pytest.fixture
def digit_images(tmp_path):
    """Six digits test images as PNG files, a truncated PNG and a note; with their labels."""
    from PIL import Image

    from harness.datasets import load_task

    test = load_task("digits").test
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(test.images[i, 0]).save(folder / f"digit{i}.png")
    (folder / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    (folder / "notes.txt").write_text("not an image, ignored")
    return folder, test.labels[:6]


# The fixtures that start Ray (about 7 s): a test that uses one, directly or through another
# fixture, is marked `ray`, so `-m "not ray"` is a quick loop without Ray. A test that starts
# Ray itself (a `harness sweep` in-process or in a subprocess) carries the marker in its module.
RAY_FIXTURES = frozenset({"ray_session", "fake_gpu_cluster"})


def pytest_collection_modifyitems(config, items):
    """Mark the tests that need Ray; `bench_large` tests (minutes each) run only when -m names
    them: plain `pytest` (CI) and `-m bench` leave them out."""
    for item in items:
        if RAY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.ray)
    if "bench_large" in (config.option.markexpr or ""):
        return
    kept = [item for item in items if "bench_large" not in item.keywords]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if "bench_large" in item.keywords])
        items[:] = kept


# ------------------------------------------------- exported files of each output kind (JS runtimes)


def _swept_export(results: Path, *flags: str) -> Path:
    """A 1-epoch sweep of one trial, exported and verified; the exported file's path."""
    from harness.store.db import Store

    assert main(["sweep", *flags, "--epochs", "1", "--results", str(results), "--no-live"]) == 0
    with Store.existing(results) as store:
        (row,) = store._rows("SELECT path FROM exports")
    return Path(row["path"])


@pytest.fixture(scope="session")
def digits_export(swept) -> Path:
    """A trained digits classifier (logits, 1x8x8) of the shared default sweep."""
    from harness.store.db import Store

    with Store.existing(swept) as store:
        return Path(store._rows("SELECT path FROM exports")[0]["path"])


@pytest.fixture(scope="session")
def cifar10_export(ray_session, tmp_path_factory, shared_data) -> Path:
    """A trained CIFAR-10 classifier (logits, 3x32x32): cnn_small, 1 epoch on 2,000 images
    (about 1 min here, most of it the verification on the 10,000 test images: `slow` tests only)."""
    flags = ["--task", "cifar10", "--arch", "cnn_small", "--optimizer", "adam", "--lr", "0.001"]
    return _swept_export(
        tmp_path_factory.mktemp("cifar10"),
        *flags,
        *["--batch-size", "64", "--train-limit", "2000", "--data-dir", str(shared_data)],
    )


# Small real models of the three output kinds, trained 1 epoch each into one results folder and
# exported by one `harness export --runtime all` (every runtime on each file's whole test split):
# test_runtimes.py reads the matrices the store kept, the JS tests use the files.
KINDS_SWEEPS = {
    "logits": ["--task", "digits", "--arch", "cnn_small", "--lr", "0.01"],
    "single_logit": ["--task", "cats_vs_dogs", "--arch", "keras_cnn2", "--image-size", "64", "--lr", "0.001"],
    "image": ["--task", "mnist_upsample", "--arch", "espcn", "--lr", "0.01", "--train-limit", "1024"],
}


def _photo_subset(shared_data: Path, data: Path, *, train: int, test: int) -> None:
    """Real photos of the shared cats-vs-dogs set, fewer of them: a test split of 2 x `test`."""
    for split, n in (("training_set", train), ("test_set", test)):
        for plural in ("cats", "dogs"):
            target = data / "cats_vs_dogs" / split / plural
            target.mkdir(parents=True)
            for photo in sorted((shared_data / "cats_vs_dogs" / split / plural).iterdir())[:n]:
                shutil.copy(photo, target)


@pytest.fixture(scope="session")
def kinds_exported(ray_session, tmp_path_factory, shared_data) -> dict[str, Any]:
    """{"results": the folder, "code": export's exit code, kind: the exported file, ...}: one
    trained model per output kind (digits; cats vs dogs on 128 real photos, tested on 40; the
    upsampling task on 1,024 digits, tested on MNIST's 10,000)."""
    from harness.store.db import Store

    root = tmp_path_factory.mktemp("kinds")
    data, results = root / "data", root / "results"
    _photo_subset(shared_data, data, train=64, test=20)
    (data / "mnist").symlink_to(shared_data / "mnist")
    for flags in KINDS_SWEEPS.values():
        reads = [] if flags[1] == "digits" else ["--data-dir", str(data)]  # digits is scikit-learn's own
        common = ["--optimizer", "adam", "--epochs", "1", "--batch-size", "32", *reads]
        assert main(["sweep", *flags, *common, "--results", str(results), "--no-live", "--no-export"]) == 0
    out: dict[str, Any] = {"results": results, "data": data}
    out["code"] = main(["export", "--results", str(results), "--runtime", "all", "--format", "json"])
    with Store.existing(results) as store:
        for export in store._rows("SELECT path, details_json FROM exports ORDER BY id"):
            out[json.loads(export["details_json"])["gate"]] = Path(export["path"])
    return out


@pytest.fixture(scope="session")
def upsample_export(kinds_exported) -> Path:
    """A trained upsampling model (an image output, 1x7x7 -> 1x28x28): espcn, 1 epoch on 1,024 digits."""
    return Path(kinds_exported["image"])


@pytest.fixture(scope="session")
def single_logit_export(kinds_exported) -> Path:
    """A trained cats-vs-dogs one-logit model (keras_cnn2, 3x64x64), 1 epoch on 128 real photos."""
    return Path(kinds_exported["single_logit"])


# ------------------------------------------------- users' plugins


@pytest.fixture
def registries_restored():
    """What a test's plugins register is gone after it: the registries are the process's."""
    from harness import plugins
    from harness.architectures import _registry as archs
    from harness.datasets import _registry as tasks

    tables = (archs._ARCHS, archs._RESOLVED, tasks._TASKS, tasks._RESOLVED, plugins._LOADED)
    saved = [dict(t) for t in tables]
    modules = set(sys.modules)
    yield
    for table, before in zip(tables, saved):
        table.clear()
        table.update(before)  # type: ignore[arg-type]
    for name in set(sys.modules) - modules:
        if name.startswith(("harness_plugin_", "entry_plugin")):
            del sys.modules[name]
