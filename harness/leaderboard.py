"""Leaderboards: store rows -> ranked rows -> rich tables or JSON. Pure: no I/O but the store read."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from typing import Any

from rich.table import Table

from harness.errors import lookup
from harness.store import Store
from harness.views import fitted_table

# Trials that ended like this are never ranked above a trial that trained normally.
UNRANKABLE = {"diverged", "error"}
FIELDS = (
    "rank", "trial_id", "arch", "optimizer", "lr", "batch_size", "epochs_run", "seed", "seeds", "best_metric",
    "best_metric_std", "test_metric", "test_metric_std", "mean_epoch_time_s", "mean_samples_per_s", "params",
    "time_to_target_s", "status", "onnx", "onnx_ms", "onnx_speedup", "int8_change", "trial_ids",
)  # fmt: skip
# --sort NAME -> (row field, which end is better); None: the task's own direction (max for accuracy)
SORTS: dict[str, tuple[str, str | None]] = {
    "metric": ("best_metric", None),
    "test": ("test_metric", None),
    "throughput": ("mean_samples_per_s", "max"),
    "epoch-time": ("mean_epoch_time_s", "min"),
    "params": ("params", "min"),
    "time-to-target": ("time_to_target_s", "min"),
}


def usable(row: dict[str, Any]) -> bool:
    return row["status"] not in UNRANKABLE and row["best_metric"] is not None


def rank(rows: list[dict[str, Any]], *, mode: str, field: str = "best_metric") -> list[dict[str, Any]]:
    """Best first by `field` ("max" or "min" is better); trials without a value next; unrankable
    or empty trials last; ranks from 1."""
    sign = -1.0 if mode == "max" else 1.0

    def key(row: dict[str, Any]) -> tuple:
        value = row.get(field)
        return (not usable(row), value is None, sign * value if value is not None else 0.0, row["id"])

    ranked = sorted(rows, key=key)
    return [{**row, "rank": i, "trial_id": row["id"]} for i, row in enumerate(ranked, start=1)]


def _epoch_score(epoch: dict[str, Any], key: str) -> float | None:
    """An epoch's score: a column of its own (val_acc) or one of the task's extras (val_psnr)."""
    return epoch[key] if key in epoch else json.loads(epoch.get("extra_json") or "{}").get(key)


def score(row: dict[str, Any], epochs: list[dict[str, Any]], key: str) -> float | None:
    """A trial's `key` at its best checkpoint: "test_*" from its test-split scoring, "val_*"
    from the epoch of the best checkpoint."""
    if key.startswith("test_"):
        return json.loads(row.get("test_json") or "{}").get(key.removeprefix("test_"))
    best = [e for e in epochs if e["epoch"] == row.get("best_epoch")]
    return _epoch_score(best[0], key) if best else None


def target(task: str) -> dict[str, Any] | None:
    """The hardest published figure for `task` (the highest), which `time_to_target_s` races to."""
    refs = [r for r in references(task, {}) if r["published"] is not None]
    return max(refs, key=lambda r: r["published"]) if refs else None


def time_to_target(epochs: list[dict[str, Any]], goal: dict[str, Any] | None) -> float | None:
    """Training plus evaluation seconds until the first epoch whose validation figure reaches
    the published one (validation, since the test split is scored only at the best checkpoint)."""
    if goal is None:
        return None
    key, elapsed = "val_" + goal["score"].split("_", 1)[1], 0.0
    for epoch in epochs:
        elapsed += (epoch["epoch_time_s"] or 0.0) + (epoch["eval_time_s"] or 0.0)
        value = _epoch_score(epoch, key)
        if value is not None and value >= goal["published"]:
            return elapsed
    return None


def references(task: str, ours: dict[str, float | None]) -> list[dict[str, Any]]:
    """The reports' published figures for `task` (from the presets' recipes), each beside our
    best trial's score for the same measure (`ours`: score key -> value) and the difference."""
    from harness.presets import PRESETS

    rows = []
    for preset in PRESETS.values():
        for r in preset.recipes:
            if r.spec["task"] == task:
                mine = ours.get(r.score)
                rows.append({
                    "report": preset.report, "run": r.label, "arch": r.spec["archs"][0], "measure": r.measure,
                    "score": r.score, "published": r.published, "ours_best": mine,
                    "difference": None if mine is None or r.published is None else mine - r.published,
                })  # fmt: skip
    return rows


