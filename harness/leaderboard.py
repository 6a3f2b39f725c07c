"""Leaderboards: store rows -> ranked rows -> rich tables or JSON. Pure: no I/O but the store read."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from harness.store import Store
from harness.views import fitted_table

# Trials that ended like this are never ranked above a trial that trained normally.
UNRANKABLE = {"diverged", "error"}
FIELDS = (
    "rank", "trial_id", "arch", "optimizer", "lr", "batch_size", "epochs_run", "best_metric",
    "mean_epoch_time_s", "mean_samples_per_s", "params", "status", "onnx",
)  # fmt: skip


def rank(rows: list[dict[str, Any]], *, mode: str) -> list[dict[str, Any]]:
    """Best first by the task's metric; unrankable or empty trials last; ranks from 1."""
    sign = -1.0 if mode == "max" else 1.0

    def key(row: dict[str, Any]) -> tuple:
        usable = row["status"] not in UNRANKABLE and row["best_metric"] is not None
        return (not usable, sign * row["best_metric"] if usable else 0.0, row["id"])

    ranked = sorted(rows, key=key)
    return [{**row, "rank": i, "trial_id": row["id"]} for i, row in enumerate(ranked, start=1)]


def references(task: str, best: float | None) -> list[dict[str, Any]]:
    """The reports' published figures for `task` (from the presets' recipes), each with the
    difference of our best validation metric to it."""
    from harness.presets import PRESETS

    return [
        {"report": p.report, "run": r.label, "arch": r.spec["archs"][0], "measure": r.measure,
         "published": r.published, "ours_best": best,
         "difference": None if best is None or r.published is None else best - r.published}
        for p in PRESETS.values() for r in p.recipes if r.spec["task"] == task
    ]  # fmt: skip


def leaderboards(store: Store, *, task: str | None = None, sweep_id: str | None = None,
                 top: int | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """One board per task: {"task", "metric", "mode", "rows", "references"}, rows reduced to
    FIELDS (the first `top` only, when given), references beside the published numbers."""
    from harness.datasets import get_task

    boards = []
    for name in [task] if task else store.tasks(sweep_id):
        spec = get_task(name)
        summaries = store.trial_summaries(task=name, sweep_id=sweep_id, metric=spec.metric, mode=spec.mode)
        rows = rank(list(summaries), mode=spec.mode)
        usable = [r["best_metric"] for r in rows if r["status"] not in UNRANKABLE and r["best_metric"] is not None]
        boards.append({
            "task": name, "metric": spec.metric, "mode": spec.mode,
            "rows": [{f: row.get(f) for f in FIELDS} for row in rows[:top]],
            "references": references(name, usable[0] if usable else None),
        })  # fmt: skip
    return boards


def board_markdown(board: dict[str, Any]) -> str:
    """A GitHub-flavoured markdown table of the board's trials, then its published references."""
    lines = [f"### {board['task']}: best {board['metric']} ({board['mode']})", "",
             "| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]  # fmt: skip
    lines += ["| " + " | ".join("" if row[f] is None else str(row[f]) for f in FIELDS) + " |" for row in board["rows"]]
    if board["references"]:
        keys = ("report", "run", "arch", "measure", "published", "difference")
        lines += ["", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join("" if ref[k] is None else str(ref[k]) for k in keys) + " |" for ref in board["references"]]
    return "\n".join(lines) + "\n"


def boards_csv(boards: list[dict[str, Any]]) -> str:
    """Every board's trials as one CSV (a `task` column first), for spreadsheets and pandas."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["task", *FIELDS], lineterminator="\n")
    writer.writeheader()
    for board in boards:
        for row in board["rows"]:
            writer.writerow({"task": board["task"], **row})
    return out.getvalue()


def render_references(board: dict[str, Any]) -> Table:
    """The reports' published numbers for the board's task, and how far our best is from each."""
    table = Table(title=f"{board['task']}: published (REPORTS.md) vs our best {board['metric']}", title_justify="left")
    for header, justify in (("report", "left"), ("run", "left"), ("network", "left"), ("measure", "left"),
                            ("published", "right"), (f"ours ({board['metric']})", "right"), ("difference", "right")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for ref in board["references"]:
        diff = ref["difference"]
        style = "dim" if diff is None else "green" if diff >= 0 else "red"
        table.add_row(ref["report"], ref["run"], ref["arch"], ref["measure"], _fmt(ref["published"], ".2%"),
                      _fmt(ref["ours_best"], ".2%"), f"[{style}]{'-' if diff is None else f'{100 * diff:+.2f} pp'}[/]")  # fmt: skip
    return table


def best_trial_id(store: Store, task: str, *, sweep_id: str | None = None) -> str | None:
    """The top-ranked trial of a task that trained normally, or None."""
    rows = leaderboards(store, task=task, sweep_id=sweep_id)[0]["rows"]
    top = rows[0] if rows else None
    return top["trial_id"] if top and top["status"] not in UNRANKABLE and top["best_metric"] is not None else None


def _fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


ONNX_STYLE = {"verified": "green", "failed": "bold red", None: "dim"}


def render_board(board: dict[str, Any], *, width: int) -> Table:
    columns = [  # (header, justify, priority): on a narrow terminal the lowest priority goes first
        ("#", "right", 9), ("trial", "left", 7), ("arch", "left", 10), ("optimizer", "left", 8),
        ("lr", "right", 8), ("batch", "right", 2), ("epochs", "right", 3), (board["metric"], "right", 10),
        ("s/epoch", "right", 5), ("img/s", "right", 4), ("params", "right", 1), ("status", "left", 6),
        ("onnx", "left", 5),
    ]  # fmt: skip
    rows = [
        [
            str(row["rank"]), row["trial_id"], row["arch"], row["optimizer"], _fmt(row["lr"], "g"),
            str(row["batch_size"]), str(row["epochs_run"]), _fmt(row["best_metric"], ".4f"),
            _fmt(row["mean_epoch_time_s"], ".3f"), _fmt(row["mean_samples_per_s"], ",.0f"),
            _fmt(row["params"], ","), row["status"],
            f"[{ONNX_STYLE.get(row['onnx'], '')}]{row['onnx'] or 'none'}[/]",
        ]
        for row in board["rows"]
    ]  # fmt: skip
    return fitted_table(f"{board['task']}: best {board['metric']} ({board['mode']})", columns, rows, width=width)
