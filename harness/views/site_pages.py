"""`harness site`'s pages as HTML text: the frame every page shares, the board, a trial, a sweep's
analysis, an exported file's card. Pure: plain data in, a string out (harness.views.site reads
the store and writes the files).

Every string from the store, a file's metadata or a path goes through `harness.escape.html` (a
label `<script>` or a file name `"onmouseover=` stays text); the markup around it is ours. Links
are relative, so the folder opens from `file://` or any static host, and name pages by id
(`page_name`), so they stay valid when the site is built again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from harness.escape import html
from harness.formats import DASH, metric, pct, plural, sig3
from harness.paths import safe_name
from harness.views.leaderboard import REFERENCE_HEADERS, SIGNIFICANCE_NOTE, board_cells, board_fields, reference_texts

if TYPE_CHECKING:
    from harness.export.documents import ModelCard
    from harness.results.analyze import Analysis
    from harness.results.boards import Board
    from harness.results.show import TrialReport

STYLE = """\
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 110em; padding: 0 1em; color: #222 }
nav { margin-bottom: 1em } nav a { margin-right: 1em }
table { border-collapse: collapse; margin: .6em 0 1.2em } caption { text-align: left; font-weight: bold }
th, td { border: 1px solid #ccc; padding: .2em .5em; vertical-align: top } th { background: #f3f3f3 }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap }
table.sortable th { cursor: pointer }
th[data-dir=asc]::after { content: " \\25b2" } th[data-dir=desc]::after { content: " \\25bc" }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto } img { max-width: 100%; border: 1px solid #ddd }
.note { color: #666 }
"""

# Click a header: the rows sort by its column (numbers by their data-value, else by text; a
# missing value last either way); click again: the other way. No framework, nothing fetched.
SORT_JS = """\
// harness site: a board's rows sorted by the column whose header is clicked (again: reversed).
document.querySelectorAll("table.sortable").forEach((table) => {
  const heads = [...table.tHead.rows[0].cells];
  heads.forEach((th, col) => th.addEventListener("click", () => {
    const dir = th.dataset.dir === "asc" ? -1 : 1;
    heads.forEach((h) => delete h.dataset.dir);
    th.dataset.dir = dir === 1 ? "asc" : "desc";
    const key = (row) => {
      const cell = row.cells[col];
      if (cell.dataset.value === undefined) return cell.textContent.trim();
      const value = JSON.parse(cell.dataset.value);
      return typeof value === "number" ? value : null;
    };
    const body = table.tBodies[0];
    const rows = [...body.rows].sort((a, b) => {
      const x = key(a), y = key(b);
      if (x === null || y === null) return (x === null) - (y === null);
      return dir * (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y)));
    });
    rows.forEach((row) => body.appendChild(row));
  }));
});
"""

# The site's own files beside the pages
ASSETS = {"site.css": STYLE, "sort.js": SORT_JS}


def page_name(key: object) -> str:
    """A page's file name (no suffix) from an id: the id itself where it is a safe name, else its
    safe form and a hash of the id, so two ids never share a page and a rebuild names it alike."""
    text = str(key)
    safe = safe_name(text, limit=80)
    return safe if safe == text else f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def frame(title: str, body: str, *, root: str, scripts: Sequence[str] = ()) -> str:
    """A whole page: `root` is the way back to the site's top ("" or "../")."""
    tags = "".join(f'<script src="{root}{name}" defer></script>' for name in scripts)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{html(title)}</title><link rel="stylesheet" href="{root}site.css">{tags}</head>\n<body>\n'
        f'<nav><a href="{root}index.html">index</a><a href="{root}reproduction.html">reproduction</a></nav>\n'
        f"<h1>{html(title)}</h1>\n{body}\n</body></html>\n"
    )


def link(href: str, text: object) -> str:
    """`href` is ours (a relative path built from `page_name`s); `text` is escaped."""
    return f'<a href="{html(href)}">{html(text)}</a>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str = "", raw: bool = False) -> str:
    """A plain table; cells escaped unless `raw` (cells already HTML, made by the caller)."""
    cell = (lambda c: c) if raw else html
    head = "".join(f"<th>{html(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>\n" for row in rows)
    cap = f"<caption>{html(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>\n"


def pairs(items: Iterable[tuple[str, object]], *, caption: str = "") -> str:
    """A two-column table of what and value."""
    return table(("what", "value"), ((k, DASH if v is None else str(v)) for k, v in items), caption=caption)


def pre(text: object) -> str:
    return f"<pre>{html(text)}</pre>\n"


def note(text: object) -> str:
    return f'<p class="note">{html(text)}</p>\n'


def image(src: str, alt: object) -> str:
    return f'<p><img src="{html(src)}" alt="{html(alt)}"></p>\n'


# ------------------------------------------------------------------------------ the board


