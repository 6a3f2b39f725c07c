"""Numbers a person can read and trust (issue 12): tables and markdown round as people read,
JSON and CSV keep full precision; a ratio whose spreads overlap reads "~"; `harness sweeps`
lists the store's sweeps; an unknown sweep id is one line; `python -m harness`, `--debug`
after the command, "1 epoch", and the words used for image models."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.export.verify import LATENCY_ROUNDS, Verification
from harness.formats import pct, plural, sig3
from harness.store.db import Store


def test_numbers_round_as_people_read_them():
    assert pct(0.45480000000000004) == "45.48%" and pct(None) == "-"
    assert [sig3(v) for v in (0.20412, 12.345, 1528.7, 0.0557123, 6.0, 0)] == [
        "0.204",
        "12.3",
        "1,530",
        "0.0557",
        "6.00",
        "0",
    ]
    assert plural(1, "epoch") == "1 epoch" and plural(3, "epoch") == "3 epochs"


def test_markdown_rounds_and_csv_and_json_keep_full_precision(swept, capsys):
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(swept), "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    cells = [c.strip() for line in markdown.splitlines() if line.startswith("| ") for c in line.strip("|").split("|")]
    decimals = [c for c in cells if re.fullmatch(r"-?\d+\.\d+", c)]  # seconds, rates, lr: 3 significant figures
    assert decimals and all(len(c.lstrip("-").replace(".", "").lstrip("0")) <= 3 for c in decimals), decimals
    # accuracies, each with its 95% interval in the same two decimals: "97.78% [95.68, 98.87]"
    accuracies = [c for c in cells if "%" in c]
    interval = r"\d{1,3}\.\d{2}% \[\d{1,3}\.\d{2}, \d{1,3}\.\d{2}\]"
    assert accuracies and all(re.fullmatch(rf"\d{{1,3}}\.\d{{2}}%|{interval}", c) for c in accuracies), accuracies
    assert any(re.fullmatch(interval, c) for c in accuracies)
    assert main(["leaderboard", "--results", str(swept), "--format", "json"]) == 0
    (board,) = json.loads(capsys.readouterr().out)
    assert main(["leaderboard", "--results", str(swept), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [float(r["best_metric"]) for r in rows] == [r["best_metric"] for r in board["rows"]]  # every digit kept
    assert f"{100 * board['rows'][0]['best_metric']:.2f}%" in markdown


def test_the_latency_of_a_verification_has_rounds_spreads_and_its_threads(swept):
    with Store.existing(swept) as store:
        (export,) = store._rows("SELECT * FROM exports")
    latency = json.loads(export["details_json"])["latency"]
    assert latency["rounds"] == LATENCY_ROUNDS and latency["threads"] >= 1 and latency["spinning"] is False
    for runtime in ("onnxruntime", "torch"):
        rounds = latency[f"{runtime}_b1_round_ms"]
        assert len(rounds) == LATENCY_ROUNDS and latency[f"{runtime}_b1_spread_ms"] == [min(rounds), max(rounds)]
        assert min(rounds) <= latency[f"{runtime}_b1_p50_ms"] <= max(rounds)
    clear = max(latency["onnxruntime_b1_round_ms"]) < min(latency["torch_b1_round_ms"]) or min(
        latency["onnxruntime_b1_round_ms"]
    ) > max(latency["torch_b1_round_ms"])
    assert latency["speedup_b1_clear"] == clear
    ratios = sorted(t / o for t, o in zip(latency["torch_b1_round_ms"], latency["onnxruntime_b1_round_ms"]))
    assert latency["speedup_b1"] == pytest.approx(ratios[LATENCY_ROUNDS // 2])  # the median of the paired rounds


def test_a_ratio_is_printed_only_when_the_spreads_separate():
    from harness.export.verify import _clear
    from harness.views.leaderboard import speedup
    from harness.views.tables import ratio

    assert _clear([1.0, 1.1, 1.2], [2.0, 2.5]) and _clear([2.0, 2.5], [1.0, 1.2])
    assert not _clear([1.0, 2.1], [2.0, 2.5])
    assert ratio(2.04, True) == "2.0x" and ratio(1.1, False).startswith("~")
    row = {"onnx_ms": 0.6512, "onnx_speedup": 2.5, "onnx_speedup_clear": True}
    assert speedup(row) == "0.651 (2.5×)" and speedup({**row, "onnx_speedup_clear": False}) == "0.651 (~)"


def test_harness_sweeps_lists_the_stored_sweeps(swept, capsys):
    capsys.readouterr()
    assert main(["sweeps", "--results", str(swept), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["task"] == "digits" and row["status"] == "finished" and row["trials"] == {"finished": 8}
    assert row["duration_s"] > 0 and 0 < row["best_metric"] <= 1 and row["metric"] == "val_acc"
    assert main(["sweeps", "--results", str(swept), "--task", "cifar10", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["sweeps", "--results", str(swept)]) == 0
    out = capsys.readouterr().out
    assert row["id"] in out and "8 finished" in out and "val_acc" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["leaderboard", "--sweep", "nosuch"],
        ["sweep", "--resume", "nosuch"],
        ["reproduce", "uni2022-catsdogs", "--resume", "nosuch"],
    ],
)
def test_an_unknown_sweep_id_is_one_line_pointing_to_harness_sweeps(swept_copy, capsys, argv):
    capsys.readouterr()
    assert main([*argv, "--results", str(swept_copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no sweep 'nosuch'" in err and "`harness sweeps`" in err


def test_python_dash_m_harness_and_debug_after_the_command(tmp_path, capsys):
    # A subprocess: `python -m harness` (harness/__main__.py) is itself the process boundary.
    proc = subprocess.run([sys.executable, "-m", "harness", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("harness ")
    from harness.errors import HarnessError

    for argv in (["--debug", "leaderboard"], ["leaderboard", "--debug"]):  # before or after the command
        with pytest.raises(HarnessError, match="no results store"):
            main([*argv, "--results", str(tmp_path / "none")])
    assert main(["leaderboard", "--results", str(tmp_path / "none")]) == 2  # without it: one line
    assert capsys.readouterr().err.count("\n") == 1


# The heavy libraries: `--help` and argument checks must not wait for them (harness/cli/main.py).
HEAVY = ("torch", "ray", "onnx", "onnxruntime")


def test_the_installed_console_script_answers_help_without_the_heavy_imports():
    # Subprocesses: the installed `harness` entry point is a process boundary, and this interpreter
    # has imported torch and Ray already, so only a new one can show that --help does not.
    script = Path(sys.executable).with_name("harness")
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: harness"), proc.stderr
    blocked = "".join(f"sys.modules[{name!r}] = None; " for name in HEAVY)  # importing any of them raises
    code = f"import sys; {blocked}from harness.cli.main import main; main(['sweep', '--help'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--lr-range" in proc.stdout, proc.stderr


def test_an_image_model_is_verified_in_words_that_fit_it():
    from rich.console import Console

    from harness.views.tables import render_verification

    image = Verification(
        passed=True,
        provider="CPUExecutionProvider",
        requested="CPUExecutionProvider",
        path="m.onnx",
        n=10,
        task="mnist_upsample",
        gate="image",
        rule="PSNR",
        max_abs_diff=1e-6,
        top1_agreement=1.0,
        torch_metric=0.9,
        ort_metric=0.9,
        torch_psnr=20.0,
        ort_psnr=20.0,
        quantize=None,
        size_ratio=None,
        float_ops=None,
        latency=None,
    )
    console = Console(width=200, record=True)
    console.print(render_verification(image))
    text = console.export_text()
    assert "binarised pixel agreement" in text and "top-1" not in text
    console.print(render_verification(replace(image, torch_psnr=None, ort_psnr=None)))
    assert "top-1 agreement" in console.export_text()


def test_a_long_path_folds_onto_the_next_line_and_is_never_cut():
    """A file path in a table wraps at any character on a narrow terminal: the whole path stays
    readable (and copyable), never `results/onnx/digits-cnn_sm…`."""
    from rich.console import Console

    from harness.export.verify import Verification
    from harness.views.tables import render_verification

    path = "/results/onnx/" + "digits-cnn_small-20261205-085710-a9f1.db1a1_00005" * 3 + ".onnx"
    verification = Verification(
        path=path,
        task="digits",
        n=360,
        max_abs_diff=3.8e-6,
        top1_agreement=1.0,
        torch_metric=0.9972,
        ort_metric=0.9972,
        torch_psnr=None,
        ort_psnr=None,
        provider="CPUExecutionProvider",
        requested="CPUExecutionProvider",
        gate="logits",
        rule="top-1 agreement >= 99.9%",
        passed=True,
        quantize=None,
        size_ratio=None,
        float_ops=None,
        latency=None,
    )
    console = Console(width=60, record=True)
    console.print(render_verification(verification))
    text = console.export_text()
    assert "…" not in text
    joined = "".join(line.strip("│ ").strip() for line in text.splitlines())
    assert path in joined.replace("│", "").replace(" ", "")