def group_seeds(rows: list[dict[str, Any]], *, mode: str) -> list[dict[str, Any]]:
    """One row per configuration that differs only in its seed: means (and standard deviations)
    over the seeds that trained normally; `seeds` counts them, `trial_ids` lists every member."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        config = json.loads(row.get("config_json") or "{}") or {k: row[k] for k in ("arch", "optimizer", "lr", "batch_size", "epochs")}
        config.pop("seed", None)
        groups.setdefault(json.dumps(config, sort_keys=True), []).append(row)
    out = []
    for members in groups.values():
        members = rank(members, mode=mode)  # the group's trial_id is its best seed
        good = [m for m in members if usable(m)] or members
        statuses = Counter(m["status"] for m in members)
        out.append({
            **good[0], "seed": None, "seeds": len(good), "trial_ids": " ".join(m["id"] for m in members),
            **{f: _mean([m[f] for m in good]) for f in ("best_metric", "test_metric", "mean_epoch_time_s",
                                                         "mean_samples_per_s", "epochs_run")},
            "best_metric_std": _std([m["best_metric"] for m in good]),
            "test_metric_std": _std([m["test_metric"] for m in good]),
            # only when every seed got there: a mean over the lucky ones would flatter
            "time_to_target_s": _mean([m["time_to_target_s"] for m in good], all_or_none=True),
            "status": next(iter(statuses)) if len(statuses) == 1 else ", ".join(f"{n} {s}" for s, n in statuses.items()),
            "onnx": max((m["onnx"] for m in members), key=lambda s: ONNX_ORDER.get(s, 0)),
        })  # fmt: skip
    return out


def _onnx_figures(row: dict[str, Any]) -> dict[str, float | None]:
    """From the latest exports: onnxruntime's batch-1 p50 latency and its speed-up over PyTorch
    eager, and the INT8 model's change of the task metric against float32 PyTorch."""
    latency = (json.loads(row.get("onnx_details") or "{}").get("latency")) or {}
    int8 = json.loads(row.get("int8_details") or "{}")
    return {
        "onnx_ms": latency.get("onnxruntime_b1_p50_ms"), "onnx_speedup": latency.get("speedup_b1"),
        "int8_change": int8["ort_metric"] - int8["torch_metric"] if int8 else None,
    }  # fmt: skip


def _mean(values: list[Any], *, all_or_none: bool = False) -> float | None:
    known = [v for v in values if v is not None]
    return None if not known or (all_or_none and len(known) < len(values)) else statistics.fmean(known)