def board_headers(board: Board) -> dict[str, str]:
    """The column headers the terminal table gives the board's fields."""
    test = "test_" + board["metric"].split("_", 1)[-1]
    ci = " [95% CI]"
    return {
        "rank": "#",
        "trial_id": "trial",
        "best_metric": board["metric"] + (ci if any(r.get("best_ci95_low") is not None for r in board["rows"]) else ""),
        "test_metric": test + (ci if any(r.get("ci95_low") is not None for r in board["rows"]) else ""),
        "best_metric_std": f"{board['metric']} std",
        "test_metric_std": f"{test} std",
        "mean_epoch_time_s": "s/epoch",
        "mean_samples_per_s": "img/s",
        "marks": "run",
        "onnx_ms": "onnx ms (× torch)",
        "fastest": "fastest deployment (batch 1)",
    }


def board_fields_shown(board: Board) -> list[str]:
    """The board's columns: the terminal table's and the markdown's (`board_fields`), with the
    data column where the split or image size varies."""
    # as the terminal table: no race to a target where the task has no published figure
    dropped = {"onnx_speedup", *(() if board["target"] else ("time_to_target_s",))}
    fields = [f for f in board_fields(board) if f not in dropped]
    cells = board_cells(board)
    if any(cells["data"](row) for row in board["rows"]):
        fields.insert(fields.index("best_metric"), "data")
    return fields


def _value(raw: object) -> str:
    """A cell's sortable value: its number as JSON (exactly the JSON board's), null for none."""
    return html(json.dumps(raw)) if raw is None or isinstance(raw, (int, float)) else ""


def board_table(board: Board, *, trial_href: dict[str, str]) -> str:
    """The board's rows as a sortable table: each cell the terminal's text, each number's exact
    value in `data-value` (what the sort reads, and what `harness leaderboard --format json` says)."""
    fields, cells, headers = board_fields_shown(board), board_cells(board), board_headers(board)
    cells["trial_id"] = lambda r: r.get("trial") or r["trial_id"]  # the short id, where it is unambiguous
    head = "".join(
        f'<th data-field="{f}" title="sort by this column">{html(headers.get(f, f.replace("_", " ")))}</th>'
        for f in fields
    )
    lines = []
    for row in board["rows"]:
        tds = []
        for f in fields:
            text = cells[f](row)
            raw = row.get(f)
            value = _value(raw)
            attr = f' data-value="{value}"' if value else ""
            kind = ' class="n"' if value else ""
            shown = (
                link(trial_href[row["trial_id"]], text)
                if f == "trial_id" and row["trial_id"] in trial_href
                else html(text)
            )
            tds.append(f'<td data-field="{f}"{attr}{kind}>{shown}</td>')
        lines.append(f'<tr data-trial="{html(row["trial_id"])}">{"".join(tds)}</tr>\n')
    title = f"best {board['metric']} ({board['mode']}){', mean over seeds' if board['grouped'] else ''}"
    out = (
        f'<table class="sortable board"><caption>{html(title)}; click a header to sort</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>\n{''.join(lines)}</tbody></table>\n"
    )
    if board["references"]:
        out += "<h2>Published (REPORTS.md) vs our runs of the same network, data and epochs</h2>\n"
        out += table(REFERENCE_HEADERS, (reference_texts(ref) for ref in board["references"]))
        out += note(SIGNIFICANCE_NOTE)
    return out


# ------------------------------------------------------------------------------ a trial


TRIAL_FACTS = (
    "sweep_id", "task", "arch", "optimizer", "lr", "batch_size", "epochs", "seed", "status", "error", "params",
    "device", "precision", "gpu_ids", "node", "best_epoch", "cpu_s", "gpu_s", "notes",
)  # fmt: skip


def test_lines(report: TrialReport) -> list[tuple[str, str]]:
    """The best checkpoint's test figures, each with its 95% interval and how many images."""
    test = report["test"]
    if not test:
        return [("test", "not scored on the test split (the trial stopped before its last epoch)")]
    ci = test.get("ci95") or {}
    out = []
    for key, value in test.items():
        if key in ("epoch", "n", "ci95") or not isinstance(value, (int, float)):
            continue
        name = f"test_{key}"
        bounds = ci.get(key)
        interval = f" [95% CI {metric(bounds[0], name)}, {metric(bounds[1], name)}]" if bounds else ""
        out.append(
            (name, f"{metric(value, name)}{interval}, on {test.get('n', '?')} test images, epoch {test.get('epoch')}")
        )
    return out


