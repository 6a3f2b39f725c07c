"""Hostile input, class 3 (issue 26): markup and terminal control from untrusted strings. Class
labels, file and folder names, a model's metadata and the store's names reach a terminal, rich
markup and markdown; in each they read as text. In a real pseudo-terminal nothing but rich's own
styling starts with ESC; the markdown, rendered to HTML and opened in real Chromium, runs no
script and has no heading, link or table cell of the data's making."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from pathlib import Path

import pytest
from hostile_text import HOSTILE, commands_in, run_in_pty, write_model
from markdown_it import MarkdownIt
from realfiles import ROOT, write_image

from harness.cli.main import main
from harness.escape import code, markdown, markup, terminal

# GitHub's reading of markdown as far as it matters here: CommonMark with raw HTML passed
# through (a preview that does not sanitise), tables and strikethrough.
MARKDOWN = MarkdownIt("commonmark").enable("table").enable("strikethrough")


def _chromium(html: str) -> dict:
    """`html` opened in headless Chromium: whether a script ran, and what the page holds."""
    from playwright.sync_api import sync_playwright

    from harness.runtimes.base import chromium_path
    from harness.runtimes.js import CHROMIUM_ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_content(f"<!doctype html><html><body>{html}</body></html>", wait_until="load")
            page.wait_for_timeout(300)  # an <img src=x onerror> fires once its load has failed
            return page.evaluate(
                """() => ({
                    pwned: window.pwned === 1,
                    elements: [...document.querySelectorAll('img, script, iframe, a, h1, h2, h3, h4, del, code')]
                        .map(e => [e.tagName.toLowerCase(), e.textContent]),
                    rows: [...document.querySelectorAll('table')].map(t =>
                        [...t.querySelectorAll('tr')].map(r => r.children.length)),
                    text: document.body.innerText,
                })"""
            )
        finally:
            browser.close()


def _tags(page: dict, *tags: str) -> list[str]:
    return [text for tag, text in page["elements"] if tag in tags]


def _assert_inert(page: dict, *, like: dict | None = None) -> None:
    """No script ran, no element of the data's making (none but those of `like`, the same document
    with ordinary strings), every table row as wide as its header."""
    assert not page["pwned"]
    for tag in ("img", "script", "iframe", "a", "del"):
        assert len(_tags(page, tag)) == (len(_tags(like, tag)) if like else 0), tag
    assert not [h for h in _tags(page, "h1", "h2", "h3", "h4") if "forged" in h]
    assert all(len(set(rows)) == 1 for rows in page["rows"]), page["rows"]


def test_the_probe_sees_an_unescaped_case():
    """The check itself works: the same strings, not escaped, run the script and forge a heading."""
    page = _chromium(MARKDOWN.render(f"- {HOSTILE['script']}\n{HOSTILE['heading']}\n"))
    assert page["pwned"] and "forged heading" in _tags(page, "h2")


@pytest.mark.parametrize("name", HOSTILE)
def test_each_case_escaped_is_one_line_of_text_everywhere(name):
    text = HOSTILE[name]
    for shown in (terminal(text), markup(text)):
        assert "\n" not in shown and not commands_in(shown), shown
    cell = f"| a | b |\n|---|---|\n| {markdown(text, starts_line=True)} | {code(text, cell=True)} |\n"
    html = MARKDOWN.render(cell)
    assert "<img" not in html and "<h" not in html and "<a " not in html, html
    assert html.count("<td>") == 2, html


@pytest.mark.parametrize(
    "text",
    ["[pwn]: javascript:window.pwned=1", "* item", "x](javascript:1)", "a *em* _em_ ~~del~~ `code`", "1. one"],
)
def test_markdown_syntax_in_text_makes_no_element(text):
    """A definition, a list item, a link, emphasis, strikethrough, code: shown as written."""
    item = MARKDOWN.render(f"- {markdown(text, starts_line=True)}: value\n\n[pwn] and {markdown(text)}\n")
    assert not re.search(r"<(a|em|del|code|ol|li><ul)\b", item) and item.count("<li>") == 1, item
    assert text in item.replace("&quot;", '"').replace("&amp;", "&")


def _classifier(tmp_path: Path) -> Path:
    folder = tmp_path / HOSTILE["heading"]  # a data folder named to forge a line
    meta: dict[str, object] = {
        "task": HOSTILE["script"],
        "architecture": HOSTILE["link"],
        "trial_id": HOSTILE["title"],
        "data": {"dataset": HOSTILE["markup"], "source": str(folder), "splits": {"test": 3}, "description": "x"},
    }
    return write_model(tmp_path / "model.onnx", classes=list(HOSTILE.values()), meta=meta)


def test_predict_in_a_terminal_shows_labels_and_file_names_as_text(tmp_path):
    model = _classifier(tmp_path)
    images = tmp_path / "images"
    for name in HOSTILE.values():
        write_image(images / f"{name.replace('/', '_')}.png", mode="L", size=(8, 8))
    code_, out = run_in_pty(["predict", str(model), str(images), "--top", str(len(HOSTILE))], cwd=tmp_path)
    assert code_ == 0, out
    assert commands_in(out) == []
    assert "\\x1b]0;pwned\\x07dog" in out and "cat\\n## forged heading" in out and "photo\\u202egpj.exe" in out
    assert not any(line.lstrip("│ ").startswith("## forged") for line in out.splitlines())
    assert "horse" in out and "[link=https://evil.example]" in out  # the markup shown, no link made


def test_predict_json_keeps_the_labels_as_they_are(tmp_path, capsys):
    model = _classifier(tmp_path)
    write_image(tmp_path / "one.png", mode="L", size=(8, 8))
    assert main(["predict", str(model), str(tmp_path / "one.png"), "--json"]) == 0
    (prediction,) = json.loads(capsys.readouterr().out)
    assert prediction["top"][0][0] == HOSTILE["script"]  # JSON escapes what it must itself


def test_card_in_a_terminal_shows_metadata_as_text(tmp_path):
    code_, out = run_in_pty(["card", str(_classifier(tmp_path)), "--results", str(tmp_path / "none")], cwd=tmp_path)
    assert code_ == 0, out
    assert commands_in(out) == []
    assert "\\x1b]8;;https://evil.example/" in out and "## forged heading" in out
    assert not any(line.lstrip("│ ").startswith("## forged") for line in out.splitlines())


def test_the_cards_markdown_runs_no_script_and_forges_no_heading(tmp_path, capsys):
    assert main(["card", str(_classifier(tmp_path)), "--format", "markdown", "--results", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert commands_in(text) == []
    page = _chromium(MARKDOWN.render(text))
    _assert_inert(page)
    assert _tags(page, "h2") == ["Model", "Data", "Training", "Evaluation", "Preprocessing", "Verification"]
    assert HOSTILE["script"] in page["text"] and "\\x1b]0;pwned\\x07dog" in page["text"]


def test_the_runtime_matrix_markdown_and_table_keep_a_runtimes_words_as_text():
    from harness.views.console import SafeConsole
    from harness.views.runtimes import matrix_markdown, render_matrix

    row = {
        "runtime": "onnxruntime-web",
        "status": "error",
        "version": HOSTILE["markup"],
        "provider": HOSTILE["heading"],
        "precision": None,
        "n": 10,
        "gate": None,
        "max_abs_diff": None,
        "top1_agreement": None,
        "torch_metric": None,
        "metric": None,
        "torch_psnr": None,
        "psnr": None,
        "b1_round_ms": [],
        "informational": False,
        "gate_passed": None,
        "note": f"{HOSTILE['script']} {HOSTILE['clear']}",
        "b1_p50_ms": None,
        "b1_spread_ms": None,
    }
    page = _chromium(MARKDOWN.render(matrix_markdown([row])))  # type: ignore[list-item]
    _assert_inert(page)
    out = io.StringIO()
    SafeConsole(file=out, force_terminal=True, width=200).print(render_matrix([row]))  # type: ignore[list-item]
    assert commands_in(out.getvalue()) == [] and "https://evil.example" in out.getvalue()


def test_the_console_backstop_writes_no_control_that_rich_did_not_make():
    """Text that reached rich unescaped (Text, a renderable of someone else's) still cannot
    command the terminal: the console writes its ESC as `\\x1b`; rich's own colours stay."""
    from rich.console import Console
    from rich.text import Text

    from harness.views.console import SafeConsole

    text = Text("".join(HOSTILE.values()), style="red")
    plain, safe = io.StringIO(), io.StringIO()
    Console(file=plain, force_terminal=True, width=400).print(text)
    SafeConsole(file=safe, force_terminal=True, width=400).print(text)
    assert commands_in(plain.getvalue())  # rich alone passes them through
    assert commands_in(safe.getvalue()) == []
    assert "\x1b[31m" in safe.getvalue() and "\\x1b]0;pwned" in safe.getvalue()  # rich drops a BEL itself


def _hostile_rows(tmp_path: Path) -> Path:
    """The committed reproduction rows with the data's strings replaced by the cases: a data-dir
    named to run script and forge a heading, a task, a recipe, a network, a CPU's name."""
    doc = json.loads((ROOT / "docs" / "reproduction.json").read_text())
    data_dir = f"/data/{HOSTILE['script']}{HOSTILE['heading']}"
    ran = next(r for report in doc["reports"] for r in report["rows"] if r.get("data"))
    ran["data"]["source"] = data_dir
    ran["data"]["caveats"] = [HOSTILE["heading"], "a | b"]
    ran["command"] += f" --data-dir '{data_dir}'"
    ran["task"] = HOSTILE["link"] + "`x`"
    ran["recipe"] = HOSTILE["script"] + " | cell"
    ran["arch"] = 'cnn`<img src=x onerror="window.pwned=1">`'
    ran["hardware"] = HOSTILE["title"] + HOSTILE["heading"]
    ran["notes"] = "[a link](javascript:window.pwned=1) ~~struck~~ *em*"
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps(doc))
    return rows


