"""Boards -> what a person reads (rich tables, markdown) or a program reads (CSV).

Tables and markdown round as a person reads: accuracies as percentages with two decimals,
seconds and rates to three significant figures. CSV and JSON keep full precision. A ratio
whose two runtimes' spreads overlap is shown as "~" (no clear difference).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from rich.table import Table

from harness.escape import markdown, markup, terminal
from harness.formats import DASH, count, lr, metric, pct, pp, sig3
from harness.results.boards import FIELDS, Board, BoardRow, OnnxFigures, Reference
from harness.results.leaderboard import SORTS
from harness.results.ranking import test_score
from harness.views.runtimes import fastest_label
from harness.views.tables import fitted_table

# A table shows this many rows of each task unless --top or --all says otherwise: drawing every
# row of a 10,000-trial store takes rich 8-17 s, and the best rows are what a person reads first.
TABLE_ROWS = 20
GROUP_ONLY = ("n_seeds", "best_metric_std", "test_metric_std", "trial_ids")
# Fields that only explain another column, or that `marks`/`data` already show in words.
HIDDEN = (
    "data",
    "onnx_speedup_clear",
    # the intervals are shown in their figure's cell, "45.34% [44.36, 46.32]"
    "best_ci95_low",
    "best_ci95_high",
    "ci95_low",
    "ci95_high",
    "ci95_method",
    "vs_best_p",
    "onnx_runtimes",  # shown in the onnx cell
    "variant",
    "image_size",
    "train_limit",
    "planned_epochs",
    "trial",
    "gpu_ids",
    "precision",
)
ONNX_STYLE = {"verified": "green", "exported": "yellow", "failed": "bold red", None: "dim"}
GPU_NAME_NOISE = frozenset({"NVIDIA", "GeForce", "Tesla"})  # words every name of that vendor carries


def device_label(device: str | None, precision: str | None) -> str:
    """A trial's device as a table cell: "H200 bf16" for "cuda:0 NVIDIA H200", "cpu fp32" for
    any CPU, "fake GPU 1 fp32" for the test seam; the full strings are in JSON and CSV."""
    if device is None:
        return DASH
    kind, _, name = device.partition(" ")
    if kind.startswith("cuda"):
        short = " ".join(w for w in name.split() if w not in GPU_NAME_NOISE) or kind
    elif device.startswith("fake GPU"):
        short = device.split(" (", 1)[0]
    else:
        short = kind
    return f"{short} {precision}" if precision else short


def silent_costs(board: Board) -> frozenset[str]:
    """The cost columns with nothing to say on this board: CPU-seconds where no row recorded
    any (a store older than schema 8), GPU-seconds where no trial held a GPU, the costs to the
    target where the task has no published figure."""
    rows, silent = board["rows"], set()
    if all(r["cpu_s"] is None for r in rows):
        silent |= {"cpu_s", "cpu_s_to_target"}
    if all(r["gpu_s"] is None for r in rows):
        silent |= {"gpu_s", "gpu_s_to_target"}
    if board["target"] is None:
        silent |= {"cpu_s_to_target", "gpu_s_to_target"}
    return frozenset(silent)


def board_fields(board: Board) -> tuple[str, ...]:
    """The columns worth printing: per-seed columns only for a grouped board, `seed` otherwise;
    the run marks, the device and the fastest deployment only where some row has one; the costs where `silent_costs`
    leaves them."""
    some = {key: any(row.get(key) for row in board["rows"]) for key in ("marks", "device", "vs_best", "fastest")}
    silent = silent_costs(board)
    return tuple(
        f
        for f in FIELDS
        if (f != "seed" if board["grouped"] else f not in GROUP_ONLY)
        and f not in HIDDEN
        and f not in silent
        and some.get(f, True)
    )


def _title(board: Board) -> str:
    sort = "" if board["sort"] == "metric" else f", sorted by {board['sort']}"
    seeds = ", mean over seeds" if board["grouped"] else ""
    return f"{board['task']}: best {board['metric']} ({board['mode']}){sort}{seeds}"


def _figure(value: float | None, low: float | None, high: float | None, name: str) -> str:
    """ "72.90% [71.98, 73.81]": a figure and its 95% interval, in the figure's unit (percent for
    accuracies); the headers say "[95% CI]", so it cannot be read as a standard deviation."""
    if low is None or high is None or value is None:
        return metric(value, name)
    bounds = f"{100 * low:.2f}, {100 * high:.2f}" if name.endswith("acc") else f"{sig3(low)}, {sig3(high)}"
    return f"{metric(value, name)} [{bounds}]"


def _std(std: float | None, name: str) -> str:
    """A standard deviation over seeds, in percentage points for accuracies."""
    if std is None:
        return DASH
    return f"{100 * std:.2f} pp" if name.endswith("acc") else sig3(std)


def _versus(row: BoardRow) -> str:
    """`--compare-top`: "below #1 (p 0.003)"; "" for rows not compared."""
    if not row["vs_best"]:
        return ""
    return row["vs_best"] if row["vs_best_p"] is None else f"{row['vs_best']} (p {row['vs_best_p']:.2g})"


def onnx_cell(row: BoardRow) -> str:
    """The export's status, with the cross-runtime tally where a matrix ran: "verified, 5/5 runtimes"."""
    status = row["onnx"] or "none"
    return f"{status}, {row['onnx_runtimes']} runtimes" if row.get("onnx_runtimes") else status