def _std(values: list[Any]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.stdev(known) if len(known) > 1 else None


def leaderboards(store: Store, *, task: str | None = None, sweep_id: str | None = None, top: int | None = None,
                 sort: str = "metric", group: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    """One board per task: {"task", "metric", "mode", "sort", "grouped", "target", "rows",
    "references"}; rows reduced to FIELDS (the first `top` only, when given), ranked by `sort`
    (a SORTS name), one per configuration over its seeds when `group`; references beside the
    published numbers, for the best trial by the task's metric."""
    from harness.datasets import get_task

    field, better = lookup("sort", SORTS, sort)
    boards = []
    for name in [task] if task else store.tasks(sweep_id):
        spec = get_task(name)
        goal = target(name)
        epochs = store.epochs_by_trial(task=name, sweep_id=sweep_id)
        rows = []
        for row in store.trial_summaries(task=name, sweep_id=sweep_id, metric=spec.metric, mode=spec.mode):
            mine = epochs.get(row["id"], [])
            rows.append({**row, "seeds": 1, "trial_ids": row["id"], "best_metric_std": None, "test_metric_std": None,
                         "test_metric": score(row, mine, "test_" + spec.metric.removeprefix("val_")),
                         "time_to_target_s": time_to_target(mine, goal), **_onnx_figures(row)})  # fmt: skip
        best = rank(rows, mode=spec.mode)[0] if rows else None
        ours = ({k: score(best, epochs.get(best["id"], []), k) for k in ("test_acc", "val_acc", "val_keras_acc")}
                if best and usable(best) else {})  # fmt: skip
        ranked = rank(group_seeds(rows, mode=spec.mode) if group else rows, mode=better or spec.mode, field=field)
        boards.append({
            "task": name, "metric": spec.metric, "mode": spec.mode, "sort": sort, "grouped": group, "target": goal,
            "rows": [{f: row.get(f) for f in FIELDS} for row in ranked[:top]],
            "references": references(name, ours),
        })  # fmt: skip
    return boards


GROUP_ONLY = ("seeds", "best_metric_std", "test_metric_std", "trial_ids")


def board_fields(board: dict[str, Any]) -> tuple[str, ...]:
    """The columns worth printing: per-seed columns only for a grouped board, `seed` otherwise."""
    return tuple(f for f in FIELDS if (f != "seed" if board["grouped"] else f not in GROUP_ONLY))


def _title(board: dict[str, Any]) -> str:
    sort = "" if board["sort"] == "metric" else f", sorted by {board['sort']}"
    return f"{board['task']}: best {board['metric']} ({board['mode']}){sort}{', mean over seeds' if board['grouped'] else ''}"


def board_markdown(board: dict[str, Any]) -> str:
    """A GitHub-flavoured markdown table of the board's trials, then its published references."""
    fields = board_fields(board)
    lines = [f"### {_title(board)}", "", "| " + " | ".join(fields) + " |", "|" + "---|" * len(fields)]
    lines += ["| " + " | ".join("" if row[f] is None else str(row[f]) for f in fields) + " |" for row in board["rows"]]
    if board["references"]:
        keys = ("report", "run", "arch", "measure", "published", "ours_best", "difference")
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
    """The reports' published numbers for the board's task, our best trial's figure for the same
    measure, and the difference."""
    table = Table(title=f"{board['task']}: published (REPORTS.md) vs our best trial", title_justify="left")
    for header, justify in (("report", "left"), ("run", "left"), ("network", "left"), ("measure", "left"),
                            ("published", "right"), ("ours", "right"), ("difference", "right")):  # fmt: skip
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
    return top["trial_id"] if top and usable(top) else None


def _fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


ONNX_STYLE = {"verified": "green", "exported": "yellow", "failed": "bold red", None: "dim"}
ONNX_ORDER = {"failed": 1, "exported": 2, "verified": 3}  # a group shows its best export


def _spread(mean: float | None, std: float | None) -> str:
    return _fmt(mean, ".4f") + ("" if std is None else f" ± {std:.4f}")


def render_board(board: dict[str, Any], *, width: int) -> Table:
    grouped, goal = board["grouped"], board["target"]
    test = "test_" + board["metric"].removeprefix("val_")
    columns = [  # (header, justify, priority): on a narrow terminal the lowest priority goes first
        ("#", "right", 9), ("trial", "left", 7), ("arch", "left", 10), ("optimizer", "left", 8),
        ("lr", "right", 8), ("batch", "right", 2), ("epochs", "right", 3), ("seeds" if grouped else "seed", "right", 2),
        (board["metric"], "right", 10), (test, "right", 9), ("s/epoch", "right", 5), ("img/s", "right", 4),
        ("params", "right", 1), (f"s to {goal['published']:.2%}" if goal else "s to target", "right", 4),
        ("status", "left", 6), ("onnx", "left", 5), ("onnx ms (× torch)", "right", 3), ("int8", "right", 2),
    ]  # fmt: skip
    rows = [
        [
            str(row["rank"]), row["trial_id"], row["arch"], row["optimizer"], _fmt(row["lr"], "g"),
            str(row["batch_size"]), _fmt(row["epochs_run"], "g"), str(row["seeds"] if grouped else row["seed"]),
            _spread(row["best_metric"], row["best_metric_std"]), _spread(row["test_metric"], row["test_metric_std"]),
            _fmt(row["mean_epoch_time_s"], ".3f"), _fmt(row["mean_samples_per_s"], ",.0f"),
            _fmt(row["params"], ","), _fmt(row["time_to_target_s"], ".1f"), row["status"],
            f"[{ONNX_STYLE.get(row['onnx'], '')}]{row['onnx'] or 'none'}[/]",
            "-" if row["onnx_ms"] is None else f"{row['onnx_ms']:.2f} ({row['onnx_speedup']:.1f}×)",
            "-" if row["int8_change"] is None else f"{100 * row['int8_change']:+.1f} pp",
        ]
        for row in board["rows"]
    ]  # fmt: skip
    # The column the board is sorted by always stays; "s to target" only where a report set one.
    headers = [c[0] for c in columns]
    to_target = next(j for j, h in enumerate(headers) if h.startswith("s to "))
    sorted_by = {"metric": board["metric"], "test": test, "throughput": "img/s", "epoch-time": "s/epoch",
                 "params": "params", "time-to-target": headers[to_target]}  # fmt: skip
    i = headers.index(sorted_by[board["sort"]])
    columns[i] = (*columns[i][:2], 11)
    keep = [j for j in range(len(columns)) if goal or j != to_target]
    return fitted_table(_title(board), [columns[j] for j in keep], [[r[j] for j in keep] for r in rows], width=width)