def test_the_reproduction_report_keeps_every_string_as_text(tmp_path, capsys):
    rows = _hostile_rows(tmp_path)
    out = tmp_path / "doc.md"
    assert main(["report", "--from", str(rows), "--out", str(out)]) == 0
    capsys.readouterr()
    text = out.read_text()
    assert commands_in(text) == []
    page = _chromium(MARKDOWN.render(text))
    original = _chromium(MARKDOWN.render((ROOT / "docs" / "reproduction.md").read_text()))
    _assert_inert(page, like=original)  # the learning curves' images are the document's own
    assert len(_tags(page, "h1", "h2", "h3")) == len(_tags(original, "h1", "h2", "h3"))  # none forged
    assert [len(rows) for rows in page["rows"]] == [len(rows) for rows in original["rows"]]  # no row added
    assert "[a link](javascript:window.pwned=1) ~~struck~~ *em*" in page["text"]


def test_an_error_naming_a_hostile_file_is_one_line(tmp_path):
    missing = tmp_path / f"{HOSTILE['heading']}{HOSTILE['title']}.onnx"
    code_, out = run_in_pty(["predict", str(missing), str(tmp_path)], cwd=tmp_path)
    assert code_ == 2 and commands_in(out) == [] and out.strip().count("\n") == 0, out
    assert out.startswith("\x1b[1;31merror: ") and "Traceback" not in out