def speedup(row: OnnxFigures) -> str:
    """onnxruntime's batch-1 ms and its ratio to PyTorch eager, "~" when the spreads overlap."""
    if row["onnx_ms"] is None:
        return DASH
    clear = row.get("onnx_speedup_clear", True)
    return f"{sig3(row['onnx_ms'])} ({row['onnx_speedup']:.1f}×)" if clear else f"{sig3(row['onnx_ms'])} (~)"


def _varying(board: Board) -> frozenset[str]:
    """Which of split (`variant`) and image size vary across the board's rows: asked once per
    board (asked per row, it made a 10,000-row table quadratic: 19 s)."""
    return frozenset(key for key in ("variant", "image_size") if len({r.get(key) for r in board["rows"]}) > 1)


def _data(row: BoardRow, *, varying: frozenset[str]) -> str:
    """Split and image size where they vary across the board's rows (`_varying`)."""
    parts = []
    if "variant" in varying and row.get("variant") is not None:
        parts.append(f"split {row['variant']}")
    if "image_size" in varying and row.get("image_size") is not None:
        parts.append(f"{row['image_size']} px")
    if row.get("data"):
        parts.append(str(row["data"]))
    return " ".join(parts)


def _cells(board: Board) -> dict[str, Callable[[BoardRow], str]]:
    """Per field, its cell as a person reads it."""
    name, test = board["metric"], test_score(board["metric"])
    varying = _varying(board)
    return {
        "rank": lambda r: str(r["rank"]),
        "trial_id": lambda r: r["trial_id"],
        "arch": lambda r: r["arch"],
        "optimizer": lambda r: r["optimizer"],
        "lr": lambda r: lr(r["lr"]),
        "batch_size": lambda r: count(r["batch_size"]),
        "epochs_run": lambda r: DASH if r["epochs_run"] is None else f"{r['epochs_run']:g}",
        "seed": lambda r: str(r["seed"]),
        "n_seeds": lambda r: str(r["n_seeds"]),
        "best_metric": lambda r: _figure(r["best_metric"], r["best_ci95_low"], r["best_ci95_high"], name),
        "best_metric_std": lambda r: _std(r["best_metric_std"], name),
        "test_metric": lambda r: _figure(r["test_metric"], r["ci95_low"], r["ci95_high"], test),
        "test_metric_std": lambda r: _std(r["test_metric_std"], test),
        "vs_best": lambda r: _versus(r),
        "mean_epoch_time_s": lambda r: sig3(r["mean_epoch_time_s"]),
        "mean_samples_per_s": lambda r: sig3(r["mean_samples_per_s"]),
        "params": lambda r: count(r["params"]),
        "time_to_target_s": lambda r: sig3(r["time_to_target_s"]),
        "cpu_s": lambda r: sig3(r["cpu_s"]),
        "gpu_s": lambda r: sig3(r["gpu_s"]),
        "cpu_s_to_target": lambda r: sig3(r["cpu_s_to_target"]),
        "gpu_s_to_target": lambda r: sig3(r["gpu_s_to_target"]),
        "status": lambda r: r["status"],
        "onnx": lambda r: onnx_cell(r),
        "onnx_ms": lambda r: speedup(r),
        "onnx_speedup": lambda r: DASH,
        "int8_change": lambda r: pp(r["int8_change"]),
        "fastest": lambda r: fastest_label(r["fastest"]) if r.get("fastest") else DASH,
        "trial_ids": lambda r: r["trial_ids"],
        "marks": lambda r: r["marks"] or "",
        "data": lambda r: _data(r, varying=varying),
        "device": lambda r: device_label(r["device"], r["precision"]),
    }