def trial_body(
    report: TrialReport, *, root: str, images: Sequence[str], exports: Sequence[tuple[str, str]], sweep_href: str
) -> str:
    trial = report["trial"]
    facts = [(k, trial.get(k)) for k in TRIAL_FACTS]  # type: ignore[misc]
    parts = [
        f"<p>{link(sweep_href, 'sweep ' + trial['sweep_id'])}</p>\n",
        pairs(facts, caption="the trial"),
        pairs(test_lines(report), caption="its best checkpoint on the test split"),
    ]
    parts += [image(name, f"figure of trial {trial['id']}") for name in images]
    epochs = report["epochs"]
    if epochs:
        keys = list(dict.fromkeys(k for e in epochs for k in e))
        parts.append(table(keys, ([_num(e.get(k)) for k in keys] for e in epochs), caption="every epoch"))
    if exports:
        items = "".join(f"<li>{link(href, name)}</li>" for href, name in exports)
        parts.append(f"<h2>Exported files</h2><ul>{items}</ul>\n")
    parts += ["<h2>Config</h2>\n", pre(json.dumps(report["config"], indent=1, sort_keys=True))]
    if report["traceback"]:
        parts += ["<h2>Error</h2>\n", pre(report["traceback"])]
    return "".join(parts)


def _num(value: object) -> str:
    if value is None:
        return DASH
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# ------------------------------------------------------------------------------ a sweep's analysis


def analysis_body(a: Analysis, *, images: Sequence[str], trial_href: dict[str, str]) -> str:
    """`harness analyze`'s importance, the metric by learning rate, time to target and the best trials."""
    from harness.results.analyze import label

    settings = ", ".join(f"{k} ({len(v)})" for k, v in a["varying"].items()) or "none"
    parts = [
        f"<h2>{html(a['task'])}</h2>\n",
        note(
            f"{plural(a['trials'], 'trial')}, {a['usable']} trained normally; settings that vary (values): {settings}"
        ),
    ]
    imp = a["importance"]
    caption = "what mattered: fANOVA importance, each setting's share of the metric's variation"
    if imp["note"]:
        parts.append(note(f"{caption}: {imp['note']}"))
    else:
        heads = ["setting", *(f"{n} ({plural(imp['trials'][n], 'trial')})" for n in imp["columns"])]
        rows = [[str(r["param"]), *(pct(r[n]) for n in imp["columns"])] for r in imp["rows"]]  # type: ignore[literal-required]
        parts.append(table(heads, rows, caption=caption + "; each column sums to 100%"))
    lt = a["lr_table"]
    if lt["rows"]:
        cols = [
            f"{c['low']:.2g}-{c['high']:.2g}" if c["low"] != c["high"] else f"lr {c['lr']:g}" for c in lt["columns"]
        ]
        rows = [
            [
                r["arch"],
                r["optimizer"],
                *(f"{metric(c['mean'], a['metric'])} ({c['n']})" if c else DASH for c in r["cells"]),
            ]
            for r in lt["rows"]
        ]
        parts.append(table(["arch", "optimizer", *cols], rows, caption=f"{a['metric']} by learning rate (trials)"))
    if a["target"] is not None and a["time_to_target"]:
        rows = [
            [label(r["params"]) or "(one configuration)", f"{r['reached']}/{r['seeds']}", sig3(r["median_s"])]
            for r in a["time_to_target"]
        ]
        goal = metric(a["target"]["published"], a["metric"])
        parts.append(
            table(["configuration", "reached", "median s"], rows, caption=f"seconds to {a['metric']} >= {goal}")
        )
    if a["top"]:
        rows = [
            [link(trial_href[t["trial_id"]], t["trial"]) if t["trial_id"] in trial_href else html(t["trial"]),
             html(label(t["params"]) or DASH), str(t["seed"]), html(metric(t["metric"], a["metric"]))]
            for t in a["top"]
        ]  # fmt: skip
        parts.append(table(["trial", "configuration", "seed", a["metric"]], rows, caption="the best trials", raw=True))
    parts += [image(name, f"{a['task']} figure") for name in images]
    return "".join(parts)


# ------------------------------------------------------------------------------ an exported file


def card_body(card: ModelCard, *, page: str | None, model: str | None, page_note: str) -> str:
    """The file's card (harness.views.card's sections), its verifications, its runtime matrix, and
    the link to its model page (`harness web`), which needs HTTP: the link says so."""
    from harness.views.card import VERIFICATION_COLUMNS, sections
    from harness.views.runtimes import HEADERS, cells, notes
    from harness.views.runtimes import title as matrix_title

    parts = []
    if page:
        parts.append(f"<p>{link(page, 'the model page (harness web)')}: {html(page_note)}</p>\n")
    else:
        parts.append(note(page_note))
    if model:
        parts.append(f"<p>{link(model, 'the .onnx file')}</p>\n")
    parts += [pairs(rows, caption=name) for name, rows in sections(card)]
    verifications = card["verifications"]
    if verifications:
        rows = [
            [DASH if v.get(key) is None else write(v.get(key)) for key, _, write in VERIFICATION_COLUMNS]
            for v in verifications
        ]
        parts.append(table([h for _, h, _ in VERIFICATION_COLUMNS], rows, caption="verification"))
    else:
        parts.append(note("no verification of this file is recorded in the store"))
    checks = card["runtime_checks"]
    if checks:
        parts.append(table(HEADERS, (cells(row) for row in checks), caption=matrix_title(checks)))
        parts += [note(line) for line in notes(checks)]
    return "".join(parts)
