"""Hostile input, class 7 (issue 26): where one line is promised, no traceback. Nesting deep
enough to exhaust Python's recursion (model metadata, sweep files, rows files), keys of the wrong
type (the model card, `report --from`), a 300-character file name, seeds and integers past 64
bits, numbers that are not finite, a cache lock that is a link or a FIFO. Every case: exit 2,
one `error:` line on stderr, nothing on stdout, and no results folder where the command stopped
before one."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from realfiles import write_image
from tinymodel import write_tiny_model

from harness.cli.main import main
from harness.report.reproduction import FORMAT

DEEP = 100_000  # levels: json and tomllib recurse once per level, Python stops near 1,000
LONG = "n" * 300  # one path component: most file systems allow 255 bytes


def refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI in-process (argparse's refusals exit through SystemExit); assert exit 2, an
    empty stdout and one `error:` line without a traceback on stderr; return that line."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert code == 2, (argv, err)
    assert out == "" and err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def _model(tmp: Path, **metadata: str) -> str:
    return str(write_tiny_model(tmp / "m.onnx", **metadata))


def _image(tmp: Path) -> str:
    write_image(tmp / "x.png", mode="L", size=(8, 8))
    return str(tmp / "x.png")


def _file(tmp: Path, name: str, text: str) -> str:
    (tmp / name).write_text(text)
    return str(tmp / name)


def _rows(tmp: Path, reports: object) -> str:
    return _file(tmp, "rows.json", json.dumps({"format": FORMAT, "reports": reports}))


DEEP_LIST = "[" * DEEP + "]" * DEEP
DEEP_OBJECT = '{"a":' * DEEP + "1" + "}" * DEEP
SECTION = {"report": "r", "sizes": [], "beyond": [], "others": []}
ROW = {
    "recipe": "a",
    "arch": "mlp",
    "task": "digits",
    "framework": "pytorch",
    "epochs_planned": 1,
    "image_size": None,
    "measure": "test accuracy",
    "published": 0.9,
    "published_about": False,
    "published_where": None,
    "values": [],
    "notes": "",
    "status": "finished",
    "ours": 0.8,
    "command": "harness reproduce r",
}
RESULTS = "results"  # the folder each sweep case names: it must not appear

# (case id, the command line from tmp_path, a phrase of the one line)
CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    # nesting past the parsers' recursion
    ("predict-deep-metadata", lambda t: ["predict", _model(t, classes=DEEP_LIST), _image(t)], "more than 64 levels"),
    ("web-deep-metadata", lambda t: ["web", _model(t, preprocessing=DEEP_LIST), str(t / "page")], "more than 64"),
    ("card-deep-metadata", lambda t: ["card", _model(t, input_shape=DEEP_LIST)], "more than 64 levels"),
    ("card-deep-object", lambda t: ["card", _model(t, training=DEEP_OBJECT)], "'training' is nested more than 64"),
    ("sweep-file-deep", lambda t: ["sweep", "--config", _file(t, "s.toml", f"seeds = {DEEP_LIST}\n")], "more than 64"),
    (
        "sweep-file-deep-tables",
        lambda t: ["sweep", "--config", _file(t, "s.toml", "a = " + "{b = " * DEEP + "1" + "}" * DEEP + "\n")],
        "more than 64 levels",
    ),
    ("rows-deep", lambda t: ["report", "--from", _file(t, "rows.json", DEEP_LIST)], "more than 64 levels"),
    # keys of the wrong type
    ("card-parameters-string", lambda t: ["card", _model(t, parameters='"many"')], "parameters is a string, not int"),
    ("card-published-number", lambda t: ["card", _model(t, published="[1]")], "published[0] is an integer"),
    (
        "card-evaluation-value-string",
        lambda t: ["card", _model(t, evaluation=json.dumps({"metric": "test_acc", "value": "high"}))],
        "evaluation.value is a string, not float or null",
    ),
    ("rows-reports-string", lambda t: ["report", "--from", _rows(t, "x")], "rows.reports is a string, not a list"),
    (
        "rows-row-number",
        lambda t: ["report", "--from", _rows(t, [{**SECTION, "rows": [1]}])],
        "rows.reports[0].rows[0] is an integer, not an object",
    ),
    (
        "rows-status-number",
        lambda t: ["report", "--from", _rows(t, [{**SECTION, "rows": [{**ROW, "status": 3}]}])],
        "rows.reports[0].rows[0].status is an integer, not str",
    ),
    ("rows-row-lacks-keys", lambda t: ["report", "--from", _rows(t, [{**SECTION, "rows": [{}]}])], "lacks arch"),
    # a 300-character file name
    ("sweep-results-long", lambda t: ["sweep", "--results", str(t / LONG)], "File name too long"),
    ("sweeps-results-long", lambda t: ["sweeps", "--results", str(t / LONG)], "File name too long"),
    ("predict-model-long", lambda t: ["predict", str(t / f"{LONG}.onnx"), _image(t)], "File name too long"),
    ("predict-image-long", lambda t: ["predict", _model(t), str(t / f"{LONG}.png")], "File name too long"),
    (
        "export-out-long",
        lambda t: ["export", "--out", str(t / LONG / "m.onnx"), "--results", str(t / RESULTS)],
        "File name too long",
    ),
    ("card-long", lambda t: ["card", str(t / f"{LONG}.onnx")], "File name too long"),
    ("sweep-file-long", lambda t: ["sweep", "--config", str(t / f"{LONG}.toml")], "File name too long"),
    # seeds and integers past 64 bits, before any store or Ray
    ("seed-2**64-1", lambda t: ["sweep", "--seed", str(2**64 - 1)], "outside the 64-bit integers"),
    ("seed-2**70", lambda t: ["sweep", "--seed", str(2**70)], "outside the 64-bit integers"),
    (
        "seed-2**63-1-repeats-2",
        lambda t: ["sweep", "--seed", str(2**63 - 1), "--repeats", "2"],
        f"is above {2**63 - 1 - 1_000_003}, the largest seed with --repeats 2",
    ),
    ("repeats-past-seeds", lambda t: ["sweep", "--repeats", str(10**13)], "derives seeds past 2**63-1"),
    (
        "sweep-file-seed-2**64",
        lambda t: ["sweep", "--config", _file(t, "s.toml", f"seeds = [{2**64}]\n")],
        "outside the 64-bit",
    ),
    ("epochs-2**70", lambda t: ["sweep", "--epochs", str(2**70)], "--epochs 1180591620717411303424 is outside"),
    ("opset-2**70", lambda t: ["export", "--opset", str(2**70)], "is outside the 64-bit integers"),
    # numbers that are not finite
    ("target-nan", lambda t: ["analyze", "--target", "nan", "--results", str(t / RESULTS)], "'nan' is not a finite"),
    ("target-inf", lambda t: ["analyze", "--target", "inf", "--results", str(t / RESULTS)], "'inf' is not a finite"),
    (
        "time-budget-1e400",
        lambda t: ["sweep", "--config", _file(t, "s.toml", "time_budget_s = 1e400\n")],
        "time budget inf s is not a finite number",
    ),
    ("time-budget-nan", lambda t: ["sweep", "--time-budget", "nan"], "time budget nan s is not a finite number"),
]


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, make, expected):
    monkeypatch.chdir(tmp_path)  # a default results folder would appear here
    argv = make(tmp_path)
    if argv[0] == "sweep" and "--results" not in argv:
        argv += ["--results", str(tmp_path / RESULTS)]
    assert expected in refused(capsys, argv)
    assert not (tmp_path / RESULTS).exists()  # no store, no Ray folder: refused before either


def _prepared_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path]:
    """A folder task prepared once (leaving its lock file), its cache then deleted so the next
    prepare takes the lock: the command line and the lock's path."""
    for name in ("cats", "dogs"):
        for i in range(6):  # the fewest a class may have for the default split
            write_image(tmp_path / "data" / name / f"{i}.png", size=(12, 12))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["data", "prepare", f"folder:{tmp_path / 'data'}", "--image-size", "16"]
    assert main(argv) == 0
    (lock,) = (tmp_path / "cache").glob("*.lock")
    for entry in (tmp_path / "cache").iterdir():
        if entry.is_dir():
            for f in entry.iterdir():
                f.unlink()
            entry.rmdir()
    lock.unlink()
    return argv, lock


def test_a_cache_lock_placed_as_a_link_is_one_line_and_its_target_untouched(tmp_path, monkeypatch, capsys):
    argv, lock = _prepared_lock(tmp_path, monkeypatch)
    victim = tmp_path / "precious.txt"
    victim.write_text("not to be truncated")
    lock.symlink_to(victim)
    assert "is a symbolic link" in refused(capsys, argv)
    assert victim.read_text() == "not to be truncated"


def test_a_cache_lock_placed_as_a_fifo_is_one_line(tmp_path, monkeypatch, capsys):
    argv, lock = _prepared_lock(tmp_path, monkeypatch)
    os.mkfifo(lock)
    assert "is not a regular file" in refused(capsys, argv)


def test_a_page_written_over_its_own_model_is_one_line_if_refused(tmp_path, capsys):
    """`harness web page/model.onnx page`: whether it is refused or done (another class owns
    that), it is never a traceback."""
    page = tmp_path / "page"
    assert main(["web", _model(tmp_path), str(page)]) == 0
    capsys.readouterr()
    code = main(["web", str(page / "model.onnx"), str(page)])
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("error: ")