def board_cells(board: Board) -> dict[str, Callable[[BoardRow], str]]:
    """Per field, its cell as plain text, as the table and markdown show it (`harness site`
    escapes it for HTML)."""
    return _cells(board)


def head(board: Board, *, rows: int | None) -> tuple[Board, str | None]:
    """The board with its first `rows` rows only (all of them when None), and, when that left
    some out, the line that says how many and how to see them."""
    if rows is None or len(board["rows"]) <= rows:
        return board, None
    what = "configurations" if board["grouped"] else "trials"
    line = f"showing {rows} of {count(len(board['rows']))} {what} (--top N, --all)"
    return {**board, "rows": board["rows"][:rows]}, line


def board_markdown(board: Board) -> str:
    """A GitHub-flavoured markdown table of the board's trials, then its published references."""
    fields = [f for f in board_fields(board) if f != "onnx_speedup"]
    cells = _cells(board)
    if any(cells["data"](row) for row in board["rows"]):  # split and image size, where they vary
        fields.insert(fields.index("best_metric"), "data")
    # Cells are plain text from the store (task, arch and optimizer names, a folder's split):
    # escaped here for markdown, as render_board escapes them for rich markup.
    lines = [f"### {markdown(_title(board))}", "", "| " + " | ".join(fields) + " |", "|" + "---|" * len(fields)]
    lines += ["| " + " | ".join(markdown(cells[f](row)) for f in fields) + " |" for row in board["rows"]]
    if board["references"]:
        keys = REFERENCE_HEADERS
        lines += ["", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(_reference_cells(ref, styled=False)) + " |" for ref in board["references"]]
        lines += ["", f"*{SIGNIFICANCE_NOTE}.*"]
    return "\n".join(lines) + "\n"


def boards_csv(boards: list[Board]) -> str:
    """Every board's trials as one CSV (a `task` column first), for spreadsheets and pandas."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["task", *FIELDS], lineterminator="\n")
    writer.writeheader()
    for board in boards:
        for row in board["rows"]:
            # Ray's GPU ids as "0" or "0,1" ("" on the CPU), not a Python list's repr
            ids = row["gpu_ids"]
            line = {"task": board["task"], **row, "gpu_ids": None if ids is None else ",".join(ids)}
            # CSV has no escape for an ESC or a newline in a name, and it is printed to a terminal
            writer.writerow({k: terminal(v) if isinstance(v, str) else v for k, v in line.items()})
    return out.getvalue()


REFERENCE_HEADERS = (
    "report",
    "run",
    "network",
    "measure",
    "published",
    "ours",
    "difference",
    "vs published",
    "closest other run",
)


def reference_texts(ref: Reference) -> list[str]:
    """A reference's cells as plain text, in REFERENCE_HEADERS' order (`harness site` escapes
    them for HTML)."""
    diff = ref["difference"]
    ours = pct(ref["ours"]) if ref["trial_id"] else "no matching run"
    if ref["closest_trial_id"]:
        closest = f"{ref['closest_arch']} {pct(ref['closest'])} ({ref['closest_trial_id']}: {ref['closest_differs']})"
    else:
        closest = DASH
    shown = pp(diff) if diff is not None else DASH
    return [
        ref["report"],
        ref["run"],
        ref["arch"],
        ref["measure"],
        pct(ref["published"]),
        ours,
        shown,
        _significance(ref),
        closest,
    ]


def _reference_cells(ref: Reference, *, styled: bool) -> list[str]:
    """A reference's cells as rich markup (`styled`) or as markdown, its text escaped for either."""
    escape = markup if styled else markdown
    report, run, arch, measure, published, ours, shown, significance, closest = reference_texts(ref)
    diff = ref["difference"]
    style = "dim" if diff is None else "green" if diff >= 0 else "red"
    return [
        *map(escape, (report, run, arch, measure)),
        published,
        f"[dim]{ours}[/]" if styled and not ref["trial_id"] else ours,
        f"[{style}]{shown}[/]" if styled else shown,
        escape(significance),
        escape(closest),
    ]


SIGNIFICANCE_NOTE = (
    "vs published: the exact binomial test of our correct count on the split the report measured "
    "against its published accuracy, alpha 0.05; the reports give no uncertainty of their own, so "
    "theirs is taken as exact; '-' where the store kept no count (image scores, older stores)"
)


def _significance(ref: Reference) -> str:
    if ref["significance"] is None or ref["p_value"] is None:
        return DASH
    return f"{ref['significance']} (p {ref['p_value']:.2g})"


