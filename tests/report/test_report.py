"""`harness report` (issue 18): the reproduction document, rendered from a store's real
reproductions or from the JSON of its rows, the same bytes either way; the committed
docs/reproduction.md re-renders byte for byte from the committed JSON and has a row for every
published figure; every mistake a user can make is one line and exit code 2."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from realfiles import ROOT

from harness.cli.main import main
from harness.config.presets import PRESETS
from harness.report.command import portable_command
from harness.report.document import finished
from harness.views.report import pct

DOCS = ROOT / "docs"
REPORT = "itam2020-catsdogs-mnist"


@pytest.fixture(scope="module")
def quick_reproduction(ray_session, tmp_path_factory, shared_data) -> Path:
    """The issue's quick check: itam2020's four recipes, 1 epoch on 200 training images each,
    validated on 500 (the test splits whole: MNIST's 10,000 through each upsampling model)."""
    results = tmp_path_factory.mktemp("quick-repro")
    # --no-export: the document's figures come from the store (each trial's test scores), not from
    # the exports, which cost 4 x 45 s here; tests/sweeps/test_reproduce_run.py exports its recipes
    argv = ["reproduce", REPORT, "--epochs", "1", "--train-limit", "200", "--eval-limit", "500", "--no-export"]
    argv += ["--data-dir", str(shared_data)]
    assert main([*argv, "--results", str(results), "--no-live"]) == 0
    return results


@pytest.mark.slow
def test_a_quick_reproduction_gives_all_four_recipes_with_intervals_marked_as_quick_checks(
    quick_reproduction, tmp_path, capsys, monkeypatch, shared_data
):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(shared_data))
    out = tmp_path / "a" / "reproduction.md"
    assert main(["report", "--results", str(quick_reproduction), "--out", str(out), "--png"]) == 0
    assert "4 quick checks" in capsys.readouterr().out
    text = out.read_text()
    section = text[text.index(f"## {REPORT}") :]
    table = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    assert len(table) == len(PRESETS[REPORT].recipes) == 4
    for line in table:  # a validation figure, then the same weights on the test split with its interval
        figure = r"\d+\.\d\d%( \[\d+\.\d, \d+\.\d\])?; test \d+\.\d\d% \[\d+\.\d, \d+\.\d\]"
        assert re.search(figure + r" \(subset 200, val subset 500, 1 of (40|10) epochs\)", line), line
    assert section.count("- Status: quick check: subset 200, val subset 500, 1 of") == 4
    summary = [line for line in text.splitlines() if line.startswith(f"| {REPORT} |")]
    assert len(summary) == 4 and all(
        line.endswith("quick check: subset 200, val subset 500, 1 of 40 epochs |")
        or line.endswith("quick check: subset 200, val subset 500, 1 of 10 epochs |")
        for line in summary
    )
    # the command that produced each row, the data beside the report's, the curves it links
    assert section.count(f"command: `harness reproduce {REPORT} --epochs 1 --train-limit 200 --eval-limit 500") == 4
    # the folders it ran with are this machine's: the command shows their names, not where they are
    assert str(quick_reproduction) not in text and str(shared_data) not in text
    assert section.count(f"--data-dir .../{shared_data.name} --results .../{quick_reproduction.name}") == 4
    assert "the report: MNIST (Keras)" in section and "caveat: 1,000 training photos per class" in section
    pngs = sorted((out.parent / "reproduction").glob(f"{REPORT}-*.png"))
    assert [p.name for p in pngs] == [f"{REPORT}-{i}.png" for i in (1, 2, 3, 4)]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
    assert all(f"](reproduction/{p.name})" in section for p in pngs)

    # rendered again from the same store, and from the JSON of its rows: the same bytes
    again = tmp_path / "b" / "reproduction.md"
    assert main(["report", "--results", str(quick_reproduction), "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()
    rerendered = tmp_path / "c" / "reproduction.md"
    assert main(["report", "--from", str(out.with_suffix(".json")), "--out", str(rerendered)]) == 0
    assert rerendered.read_bytes() == out.read_bytes()
    assert not rerendered.with_suffix(".json").exists()  # --from reads rows, never writes them


@pytest.mark.slow
def test_the_rows_hold_the_figures_the_document_prints(quick_reproduction, tmp_path, monkeypatch, shared_data):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(shared_data))
    out = tmp_path / "reproduction.md"
    assert main(["report", "--results", str(quick_reproduction), "--out", str(out)]) == 0
    text = out.with_suffix(".json").read_text()
    doc = json.loads(text)
    # where the data was, relative to the data root: never this machine's folder
    assert str(shared_data) not in text + out.read_text() and "$HARNESS_DATA_DIR/cats_vs_dogs" in text
    rows = {r["recipe"]: r for r in next(r for r in doc["reports"] if r["report"] == REPORT)["rows"]}
    cats = rows["cats vs dogs, 150 px"]
    low, high = cats["ci95"]
    # the report printed its last epoch's validation accuracy: ours is that, on our 200 validation
    # photos; the same weights on the 2,000 test photos carry the verdict (the larger split)
    assert cats["split"] == "validation" and cats["val_n"] == 200 and low <= cats["ours"] <= high
    assert cats["measured_epoch"] == 1 and cats["best_epoch"] == 1 and cats["best"] == cats["ours"]
    assert cats["test"] is not None and cats["test_ci95"][0] <= cats["test"] <= cats["test_ci95"][1]
    assert cats["n"] == cats["test_n"] == 2000 and cats["verdicts"][0]["basis"] == "test split, last epoch"
    assert cats["verdict"] in ("above", "below", "indistinguishable") and 0 <= cats["p_value"] <= 1
    for label in ("upsampling model 1", "upsampling model 2", "upsampling model 3"):
        row = rows[label]
        low, high = row["test_ci95"]  # the validation figure has no per-image interval; the test one does
        assert row["split"] == "validation" and row["ours"] is not None and row["ci95"] is None
        assert low <= row["test"] <= high and row["n"] == row["test_n"] == 10_000 and row["val_n"] == 500
        assert row["verdict"] == (
            "above" if low > row["published"] else "below" if high < row["published"] else "indistinguishable"
        )
        assert row["p_value"] is None and row["verdicts"][0]["basis"] == "test split, last epoch"
        assert row["framework"] == "keras" and row["curve"]["metric"] == "val_keras_acc"
    # the other reports were never run in this store: every recipe still has its row and reason
    other = [r for rep in doc["reports"] if rep["report"] != REPORT for r in rep["rows"]]
    assert all(r["status"].startswith("not run") and r["command"].startswith("harness reproduce") for r in other)
    split_b = [r for r in other if "split B" in r["recipe"]]
    assert split_b and all(r["status"] == "not run: data not available offline" for r in split_b)


@pytest.mark.slow
def test_keep_adds_another_machines_finished_rows_to_the_store_s_own(quick_reproduction, tmp_path, capsys):
    """Recipes run on other machines: the kept rows' finished runs are kept where this store
    (itam2020's quick checks only) has no finished run; its own quick checks stay where the kept
    file has no finished row either (a colleague's rows from before the upsampling models ran)."""
    committed = json.loads((DOCS / "reproduction.json").read_text())
    for section in committed["reports"]:
        for row in section["rows"]:
            if section["report"] == REPORT and row["recipe"].startswith("upsampling"):
                row["status"] = "not run yet"
    rows_file = tmp_path / "colleague.json"
    rows_file.write_text(json.dumps(committed))
    out = tmp_path / "reproduction.md"
    argv = ["report", "--results", str(quick_reproduction), "--out", str(out), "--keep", str(rows_file)]
    assert main(argv) == 0
    doc = json.loads(out.with_suffix(".json").read_text())
    old = {(s["report"], r["recipe"]): r for s in committed["reports"] for r in s["rows"]}
    new = {(s["report"], r["recipe"]): r for s in doc["reports"] for r in s["rows"]}
    kept = [key for key, row in old.items() if finished(row)]
    assert kept and all(new[key] == old[key] for key in kept)
    assert "kept" in capsys.readouterr().out
    quick = [key for key in new if key[0] == REPORT and key not in kept]
    assert len(quick) == 3 and all(new[key]["status"].startswith("quick check") for key in quick)
    # the report's other figures measured on a kept run come with it
    others = {s["report"]: s["others"] for s in doc["reports"]}
    assert others == {s["report"]: s["others"] for s in committed["reports"]}


def test_a_finished_run_in_the_store_wins_over_a_kept_row():
    from harness.report.keep import keep_finished

    committed = json.loads((DOCS / "reproduction.json").read_text())
    forged = json.loads(json.dumps(committed))
    for section in forged["reports"]:
        for row in section["rows"]:
            row.update(status="finished", ours=0.99)
    merged, labels = keep_finished(committed, forged)
    rows = [r for s in merged["reports"] for r in s["rows"]]
    originals = [r for s in committed["reports"] for r in s["rows"]]
    # every row the store finished is its own; every other one is the kept file's
    for row, original in zip(rows, originals, strict=True):
        assert row == original if finished(original) else row["ours"] == 0.99
    assert len(labels) == sum(not finished(r) for r in originals)


def test_the_committed_document_re_renders_byte_for_byte_from_its_committed_rows(tmp_path):
    out = tmp_path / "reproduction.md"
    assert main(["report", "--from", str(DOCS / "reproduction.json"), "--out", str(out)]) == 0
    assert out.read_text() == (DOCS / "reproduction.md").read_text()


def test_every_recipe_whose_data_is_offline_has_a_finished_row_at_its_full_recipe(shared_data):
    doc = json.loads((DOCS / "reproduction.json").read_text())
    by_report = {r["report"]: {row["recipe"]: row for row in r["rows"]} for r in doc["reports"]}
    for report, preset in PRESETS.items():
        for recipe in preset.recipes:
            row = by_report[report][recipe.label]
            if row["status"] == "not run: data not available offline":
                # the data really is not in the offline copy (itesm2022's split B): nothing could run it
                assert main(["reproduce", report, "--recipe", recipe.label, "--data-dir", str(shared_data)]) == 2
                continue
            where = f"{report}: {recipe.label}: {row['status']}"
            assert row["status"] == "finished" or row["status"].startswith("finished, "), where  # no quick check
            assert row["epochs"] == row["epochs_planned"] == recipe.spec.epochs and row["ours"] is not None, where
            assert row["measured_epoch"] == recipe.spec.epochs, where


def test_every_published_figure_has_a_row_run_or_not_run_with_its_reason():
    doc = json.loads((DOCS / "reproduction.json").read_text())
    text = (DOCS / "reproduction.md").read_text()
    by_report = {r["report"]: {row["recipe"]: row for row in r["rows"]} for r in doc["reports"]}
    for report, preset in PRESETS.items():
        for recipe in preset.recipes:
            row = by_report[report][recipe.label]
            assert row["published"] == recipe.published
            about = "about " if recipe.published_about else ""
            summary = f"| {report} | {recipe.label} | {about}{pct(recipe.published)} |"
            assert summary in text, summary
            if row["status"].startswith("not run"):
                assert row["command"] and (row["status"] == "not run yet" or row["missing"])
            elif row.get("trial_id") is None:  # waiting behind the recipes of a reproduction still running
                assert row["status"] == "queued in a running reproduction"
            else:
                assert row["command"].startswith("harness reproduce") and row["hardware"]
                # every finished figure with its interval (a validation figure of an image output: its
                # test split's, the same weights, where the verdict rests)
                assert not finished(row) or row["ci95"] or row["test_ci95"], (report, recipe.label)
    # nothing in the document that is not a harness-produced figure: the rows are the only source
    assert text.startswith("# The five reports, re-run\n\nGenerated by `harness report`")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "{missing}"], "no rows file at"),
        (["--from", "{garbage}"], "is not a JSON rows file"),
        (["--from", "{other_json}"], "is not a reproduction rows file"),
        (["--out", "{tmp}/doc.txt"], "does not end in .md"),
        (["--results", "{tmp}/nowhere"], "no results store at"),
        (["--keep", "{garbage}"], "is not a JSON rows file"),
        (["--from", "{garbage}", "--keep", "{garbage}"], "--keep needs a store to add to"),
    ],
)
def test_mistakes_are_one_line_and_exit_2_with_nothing_written(tmp_path, capsys, argv, message):
    (tmp_path / "garbage.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    names = {
        "missing": tmp_path / "missing.json",
        "garbage": tmp_path / "garbage.json",
        "other_json": tmp_path / "other.json",
        "tmp": tmp_path,
    }
    argv = [a.format(**{k: str(v) for k, v in names.items()}) for a in argv]
    out = tmp_path / "out" / "reproduction.md"
    full = ["report", *argv] if "--out" in argv else ["report", *argv, "--out", str(out)]
    assert main(full) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_the_readme_shows_the_documents_summary_table():
    from harness.views.report import README_BEGIN, README_END, summary

    doc = json.loads((DOCS / "reproduction.json").read_text())
    readme = (ROOT / "README.md").read_text()
    block = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0]
    assert block.strip("\n").splitlines() == summary(doc)
    assert "](docs/reproduction.md)" in readme


