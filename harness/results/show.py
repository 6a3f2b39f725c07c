"""`harness show TRIAL_ID`: one trial in full, from the store alone.

Its config, the device it ran on (from its first epoch) and the sweep's environment (the
driver's machine), every epoch, learning curves as terminal sparklines,
and its best checkpoint on the test split: a row-normalised confusion matrix for
classification (as report uchile2020 shows them), PSNR and pixel accuracy for upsampling.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypedDict

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from harness.escape import markup, terminal, visible_controls
from harness.formats import sig3
from harness.results.cost import total
from harness.store.db import EPOCH_COLUMNS, Store
from harness.store.rows import EpochRow, ExportRow, Latency

SPARKS = "▁▂▃▄▅▆▇█"
FULL_MATRIX_CLASSES = 12  # beyond this a terminal cannot hold the matrix: the worst confusions instead

# An epoch as `show` prints it: "epoch", the numeric columns (EPOCH_COLUMNS), then the task's
# own scores from extra_json ("val_psnr"): their names are the task's, the values all numbers
ShownEpoch = dict[str, float | None]
# A trial's best checkpoint on the test split (its test_json but the confusion matrix): "epoch",
# "loss", "acc", "n", "ci95" ({score: [low, high]}) and the task's own scores: open, the task names them
TestScores = dict[str, Any]


class ShownTrial(TypedDict):
    """The trial's columns `show` prints (in the JSON's order), with what its epochs cost."""

    id: str
    sweep_id: str
    task: str
    arch: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int  # planned
    seed: int
    status: str
    error: str | None
    params: int | None
    node: str | None
    device: str | None
    precision: str | None
    gpu_ids: list[str] | None  # Ray's GPU ids; None where no epoch said (a store older than schema 6)
    best_epoch: int | None
    checkpoint_path: str | None
    notes: str | None  # what it changed of its network (--init, --pretrained, grey input)
    cpu_s: float | None  # what its epochs cost in all (harness.results.cost); None where an epoch recorded none
    gpu_s: float | None


class ShownExport(TypedDict):
    """One of the trial's ONNX exports."""

    path: str
    status: str
    quantize: str | None
    opset: int | None
    provider: str | None
    torch_metric: float | None
    ort_metric: float | None
    latency: Latency | None  # None: not verified, or verified without timing


class TrialReport(TypedDict):
    """Everything `harness show` prints, and its --format json."""

    trial: ShownTrial
    traceback: str | None  # the whole error report of a failed trial
    config: dict[str, Any]  # its whole stored configuration: open, each framework and task adds settings
    environment: dict[str, Any]  # the sweep's record of the driver's machine (harness.environment): open
    metric: str  # the task's validation metric, e.g. "val_acc"
    epochs: list[ShownEpoch]
    test: TestScores | None  # None: never scored on the test split
    test_last: TestScores | None  # the last epoch's weights on the test split: "epoch" and its scores
    classes: list[str]
    confusion: list[list[int]] | None  # counts: row = true class, column = predicted
    confusion_normalised: list[list[float | None]] | None  # each row sums to 1
    exports: list[ShownExport]


def normalise_rows(counts: list[list[int]]) -> list[list[float | None]]:
    """Each true class's row divided by its sample count, so it sums to 1 (None: no samples)."""
    return [[c / sum(row) for c in row] if sum(row) else [None] * len(row) for row in counts]


def trial_report(store: Store, trial_id: str) -> TrialReport:
    """Everything `show` prints, as plain data (also its --format json)."""
    from harness.datasets import stored_task

    trial = store.trial(trial_id)
    trial_id = trial["id"]  # the full id: `trial_id` may be Ray's short one, which the epochs do not carry
    sweep = store.sweep(trial["sweep_id"])
    task = stored_task(trial["task"])
    stored = store.epochs(trial_id)
    test = json.loads(trial["test_json"] or "{}")
    counts = test.pop("confusion", None)
    last = test.pop("last", None)  # the last epoch's weights on the test split (absent in older stores)
    return {
        "trial": {
            "id": trial["id"],
            "sweep_id": trial["sweep_id"],
            "task": trial["task"],
            "arch": trial["arch"],
            "optimizer": trial["optimizer"],
            "lr": trial["lr"],
            "batch_size": trial["batch_size"],
            "epochs": trial["epochs"],
            "seed": trial["seed"],
            "status": trial["status"],
            "error": trial["error"],
            "params": trial["params"],
            "node": trial["node"],
            "device": trial["device"],
            "precision": trial["precision"],
            "gpu_ids": json.loads(trial["gpu_ids"]) if trial["gpu_ids"] is not None else None,
            "best_epoch": trial["best_epoch"],
            "checkpoint_path": trial["checkpoint_path"],
            "notes": trial.get("notes"),
            "cpu_s": total(stored, "cpu_s"),
            "gpu_s": total(stored, "gpu_s"),
        },
        "traceback": trial.get("traceback"),
        "config": json.loads(trial["config_json"] or "{}"),
        "environment": json.loads(sweep["environment_json"]),
        "metric": task.metric,
        "epochs": [_epoch(e) for e in stored],
        "test": test or None,
        "test_last": last,
        # a task not available here (a folder moved, a plugin not loaded) has no names: indices
        "classes": list(task.classes) or [str(i) for i in range(len(counts or []))],
        "confusion": counts,
        "confusion_normalised": normalise_rows(counts) if counts else None,
        "exports": [_export(x) for x in store.exports(trial_id)],
    }