def render_references(board: Board) -> Table:
    """The reports' published numbers for the board's task beside our best run of the same
    network on the same data and budget; without one, the closest run, labelled as such."""
    table = Table(
        title=f"{markup(board['task'])}: published (REPORTS.md) vs our runs of the same network, data and epochs",
        title_justify="left",
    )
    for header, justify in (
        ("report", "left"),
        ("run", "left"),
        ("network", "left"),
        ("measure", "left"),
        ("published", "right"),
        ("ours", "right"),
        ("difference", "right"),
        ("vs published (binomial test)", "left"),
        ("closest other run (not a reproduction)", "left"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for ref in board["references"]:
        table.add_row(*_reference_cells(ref, styled=True))
    table.caption, table.caption_justify = SIGNIFICANCE_NOTE, "left"
    return table


def _ci_header(board: Board, name: str, low: str) -> str:
    """The figure's header, "[95% CI]" added where some row has an interval."""
    return f"{name} [95% CI]" if any(row.get(low) is not None for row in board["rows"]) else name


def render_board(board: Board, *, width: int) -> Table:
    grouped, goal = board["grouped"], board["target"]
    test = test_score(board["metric"])
    cells = _cells(board)
    columns = [  # (field, header, justify, priority): on a narrow terminal the lowest priority goes first
        ("rank", "#", "right", 9),
        ("trial_id", "trial", "left", 7),
        ("arch", "arch", "left", 10),
        ("optimizer", "optimizer", "left", 8),
        ("lr", "lr", "right", 8),
        ("batch_size", "batch", "right", 2),
        ("epochs_run", "epochs", "right", 3),
        ("n_seeds", "n (seeds)", "right", 8) if grouped else ("seed", "seed", "right", 2),
        ("data", "data", "left", 6),
        ("marks", "run", "left", 10),
        ("best_metric", _ci_header(board, board["metric"], "best_ci95_low"), "right", 10),
        ("best_metric_std", f"{board['metric']} std", "right", 5),
        ("test_metric", _ci_header(board, test, "ci95_low"), "right", 9),
        ("test_metric_std", f"{test} std", "right", 5),
        ("vs_best", "vs #1 (Welch, Bonferroni)", "left", 7),
        ("mean_epoch_time_s", "s/epoch", "right", 5),
        ("mean_samples_per_s", "img/s", "right", 4),
        ("device", "device", "left", 3),
        ("params", "params", "right", 1),
        ("time_to_target_s", f"s to {pct(goal['published'])}" if goal else "s to target", "right", 4),
        # what the trial cost (harness.results.cost): in all, and to the published figure
        ("cpu_s", "cpu s", "right", 4),
        ("gpu_s", "gpu s", "right", 4),
        ("cpu_s_to_target", f"cpu s to {pct(goal['published'])}" if goal else "cpu s to target", "right", 3),
        ("gpu_s_to_target", f"gpu s to {pct(goal['published'])}" if goal else "gpu s to target", "right", 3),
        ("status", "status", "left", 6),
        ("onnx", "onnx", "left", 5),
        ("onnx_ms", "onnx ms (× torch)", "right", 3),
        ("int8_change", "int8", "right", 2),
        ("fastest", "fastest deployment (batch 1)", "left", 4),
    ]
    cells["trial_id"] = lambda r: r.get("trial") or r["trial_id"]  # the short id, where it is unambiguous
    # Cells are plain text from the store: rich would read a `[` in an arch's name as markup.
    rows = [[markup(cells[c[0]](row)) for c in columns] for row in board["rows"]]
    onnx = next(j for j, c in enumerate(columns) if c[0] == "onnx")
    for row, line in zip(board["rows"], rows, strict=True):
        line[onnx] = f"[{ONNX_STYLE.get(row['onnx'], '')}]{line[onnx]}[/]"
    # The column the board is sorted by always stays; "s to target" only where a report set one;
    # "data", "run" and "device" only where some row has something to say (older stores kept no device).
    sorted_by = SORTS[board["sort"]][0]  # the row field the ranking sorted by
    silent = silent_costs(board)
    keep = []
    for j, column in enumerate(columns):
        if column[0] == sorted_by:
            columns[j] = (*column[:3], 11)
        if (column[0] == "time_to_target_s" and not goal) or column[0] in silent:
            continue
        optional = ("data", "marks", "device", "vs_best", "fastest")
        if column[0] in optional and not any(r[j] and r[j] != DASH for r in rows):
            continue
        if column[0] in ("best_metric_std", "test_metric_std") and not grouped:
            continue
        keep.append(j)
    return fitted_table(
        markup(_title(board)), [columns[j][1:] for j in keep], [[r[j] for j in keep] for r in rows], width=width
    )