def test_readme_without_the_block_is_refused_before_anything_is_written(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# a readme without the markers\n")
    out = tmp_path / "out" / "reproduction.md"
    argv = ["report", "--from", str(DOCS / "reproduction.json"), "--out", str(out), "--readme", str(readme)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no summary block" in err
    assert not out.exists() and readme.read_text() == "# a readme without the markers\n"


def test_the_data_size_fit_is_least_squares_in_log_n():
    from harness.report.reproduction import log_fit

    # exactly on a + b ln n: 0.60 at 450, +3 points per doubling
    points = {450: 0.60, 900: 0.63, 1800: 0.66}
    per_doubling, at_8000 = log_fit(points, 8000)
    assert per_doubling == pytest.approx(0.03)
    assert at_8000 == pytest.approx(0.66 + 0.03 * math.log2(8000 / 1800))
    assert log_fit({450: 0.9, 1800: 0.99}, 10**9)[1] == 1.0  # an accuracy is capped at 1
    assert log_fit(points, None)[1] is None


def _doc(**row: object) -> dict:
    base = {
        "recipe": "r1", "arch": "keras_cnn2", "task": "cats_vs_dogs", "framework": "keras", "epochs_planned": 25,
        "image_size": 64, "measure": "test accuracy", "published": 0.7745, "notes": "", "status": "finished",
        "marks": None, "trial_id": "s.t1", "command": "harness reproduce itesm2022-catsdogs", "epochs": 25,
        "best_epoch": 20, "wall_s": 3725.0, "cpu_s": 2500.0, "hardware": "AMD EPYC, 2 CPUs, no GPU",
        "side_by_side": 2, "data": None, "ours": 0.70, "split": "test", "n": 2000, "ci95": [0.68, 0.72],
        "ci95_method": "wilson", "p_value": 1e-12, "verdict": "below", "curve": {"epoch": []}, "probes": [],
        "published_about": False, "measured_epoch": 25, "val_n": 200, "best": 0.71, "best_ci95": [0.69, 0.73],
        "verdicts": [
            {"basis": "test split, last epoch", "value": 0.70, "n": 2000, "p_value": 1e-12, "verdict": "below"},
        ],
    }  # fmt: skip
    return {
        "format": "harness-reproduction/2",
        "reports": [{"report": "itesm2022-catsdogs", "rows": [{**base, **row}]}],
    }


def test_a_rendered_recipe_states_its_figure_interval_verdict_budget_and_probes():
    from harness.views.report import render

    probe = {
        "probe": "augmented-test", "figure": "test accuracy under the training augmentation", "ci95": [0.60, 0.64],
        "baseline_is": "the trial's clean test accuracy", "value": 0.62, "baseline": 0.70, "note": "spread 61% to 63%",
    }  # fmt: skip
    text = render(_doc(probes=[probe]), source="x")
    assert (
        "| itesm2022-catsdogs | r1 | 77.45% | 70.00% [68.0, 72.0] | 71.00% [69.0, 73.0], epoch 20 | -7.45 pp "
        "| below (p 1e-12, test n 2,000) | finished |" in text
    )
    assert "- Ours: 70.00% [68.0, 72.0] after epoch 25, test split (2,000 images)" in text
    assert "- Best checkpoint (by validation, epoch 20): 71.00% [69.0, 73.0]" in text
    assert "- Verdict, test split, last epoch (2,000 images): 70.00% against 77.45%: below (p 1e-12)" in text
    assert (
        "- Budget: 25 of 25 epochs; wall 1 h 02 min, 2,500 CPU-seconds; AMD EPYC, 2 CPUs, no GPU, side by side" in text
    )
    assert (
        "`harness probe s.t1 augmented-test`): test accuracy under the training augmentation 62.00% [60.0, 64.0];"
        in text
    )
    assert "the trial's clean test accuracy 70.00%; spread 61% to 63%" in text
    quick = render(_doc(status="quick check", marks="subset 200, 1 of 25 epochs", epochs=1), source="x")
    assert "70.00% [68.0, 72.0] (subset 200, 1 of 25 epochs)" in quick and "quick check: subset 200" in quick
    # a probe that measured the last weights as the report did: its verdict beside ours where it differs
    as_report = {
        "basis": "as the report measured: x",
        "value": 0.76,
        "n": 2000,
        "p_value": 0.3,
        "verdict": "indistinguishable",
    }
    both = render(_doc(verdicts=[_doc()["reports"][0]["rows"][0]["verdicts"][0], as_report]), source="x")
    assert "| below (p 1e-12, test n 2,000); as the report measured: indistinguishable (p 0.3) |" in both
    about = render(_doc(published=0.5, published_about=True), source="x")
    assert "| r1 | about 50.00% |" in about


# A machine's own folders: the document and every page in docs/ say where data is relative to the
# data root (`$HARNESS_DATA_DIR/cats_vs_dogs`), never where one machine kept it. System files a page
# tells the reader to look at (/proc/cpuinfo, a Debian package's /usr/share/...) are not these.
MACHINE_PATH = re.compile(r"(?<![\w.~/-])/(?:work|home|root|tmp|Users|mnt|srv|var/folders)/")


def test_no_page_in_docs_names_a_machines_own_folders():
    pages = [p for p in DOCS.rglob("*") if p.suffix in (".md", ".json")]
    assert DOCS / "reproduction.json" in pages and DOCS / "reproduction.md" in pages
    found = [f"{p.name}: {m.group(0)}" for p in pages for m in MACHINE_PATH.finditer(p.read_text())]
    assert not found, found


def test_png_removes_the_curve_of_a_recipe_that_no_longer_has_one(tmp_path):
    from harness.views.report import write_curves

    doc = json.loads((DOCS / "reproduction.json").read_text())
    index, report = next(
        (i, s["report"]) for s in doc["reports"] for i, r in enumerate(s["rows"], start=1) if not r.get("curve")
    )
    (tmp_path / "reproduction").mkdir()
    stale = tmp_path / "reproduction" / f"{report}-{index}.png"
    stale.write_bytes(b"\x89PNG an older run's curve")
    written = write_curves(doc, tmp_path)
    assert not stale.exists() and written and all(p.read_bytes().startswith(b"\x89PNG") for p in written)
    assert sorted((tmp_path / "reproduction").iterdir()) == sorted(written)


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("harness reproduce r --results /home/ana/runs --no-live", "harness reproduce r --results .../runs --no-live"),
        (
            "harness reproduce r --data-dir=/srv/data/ --recipe 'model 1'",
            "harness reproduce r --data-dir=.../data --recipe 'model 1'",
        ),
        ("harness sweep --plugin ~/nets.py --plugin ~", "harness sweep --plugin .../nets.py --plugin ..."),
        ("harness reproduce r --results 'C:\\Users\\ana\\runs'", "harness reproduce r --results .../runs"),
        ("harness reproduce r --results '/home/ana/unclosed", "harness ..."),  # not shlex.join's: nothing of it shown
        ("harness reproduce r --precision auto", "harness reproduce r --precision auto"),
    ],
)
def test_the_document_shows_a_command_without_this_machines_folders(stored, shown):
    assert portable_command(stored) == shown