def _epoch(e: EpochRow) -> ShownEpoch:
    """A stored epoch's numbers in the JSON's order: its number, its columns, the task's scores."""
    row: Mapping[str, Any] = e  # read by the names in EPOCH_COLUMNS
    return {"epoch": e["epoch"], **{k: row[k] for k in EPOCH_COLUMNS}, **json.loads(e["extra_json"] or "{}")}


def _export(x: ExportRow) -> ShownExport:
    return {
        "path": x["path"],
        "status": x["status"],
        "quantize": x["quantize"],
        "opset": x["opset"],
        "provider": x["provider"],
        "torch_metric": x["torch_metric"],
        "ort_metric": x["ort_metric"],
        "latency": json.loads(x["details_json"] or "{}").get("latency"),
    }


def sparkline(values: list[float | None], width: int = 40, *, scale: tuple[float, float] | None = None) -> str:
    """Values as block characters, low to high; at most `width` of them (evenly sampled).
    `scale`: the (low, high) the blocks span, shared by several lines so they compare;
    default: these values' own."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    if len(values) > width:
        values = [values[round(i * (len(values) - 1) / (width - 1))] for i in range(width)]
    low, high = scale or (min(known), max(known))
    span = (high - low) or 1.0
    top = len(SPARKS) - 1  # a value outside a given scale takes its end block
    return "".join(" " if v is None else SPARKS[min(max(round((v - low) / span * top), 0), top)] for v in values)


def _kv_table(title: str, items: Mapping[str, object]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in items.items():
        text = (
            json.dumps(value)
            if isinstance(value, (dict, list))
            else _num(value)
            if isinstance(value, float)
            else "-"
            if value is None
            else str(value)
        )
        table.add_row(markup(key), markup(text))  # a config's keys and values, the store's: never markup
    return table


def _series(report: TrialReport) -> list[str]:
    """The per-epoch numbers worth a curve: losses, accuracies and the task's extras."""
    return [k for k in report["epochs"][0] if k.startswith(("train_", "val_"))] if report["epochs"] else []


def render_epochs(report: TrialReport) -> Table:
    keys = _series(report)
    table = Table(title="epochs (★ best checkpoint)", title_justify="left")
    # The costs only where some epoch recorded one (none before schema 8; GPU-seconds on a GPU only).
    costs = [k for k in ("cpu_s", "gpu_s") if any(e.get(k) is not None for e in report["epochs"])]
    for header in ("epoch", *keys, "s/epoch", "img/s", *(k.replace("_", " ") for k in costs)):
        table.add_column(header, justify="right")
    for e in report["epochs"]:
        star = " ★" if e["epoch"] == report["trial"]["best_epoch"] else ""
        table.add_row(
            f"{e['epoch']}{star}",
            *[_num(e.get(k), ".4f") for k in keys],
            _num(e["epoch_time_s"], ".3f"),
            _num(e["samples_per_s"], ",.0f"),
            *[_num(e.get(k), ".3f") for k in costs],
        )
    return table


