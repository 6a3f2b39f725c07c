"""`harness site OUT/` (issue 29): the site of a real sweep's store (the session's `swept`: 8 trials,
exported and verified), opened in headless Chromium (the system's, as the runtime tests launch
it) from file://: every page loads without a console error, every link resolves to a file of
the folder, the board sorts by a clicked header and says what `harness leaderboard --format json`
says, hostile names stay text, a rebuild keeps the links; and the refusals, in one line each."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from realfiles import ROOT

from harness.cli.main import main

SCREENSHOT = ROOT / "docs" / "images" / "site-board.png"
HOSTILE = '<script>window.pwned=1</script>"onmouseover=window.pwned=1 x="'


def _build(results: Path, out: Path, capsys, *flags: str) -> str:
    code = main(["site", str(out), "--results", str(results), *flags])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def _pages(out: Path) -> list[Path]:
    """Our pages: the model pages (harness web's, which need HTTP) are checked by tests/runtimes."""
    return sorted(p for p in out.rglob("*.html") if "models" not in p.relative_to(out).parts)


def _browse(out: Path, visit):
    """Each of our pages opened from file:// in headless Chromium; `visit(page, path)` per page;
    returns the console errors and page errors seen, per page."""
    from playwright.sync_api import sync_playwright

    from harness.runtimes.base import chromium_path
    from harness.runtimes.js import CHROMIUM_ARGS

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            here: list[str] = [""]
            page.on("console", lambda m: errors.append(f"{here[0]}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"{here[0]}: {e}"))
            for path in _pages(out):
                here[0] = str(path.relative_to(out))
                page.goto(path.as_uri(), wait_until="load")
                visit(page, path)
        finally:
            browser.close()
    return errors


def _links(page) -> list[str]:
    return page.evaluate(
        "() => [...document.querySelectorAll('[href], [src]')]"
        ".map(e => e.getAttribute('href') ?? e.getAttribute('src'))"
    )


def _board_numbers(page) -> dict[str, dict[str, object]]:
    """Per row (its trial id), each cell's exact value as the page holds it."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('table.board tbody tr')].map(r => [r.dataset.trial,
            Object.fromEntries([...r.cells].filter(c => c.dataset.value !== undefined)
                .map(c => [c.dataset.field, JSON.parse(c.dataset.value)]))]))"""
    )


def _column(page, field: str) -> list[object]:
    return page.evaluate(
        f"() => [...document.querySelectorAll('table.board tbody td[data-field={field}]')]"
        ".map(c => JSON.parse(c.dataset.value))"
    )


def test_the_site_of_a_real_sweep(swept, tmp_path, capsys):
    out = tmp_path / "site"
    said = _build(swept, out, capsys)
    assert "wrote" in said and (out / ".harness-site").is_file()
    assert main(["leaderboard", "--format", "json", "--results", str(swept)]) == 0
    (board,) = json.loads(capsys.readouterr().out)
    links: dict[str, list[str]] = {}
    seen: dict[str, object] = {}

    def visit(page, path: Path) -> None:
        links[str(path)] = _links(page)
        if path.parent.name == "boards":
            seen["numbers"] = _board_numbers(page)
            screenshot = tmp_path / "site-board.png"
            page.screenshot(path=str(screenshot), full_page=True)
            if os.environ.get("HARNESS_UPDATE_SCREENSHOTS") == "1":
                SCREENSHOT.parent.mkdir(exist_ok=True)
                shutil.copyfile(screenshot, SCREENSHOT)
            before = _column(page, "lr")
            page.click("th[data-field=lr]")
            seen["up"] = (before, _column(page, "lr"))
            page.click("th[data-field=lr]")
            seen["down"] = _column(page, "lr")
            page.click("th[data-field=best_metric]")
            seen["metric_up"] = _column(page, "best_metric")

    errors = _browse(out, visit)
    assert errors == []
    kinds = {p.parent.name if p.parent != out else p.name for p in _pages(out)}
    assert {"index.html", "reproduction.html", "boards", "trials", "sweeps", "exports"} <= kinds
    assert len(list((out / "trials").glob("*.html"))) == 8
    model_links = 0
    for page_path, hrefs in links.items():
        assert hrefs, page_path
        for href in hrefs:
            parsed = urlparse(href)
            assert not parsed.scheme and not parsed.netloc, (page_path, href)  # nothing fetched from elsewhere
            target = (Path(page_path).parent / unquote(parsed.path)).resolve()
            assert target.is_file() and out.resolve() in target.parents, (page_path, href)
            model_links += "/models/" in href and href.endswith("index.html")
    assert model_links >= 1  # the exported file's model page, whose link says it needs HTTP
    export_page = next((out / "exports").glob("*.html")).read_text()
    assert "needs HTTP" in export_page or "over HTTP only" in export_page
    # the board's numbers are the JSON board's, exactly
    numbers = seen["numbers"]
    assert set(numbers) == {row["trial_id"] for row in board["rows"]}
    for row in board["rows"]:
        for field, value in numbers[row["trial_id"]].items():
            assert value == row[field], (row["trial_id"], field)
        assert numbers[row["trial_id"]]["best_metric"] == row["best_metric"]
    before, up = seen["up"]
    assert up == sorted(before) and seen["down"] == sorted(before, reverse=True)
    assert seen["metric_up"] == sorted(r["best_metric"] for r in board["rows"])
    # the same build again over the same folder: the same files, so every link still resolves
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    _build(swept, out, capsys)
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == files
    assert not [p for p in out.iterdir() if p.name.startswith(".harness-tmp")]


def test_hostile_names_stay_text(swept_copy, tmp_path, capsys):
    db = sqlite3.connect(swept_copy / "harness.db")
    trial = db.execute("SELECT id FROM trials ORDER BY id LIMIT 1").fetchone()[0]
    db.execute("UPDATE trials SET arch = ?, optimizer = ? WHERE id = ?", (HOSTILE, HOSTILE, trial))
    db.execute("UPDATE sweeps SET command = ?", (HOSTILE,))
    db.commit()
    db.close()
    out = tmp_path / "site"
    _build(swept_copy, out, capsys)
    texts: list[str] = []

    def visit(page, path: Path) -> None:
        assert page.evaluate("() => window.pwned") is None, path
        assert page.evaluate("() => document.querySelectorAll('[onmouseover]').length") == 0, path
        assert page.evaluate("() => document.querySelectorAll('script:not([src])').length") == 0, path
        texts.append(page.evaluate("() => document.body.innerText"))

    assert _browse(out, visit) == []
    assert sum(HOSTILE in text for text in texts) >= 3  # the board, the trial and the sweep show it as text


def _refused(capfd, argv: list[str], what: str) -> None:
    assert main(argv) == 2
    err = capfd.readouterr().err
    assert what in err and len(err.strip().splitlines()) == 1, err


def test_refusals_write_nothing(tmp_path, capfd):
    from harness.store.db import Store

    results = tmp_path / "results"
    Store.create(results).close()
    a_file = tmp_path / "file.html"
    a_file.write_text("mine")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    _refused(capfd, ["site", str(a_file), "--results", str(results)], "is a file")
    _refused(capfd, ["site", str(foreign), "--results", str(results)], "not a site")
    _refused(capfd, ["site", str(link), "--results", str(results)], "symbolic link")
    _refused(capfd, ["site", str(tmp_path / "new"), "--results", str(results), "--sweep", "nope"], "no sweep 'nope'")
    _refused(capfd, ["site", str(tmp_path / "new"), "--results", str(tmp_path / "none")], "no results store")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written, not even OUT


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["site", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--sweep" in text and "file://" in text