def test_the_stores_names_are_text_in_leaderboard_and_show(swept_copy, tmp_path, capsys):
    """A store whose network and optimizer names carry the cases (a plugin may register any
    name), and an export recorded without PyTorch's latency: the leaderboard's table and
    markdown and `show` read them as text, and `show` prints a dash for the missing figure."""
    db = sqlite3.connect(swept_copy / "harness.db")
    trial = db.execute("SELECT trial_id FROM exports LIMIT 1").fetchone()[0]
    db.execute("UPDATE trials SET arch = ?, optimizer = ? WHERE id = ?", (HOSTILE["script"], HOSTILE["title"], trial))
    for export_id, details in db.execute("SELECT id, details_json FROM exports").fetchall():
        figures = json.loads(details or "{}")
        (figures.get("latency") or {}).pop("torch_b1_p50_ms", None)
        db.execute("UPDATE exports SET details_json = ? WHERE id = ?", (json.dumps(figures), export_id))
    db.commit()
    db.close()
    assert main(["leaderboard", "--results", str(swept_copy), "--format", "markdown"]) == 0
    page = _chromium(MARKDOWN.render(capsys.readouterr().out))
    _assert_inert(page)
    assert HOSTILE["script"] in page["text"]
    for argv in (["leaderboard"], ["show", trial]):
        code_, out = run_in_pty([*argv, "--results", str(swept_copy)], cwd=tmp_path)
        assert code_ == 0 and commands_in(out) == [] and "\\x1b]0;pwned\\x07dog" in out, out
    assert "Traceback" not in out and "ms" in out  # the export's row, its PyTorch figure a dash


def test_the_committed_document_is_unchanged_by_escaping_but_for_code_shown_as_text():
    """Escaping keeps ordinary names as they were (`val_acc`, `cnn4_bn`): no note of
    docs/reproduction.md holds a backtick that escaping would show as text."""
    text = (ROOT / "docs" / "reproduction.md").read_text()
    assert "`cnn4_bn_mlp`" in text and "val_acc" in text and "\\_" not in text
    assert text.count("\\`") == 0