def render_curves(report: TrialReport) -> Table:
    table = Table(title="learning curves", title_justify="left")
    for header, justify in (
        ("series", "left"),
        ("first", "right"),
        ("curve", "left"),
        ("last", "right"),
        ("best", "right"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for key in _series(report):
        values = [e.get(key) for e in report["epochs"]]
        known = [v for v in values if v is not None]
        best = (min if "loss" in key else max)(known) if known else None
        table.add_row(
            key, _num(values[0], ".4f"), f"[cyan]{sparkline(values)}[/]", _num(values[-1], ".4f"), _num(best, ".4f")
        )
    return table


def render_confusion(report: TrialReport) -> Table:
    """Row-normalised: row = true class, column = predicted; the diagonal is each class's recall."""
    matrix, classes, test = report["confusion_normalised"], report["classes"], report["test"]
    assert matrix is not None and test is not None  # render_report calls it for a trial with a matrix
    epoch = test["epoch"]
    if len(classes) > FULL_MATRIX_CLASSES:  # e.g. 150 Pokemon: the ten largest confusions
        pairs = sorted(
            ((v, t, p) for t, row in enumerate(matrix) for p, v in enumerate(row) if t != p and v), reverse=True
        )[:10]
        table = Table(
            title=f"largest confusions, test split, epoch {epoch} ({len(classes)} classes: the whole "
            "matrix is in --format json and --png)",
            title_justify="left",
        )
        for header in ("true", "predicted as", "share of the class"):
            table.add_column(header)
        for v, t, p in pairs:
            table.add_row(markup(classes[t]), markup(classes[p]), f"{v:.2f}")
        return table
    table = Table(
        title=f"confusion matrix, test split, epoch {epoch} (rows: true class, sum to 1)", title_justify="left"
    )
    table.add_column("true \\ predicted", style="bold")
    for name in classes:  # a label is the data's (a folder's name): shown as text, its ESC as `\x1b`
        table.add_column(markup(terminal(name)[:8]), justify="right")
    for t, row in enumerate(matrix):
        cells = [
            "-" if v is None else f"[{'bold green' if t == p else 'red' if v >= 0.05 else 'dim'}]{v:.2f}[/]"
            for p, v in enumerate(row)
        ]
        table.add_row(markup(classes[t]), *cells)
    return table


def render_report(report: TrialReport) -> Group:
    t = report["trial"]
    parts: list[Any] = [
        _kv_table(
            markup(f"trial {t['id']}: {t['arch']} on {t['task']} ({t['status']})"),
            {**t, **{k: v for k, v in report["config"].items() if k not in t}},
        ),
        # The sweep's record is of the driver's machine; where this trial ran is its `device` above.
        _kv_table(f"environment of sweep {markup(t['sweep_id'])} (the driver's machine)", report["environment"]),
    ]
    if report["epochs"]:
        parts += [render_epochs(report), render_curves(report)]
    if report["test"]:
        intervals = report["test"].get("ci95") or {}  # image scores: bootstrap 95% intervals over test images
        scores = {
            k: f"{v:.4g} [95% CI {intervals[k][0]:.4g}, {intervals[k][1]:.4g}]" if k in intervals else v
            for k, v in report["test"].items()
            if k not in ("epoch", "ci95")
        }
        parts.append(_kv_table(f"best checkpoint (epoch {report['test']['epoch']}) on the test split", scores))
    if report["test_last"] and report["test_last"]["epoch"] != (report["test"] or {}).get("epoch"):
        shown = {k: v for k, v in report["test_last"].items() if k not in ("epoch", "ci95")}
        parts.append(_kv_table(f"last epoch ({report['test_last']['epoch']}) on the test split", shown))
    if report["confusion_normalised"]:
        parts.append(render_confusion(report))
    if report["exports"]:
        parts.append(render_exports(report["exports"]))
    traceback = report["traceback"]
    if traceback:
        parts.append(
            Panel(
                Text(visible_controls(traceback.strip(), keep="\n")),
                title=f"error report of trial {markup(t['id'])}",
                title_align="left",
                border_style="red",
            )
        )
    return Group(*parts)


def render_exports(exports: list[ShownExport]) -> Table:
    table = Table(title="ONNX exports of this trial", title_justify="left")
    for header, justify in (
        ("file", "left"),
        ("kind", "left"),
        ("opset", "right"),
        ("status", "left"),
        ("metric torch / onnxruntime", "right"),
        ("batch 1 p50, onnxruntime / torch", "right"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for x in exports:
        lat = x["latency"]
        # a record without PyTorch's figure (an export that was not benchmarked against it): a dash
        speed = f"{sig3(lat.get('onnxruntime_b1_p50_ms'))} / {sig3(lat.get('torch_b1_p50_ms'))} ms" if lat else "-"
        metrics = "-" if x["torch_metric"] is None else f"{x['torch_metric']:.4f} / {_num(x['ort_metric'], '.4f')}"
        kind = x["quantize"] or "float32"
        table.add_row(markup(x["path"]), markup(kind), str(x["opset"]), markup(x["status"]), metrics, speed)
    return table


def _num(value: float | None, spec: str = ".4g") -> str:
    return "-" if value is None else format(value, spec)
