"""The model card: its metadata on a real export, X.md beside the file, `harness card`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from harness import __version__, stats
from harness.cli.main import main
from harness.export.card import CARD_KEYS, card_path, file_sha256, published_figures
from harness.runtimes.predict import open_session, read_metadata
from harness.store.db import Store


def _exported(results: Path) -> tuple[Path, str]:
    """The float32 file the sweep exported, as it lies in `results` (a copy keeps the store's
    absolute paths, so the name is what counts), and its trial."""
    with Store.existing(results) as store:
        row = store._rows("SELECT path, trial_id FROM exports WHERE quantize IS NULL ORDER BY id")[0]
    return results / "onnx" / Path(row["path"]).name, row["trial_id"]


def test_export_writes_the_card_into_the_file(swept, capsys):
    path, trial_id = _exported(swept)
    meta = read_metadata(open_session(path), path)
    assert set(CARD_KEYS) <= set(meta) and meta["harness_version"] == __version__
    with Store.existing(swept) as store:
        trial = store.trial(trial_id)
    config = json.loads(trial["config_json"])
    capsys.readouterr()
    assert main(["archs", "--task", "digits", "--format", "json"]) == 0
    counts = {row["name"]: row["params"] for row in json.loads(capsys.readouterr().out)}
    assert meta["parameters"] == counts[meta["architecture"]] == trial["params"]
    training = meta["training"]
    for key in ("optimizer", "lr", "batch_size", "epochs", "weight_decay", "seed"):
        assert training[key] == config[key], key
    assert training["epochs_run"] == 2 and training["scheduler"] == "fifo" and training["status"] == "finished"
    # what the trial really trained in: on a CPU with bf16, auto may have chosen it (tests/engine/test_cpu_bf16.py)
    assert training["precision"] == trial["precision"] in ("fp32", "bf16") and training["pixels"] == "standard"
    evaluation = meta["evaluation"]
    test = json.loads(trial["test_json"])
    assert evaluation["metric"] == "test_acc" and evaluation["value"] == test["acc"]
    assert evaluation["n"] == 360 and evaluation["best_epoch"] == trial["best_epoch"] == test["epoch"]
    assert evaluation["selected_by"] == "val_acc"
    interval = stats.wilson(round(test["acc"] * 360), 360)  # the test figure's 95% interval, from its 360 images
    assert (evaluation["ci95_low"], evaluation["ci95_high"], evaluation["ci95_method"]) == (
        pytest.approx(interval.low),
        pytest.approx(interval.high),
        "wilson",
    )
    assert "95% CI [" in card_path(path).read_text()
    data = meta["data"]
    assert data["dataset"] == "digits" and data["variant"] == "default" and data["image_size"] == 8
    assert data["splits"] == {"train": 1077, "val": 360, "test": 360} and data["split_seeds"] == [0]
    assert data["train_limit"] is None
    assert meta["published"] == []  # no report trained on digits


def test_card_file_beside_the_model_holds_its_verification(swept):
    path, _ = _exported(swept)
    text = card_path(path).read_text()
    assert card_path(path).name == path.name.removesuffix(".onnx") + ".md"
    assert text.startswith("# digits · ")
    for section in ("## Data", "## Training", "## Evaluation", "## Preprocessing", "## Verification"):
        assert section in text
    assert file_sha256(path) in text and "(pixel * scale - mean) / std" in text
    (row,) = [line for line in text.splitlines() if line.startswith("| 20")]  # one row: export's verification
    assert "onnxruntime" in row and "CPUExecutionProvider" in row and row.endswith("| verified |")
    assert "## Runtimes" not in text  # no runtime checks given


def test_verify_leaves_the_file_alone_and_rewrites_its_card(swept_copy, capsys):
    path, _ = _exported(swept_copy)
    before, card_before = file_sha256(path), card_path(path).read_text()
    assert main(["verify", str(path), "--results", str(swept_copy), "--format", "json"]) == 0
    assert file_sha256(path) == before  # the file is never rewritten after it is verified
    card = card_path(path).read_text()
    assert card != card_before and card.count("| verified |") == 2  # export's and this one


def test_int8_file_carries_the_same_card(swept_copy, capsys):
    argv = ["export", "--task", "digits", "--quantize", "int8", "--results", str(swept_copy)]
    assert main([*argv, "--out", str(swept_copy / "onnx"), "--format", "json"]) == 0
    float_path, _ = _exported(swept_copy)
    int8_path = float_path.with_suffix(".int8.onnx")
    float_meta, int8_meta = (read_metadata(open_session(p), p) for p in (float_path, int8_path))
    assert int8_meta == {**float_meta, "quantize": "int8"}
    assert card_path(int8_path).name.endswith(".int8.md") and "(INT8)" in card_path(int8_path).read_text()
    (document,) = (d for d in json.loads(capsys.readouterr().out) if d["quantize"])
    assert isinstance(document["float_ops"], dict)  # what the INT8 file computes in float ({}: nothing)
    assert "INT8: " in card_path(int8_path).read_text()  # the card says it too


def test_card_command_table_json_markdown(swept, capsys):
    path, trial_id = _exported(swept)
    capsys.readouterr()
    assert main(["card", str(path), "--results", str(swept)]) == 0
    table = capsys.readouterr().out
    for word in ("Training", "Evaluation", "Verification", "test_acc", "CPUExecutionProvider", "verified"):
        assert word in table
    assert main(["card", str(path), "--results", str(swept), "--format", "json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["sha256"] == file_sha256(path) and card["store_found"] and card["runtime_checks"] == []
    assert card["metadata"]["trial_id"] == trial_id and [v["status"] for v in card["verifications"]] == ["verified"]
    assert main(["card", str(path), "--results", str(swept), "--format", "markdown"]) == 0
    assert capsys.readouterr().out == card_path(path).read_text()  # the markdown is X.md


def test_card_without_a_store_prints_the_metadata(swept, tmp_path, capsys):
    path, _ = _exported(swept)
    capsys.readouterr()
    assert main(["card", str(path), "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Training" in out and f"no verification of this file is recorded (no results store at {tmp_path}" in out
    assert main(["card", str(path), "--results", str(tmp_path), "--format", "json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["verifications"] == [] and not card["store_found"]
    assert tmp_path.is_dir() and not any(tmp_path.iterdir())  # reading a card creates no store


def test_old_file_without_the_card_still_prints(swept, tmp_path, capsys):
    path, _ = _exported(swept)
    model = onnx.load(str(path))
    kept = {p.key: p.value for p in model.metadata_props if p.key not in CARD_KEYS}
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, kept)
    old = tmp_path / "old.onnx"
    onnx.save(model, str(old))
    capsys.readouterr()
    assert main(["card", str(old), "--results", str(swept), "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert "not recorded: exported by harness" in text and "val_acc" in text  # the old metrics still show
    assert "No verification of this file is recorded in" in text  # other bytes: not the verified file
    assert main(["card", str(old), "--results", str(swept)]) == 0


def test_card_mistakes_are_one_line(swept, tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 50)
    for argv in (["card", str(tmp_path / "missing.onnx")], ["card", str(bad), "--results", str(swept)]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ".onnx" in err


def test_card_without_torch(swept):
    """`harness card` reads the file and the store only: it must run where torch cannot be imported."""
    # A fresh interpreter: this one has imported torch already, so only a new process can forbid it.
    path, _ = _exported(swept)
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from harness.cli.main import main\n"
        f"sys.exit(main(['card', {str(path)!r}, '--results', {str(swept)!r}, '--format', 'json']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verifications"][0]["status"] == "verified"


def test_the_card_shows_the_cross_runtime_matrix_of_the_latest_verification(swept_copy, capsys):
    path, _ = _exported(swept_copy)
    assert "## Runtimes" not in card_path(path).read_text()  # the sweep verified under onnxruntime only
    flags = ["--results", str(swept_copy), "--runtime", "onnxruntime,opencv"]
    assert main(["verify", str(path), *flags]) == 0
    runtimes = card_path(path).read_text().split("## Runtimes", 1)[1]
    assert "2/2 runtimes pass" in runtimes
    assert [line.split("|")[1].strip() for line in runtimes.splitlines() if line.startswith("| o")] == [
        "onnxruntime",
        "opencv",
    ]
    capsys.readouterr()
    assert main(["card", str(path), "--results", str(swept_copy), "--format", "json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert [(r["runtime"], r["status"]) for r in card["runtime_checks"]] == [
        ("onnxruntime", "passed"),
        ("opencv", "passed"),
    ]


@pytest.mark.parametrize("index", [0, 1])
def test_published_figures_are_matched_as_compare_matches(index):
    """A keras_cnn3_drop trial run as itesm2022's split-A recipe: its figure is like for like,
    the split-B one of the same network says how it differs."""
    from harness.results.leaderboard import published
    from harness.results.matching import recipe_terms

    figures = [(report, r) for report, r in published("cats_vs_dogs") if r.spec.archs[0] == "keras_cnn3_drop"]
    report, recipe = figures[index]
    terms = recipe_terms(recipe.spec)
    trial = {
        "config_json": json.dumps(
            {k: terms[k] for k in ("task", "arch", "variant", "image_size", "pixels", "framework", "epochs")}
        ),
        "test_json": json.dumps({"epoch": 3, "acc": 0.8}),
        "best_epoch": 3,
    }
    epochs = [{"epoch": e, "val_acc": 0.7, "extra_json": None} for e in range(1, terms["epochs"] + 1)]
    out = published_figures(trial, epochs, task="cats_vs_dogs", arch="keras_cnn3_drop")
    assert [(f["report"], f["run"]) for f in out] == [(r, f.label) for r, f in figures]
    assert all(f["ours"] == 0.8 and f["score"] == "test_acc" for f in out)
    assert out[index]["like_for_like"] and out[index]["published"] == recipe.published
    other = out[1 - index]
    assert not other["like_for_like"] and "split" in other["differs"]


def test_a_card_that_cannot_be_written_is_a_warning(swept_copy, capsys):
    """The verification is in the store before the card is written: a folder that takes no card
    (here a folder where X.md should go; root writes anywhere else) costs the card, not the result."""
    path, trial_id = _exported(swept_copy)
    card_path(path).unlink()
    card_path(path).mkdir()
    capsys.readouterr()
    assert main(["verify", str(path), "--results", str(swept_copy), "--format", "json"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no model card written beside" in err
    with Store.existing(swept_copy) as store:
        assert [x["status"] for x in store.exports(trial_id) if x["quantize"] is None][-1] == "verified"
