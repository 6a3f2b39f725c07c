"""`harness site OUT/`: a static site of the store, opened from `file://` or any static host.

```
OUT/.harness-site          what makes OUT a site of ours (a rebuild replaces only such a folder)
OUT/index.html             the tasks and sweeps
OUT/site.css, sort.js      the style; the board's sort (plain JS, nothing fetched)
OUT/boards/TASK.html       a task's leaderboard (of the whole store, or TASK.SWEEP.html per --sweep)
OUT/trials/ID.html         a trial: facts, test figure with its interval, epochs, curves, confusion, config
OUT/sweeps/ID.html         a sweep: its record and `harness analyze`'s tables and figures
OUT/exports/export-N.html  an exported file: its card, verifications, runtime matrix
OUT/models/export-N/       the file's model page (`harness web`; needs HTTP, its link says so)
OUT/reproduction.html      docs/reproduction.md, rendered from the store's rows
```

The rows come from the same builders as the terminal (harness.results.leaderboard, show,
analyze; harness.report), never recomputed here. Everything is written first to a hidden
folder inside OUT, then moved into place file by file (a rename each): a failure before that
leaves OUT as it was, and pages named by id keep their links across rebuilds.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness import __version__
from harness.errors import HarnessError
from harness.escape import html
from harness.paths import safe_name
from harness.safefile import TEMP_PREFIX, refuse_links, subfolder, write_text
from harness.views import site_pages as pages

if TYPE_CHECKING:
    from harness.results.boards import Board
    from harness.store.db import Store
    from harness.store.rows import ExportRow, SweepListRow

MARKER = ".harness-site"
SITE_HINT = "pass --out a new or empty folder, or a folder `harness site` wrote before"
PAGE_NEEDS_HTTP = (
    "it runs the model with onnxruntime-web (WASM), which browsers load over HTTP only: serve the site's "
    "folder (python -m http.server -d OUT, then http://localhost:8000/) to open it; the rest of the site works from file://"
)


@dataclass
class Built:
    """What a build wrote: counts of pages by kind, and files in all."""

    pages: dict[str, int] = field(default_factory=dict)
    files: int = 0
    model_pages: int = 0
    notes: list[str] = field(default_factory=list)


def check_out(out: Path) -> None:
    """Refuse, in one line and before anything is written, an OUT that is a link, a file, or a
    folder that holds something but no site of ours."""
    if out.is_symlink():
        raise HarnessError(f"site folder {str(out)!r} is a symbolic link (to {os.readlink(out)!r})", SITE_HINT)
    if out.exists() and not out.is_dir():
        raise HarnessError(f"site folder {str(out)!r} is a file, not a folder", SITE_HINT)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise HarnessError(f"site folder {str(out)!r} holds files and is not a site `harness site` wrote", SITE_HINT)


def build_site(
    store: Store,
    out: Path,
    *,
    sweeps: list[str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
    ort_web: Path | None = None,
) -> Built:
    """Write the site of `store` (its sweeps `sweeps`, or all) into `out` (checked by `check_out`)."""
    check_out(out)
    chosen = [store.sweep(s)["id"] for s in sweeps] if sweeps else None  # unknown ids fail here
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    stage = out / f"{TEMP_PREFIX}site-{secrets.token_hex(6)}"
    stage.mkdir()
    try:
        built = _render(store, stage, chosen=chosen, progress=progress, ort_web=ort_web)
        progress("moving the pages into place")
        built.files = _publish(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    shutil.rmtree(stage, ignore_errors=True)
    return built


def _publish(stage: Path, out: Path) -> int:
    """Every staged file renamed to its place in `out`: a link at any final name is refused
    before the first is moved; the marker goes first, so a folder half-moved is still ours."""
    files = sorted(p.relative_to(stage) for p in stage.rglob("*") if p.is_file())
    refuse_links((out / rel for rel in files), what="site file")
    write_text(out / MARKER, json.dumps({"harness": __version__, "format": 1}) + "\n", what="site file")
    for rel in files:
        folder = out
        for part in rel.parts[:-1]:
            folder = subfolder(folder, part, what="site folder")
        os.replace(stage / rel, folder / rel.name)
    return len(files) + 1


def _write(stage: Path, rel: str, text: str) -> None:
    path = stage / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text, what="site file")


def _render(
    store: Store, stage: Path, *, chosen: list[str] | None, progress: Callable[[str], None], ort_web: Path | None
) -> Built:
    from harness.results.leaderboard import leaderboards

    built = Built()
    for name, text in pages.ASSETS.items():
        _write(stage, name, text)
    sweep_rows = [s for s in store.sweeps() if chosen is None or s["id"] in chosen]
    progress("ranking the boards")
    boards: list[tuple[str | None, Board]] = (
        [(None, b) for b in leaderboards(store)]
        if chosen is None
        else [(s, b) for s in chosen for b in leaderboards(store, sweep_id=s)]
    )
    trial_ids = [t["id"] for s in sweep_rows for t in store.sweep_trials(s["id"])]
    trial_href = {t: f"../trials/{pages.page_name(t)}.html" for t in trial_ids}
    board_links = []
    for sweep_id, board in boards:
        name = pages.page_name(board["task"] if sweep_id is None else f"{board['task']}.{sweep_id}")
        title = f"{board['task']}: leaderboard" + (f" of sweep {sweep_id}" if sweep_id else "")
        body = pages.board_table(board, trial_href=trial_href)
        _write(stage, f"boards/{name}.html", pages.frame(title, body, root="../", scripts=["sort.js"]))
        board_links.append((f"boards/{name}.html", board, sweep_id))
    built.pages["boards"] = len(boards)
    exports = _trials(store, stage, trial_ids, progress=progress, built=built)
    _exports(store, stage, exports, progress=progress, built=built, ort_web=ort_web)
    for i, sweep in enumerate(sweep_rows, 1):
        progress(f"analysing sweep {i}/{len(sweep_rows)} ({sweep['id']})")
        _sweep(store, stage, sweep, trial_href=trial_href)
    built.pages["sweeps"] = len(sweep_rows)
    progress("rendering the reproduction document")
    _reproduction(store, stage)
    _write(stage, "index.html", _index(store, board_links, sweep_rows))
    return built


def _trials(
    store: Store, stage: Path, trial_ids: list[str], *, progress: Callable[[str], None], built: Built
) -> list[tuple[str, ExportRow]]:
    """A page per trial, with its curves and confusion matrix as PNGs; returns its exports."""
    from harness.results.show import trial_report
    from harness.views.plots import write_pngs

    exports: list[tuple[str, ExportRow]] = []
    folder = stage / "trials"
    folder.mkdir()
    for i, trial_id in enumerate(trial_ids, 1):
        progress(f"trial {i}/{len(trial_ids)}: figures and page")
        report = trial_report(store, trial_id)
        images = [p.name for p in write_pngs(report, folder)]
        rows = store.exports(trial_id)
        exports += [(trial_id, x) for x in rows]
        links = [(f"../exports/export-{x['id']}.html", Path(x["path"]).name) for x in rows]
        sweep_href = f"../sweeps/{pages.page_name(report['trial']['sweep_id'])}.html"
        body = pages.trial_body(report, root="../", images=images, exports=links, sweep_href=sweep_href)
        _write(stage, f"trials/{pages.page_name(trial_id)}.html", pages.frame(f"trial {trial_id}", body, root="../"))
    built.pages["trials"] = len(trial_ids)
    return exports


def _exports(
    store: Store,
    stage: Path,
    exports: list[tuple[str, ExportRow]],
    *,
    progress: Callable[[str], None],
    built: Built,
    ort_web: Path | None,
) -> None:
    """A page per exported file: its card and runtime matrix, and its model page where the file
    is still there and onnxruntime-web is installed (else a line saying how to make one)."""
    from harness.export.card import build_card
    from harness.runtimes.predict import open_session, read_metadata
    from harness.runtimes.webpage import ort_web_dist, write_page

    try:
        dist: Path | None = ort_web_dist(ort_web)
        missing = ""
    except HarnessError as exc:
        dist, missing = None, str(exc)
    for i, (trial_id, x) in enumerate(exports, 1):
        progress(f"exported file {i}/{len(exports)}: card and model page")
        path, name = Path(x["path"]), f"export-{x['id']}"
        back = f"<p>{pages.link('../trials/' + pages.page_name(trial_id) + '.html', 'trial ' + trial_id)}</p>\n"
        try:
            card = build_card(path, meta=read_metadata(open_session(path), path), store=store)
        except (HarnessError, OSError) as exc:  # the file moved or changed since: the store's row only
            body = back + pages.note(f"the file {x['path']} cannot be read now ({exc}); the store's record:")
            body += pages.pairs((k, v) for k, v in x.items() if k != "details_json")
            _write(stage, f"exports/{name}.html", pages.frame(path.name, body, root="../"))
            continue
        page = model = None
        if dist is not None:
            write_page(path, stage / "models" / name, ort_web_dir=dist)
            page, model = f"../models/{name}/index.html", f"../models/{name}/model.onnx"
            built.model_pages += 1
            page_note = PAGE_NEEDS_HTTP
        else:
            page_note = f"no model page: {missing} (then build the site again, or run `harness web FILE DIR`)"
        body = back + pages.card_body(card, page=page, model=model, page_note=page_note)
        _write(stage, f"exports/{name}.html", pages.frame(f"{path.name}: model card", body, root="../"))
    built.pages["exports"] = len(exports)


def _sweep(store: Store, stage: Path, sweep: SweepListRow, *, trial_href: dict[str, str]) -> None:
    """A sweep's record, its trials, and `harness analyze`'s tables and PNG figures."""
    from harness.results.analyze import analyze_sweep
    from harness.views.plots import ANALYSIS_FIGURES, write_analysis_pngs

    analyses = analyze_sweep(store, sweep["id"])
    folder = stage / "sweeps"
    folder.mkdir(exist_ok=True)
    written = {p.name for p in write_analysis_pngs(analyses, folder)} if analyses else set()
    facts = [(k, sweep.get(k)) for k in ("id", "task", "status", "created_at", "finished_at", "seed")]
    trials = store.sweep_trials(sweep["id"])
    rows = [
        [pages.link(trial_href[t["id"]], t["id"]), html(t["status"]), str(t["epochs_run"]), html(t["error"] or "")]
        for t in trials
    ]
    body = pages.pairs(facts, caption="the sweep") + pages.pre(sweep["command"])
    body += pages.table(["trial", "status", "epochs", "error"], rows, caption="its trials", raw=True)
    for a in analyses:
        stem = safe_name(f"{a['sweep_id']}_{a['task']}")
        images = [f"{stem}_{k}.png" for k in ANALYSIS_FIGURES if f"{stem}_{k}.png" in written]
        body += pages.analysis_body(a, images=images, trial_href=trial_href)
    body += "<h2>Environment</h2>\n" + pages.pre(json.dumps(json.loads(sweep["environment_json"]), indent=1))
    _write(stage, f"sweeps/{pages.page_name(sweep['id'])}.html", pages.frame(f"sweep {sweep['id']}", body, root="../"))


def _reproduction(store: Store, stage: Path) -> None:
    """docs/reproduction.md from the store's rows (harness report), as HTML: markdown-it (which
    rich already needs) with raw HTML off, so the document's escaped text stays text; its
    learning curves beside it."""
    from markdown_it import MarkdownIt

    from harness.datasets import resolve_data_root
    from harness.report.reproduction import collect
    from harness.views.report import render, write_curves

    doc = collect(store, data_root=str(resolve_data_root(None)))
    write_curves(doc, stage)
    text = render(doc, source="this store, by `harness site`")
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    _write(stage, "reproduction.html", pages.frame("The five reports, re-run", body, root=""))


def _index(store: Store, board_links: list[tuple[str, Board, str | None]], sweeps: list[SweepListRow]) -> str:
    boards = [
        [pages.link(href, b["task"]), html(sweep or "all"), str(len(b["rows"])), html(b["metric"])]
        for href, b, sweep in board_links
    ]
    rows = [
        [
            pages.link(f"sweeps/{pages.page_name(s['id'])}.html", s["id"]),
            html(s["task"]),
            html(s["status"]),
            html(s["created_at"]),
            html(", ".join(f"{n} {k}" for k, n in sorted(s["trials"].items()))),
        ]
        for s in sweeps
    ]
    body = pages.note(f"built by harness {__version__} from {store.path}")
    body += pages.table(["task", "sweep", "rows", "metric"], boards, caption="leaderboards", raw=True)
    body += pages.table(["sweep", "task", "status", "created", "trials"], rows, caption="sweeps", raw=True)
    body += f"<p>{pages.link('reproduction.html', 'the reproduction document')}</p>\n"
    return pages.frame("harness results", body, root="")
