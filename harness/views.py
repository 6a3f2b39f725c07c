"""Rows -> rich renderables for the commands that are not leaderboards (archs, data, verify,
predict). Pure: the CLI decides where they are printed."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

# A column: (header, justify, priority). On a narrow terminal the lowest priorities go first.
Column = tuple[str, str, int]


def fitted_table(title: str, columns: list[Column], rows: list[list[str]], *, width: int, **kwargs: Any) -> Table:
    """A table that drops its least important columns rather than squash every cell into '…'."""
    keep = list(range(len(columns)))
    # Cell text plus one space of padding each side and a border, measured once per column.
    needed = [max([len(c[0]), *(Text.from_markup(r[i]).cell_len for r in rows)]) + 3 for i, c in enumerate(columns)]
    while len(keep) > 1 and sum(needed[i] for i in keep) + 1 > width:
        keep.remove(min(keep, key=lambda i: columns[i][2]))
    table = Table(title=title, title_justify="left", **kwargs)
    for i in keep:
        table.add_column(columns[i][0], justify=columns[i][1], no_wrap=True)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table


def simple_table(title: str, rows: list[dict[str, Any]], columns: dict[str, str]) -> Table:
    """A table of `rows` showing `columns` (key -> header), values formatted plainly."""
    table = Table(title=title, title_justify="left")
    for header in columns.values():
        table.add_column(header)
    for row in rows:
        table.add_row(*("-" if row.get(k) is None else _plain(row[k]) for k in columns))
    return table


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return "x".join(map(str, value))
    return str(value)


def _reference(row: dict[str, Any]) -> str:
    """The report's parameter count and whether ours equals it."""
    if row["reference_params"] is None:
        return "not printed" if row["report"] else "-"
    mark = {True: "[green]✓ matched[/]", False: "[bold red]✗ differs[/]", None: "[dim](other input)[/]"}[row["params_match"]]
    derived = "" if row["params_published"] else " [dim](derived)[/]"
    return f"{row['reference_params']:,}{derived} {mark}"


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.3g}"


ARCH_COLUMNS: list[Column] = [
    ("name", "left", 9), ("report", "left", 5), ("input", "left", 8), ("outputs", "left", 4),
    ("params", "right", 8), ("report's count", "left", 7), ("MACs/image", "right", 6), ("fits tasks", "left", 3),
    ("description", "left", 1),
]  # fmt: skip


def render_archs(title: str, rows: list[dict[str, Any]], *, width: int) -> Table:
    cells = [
        [r["name"], r["report"] or "[dim]baseline[/]", r["input"], _plain(r["outputs"]), f"{r['params']:,}",
         _reference(r), _si(r["macs"]), ", ".join(r["tasks"]) or "[dim]none yet[/]", r["description"]]
        for r in rows
    ]  # fmt: skip
    return fitted_table(title, ARCH_COLUMNS, cells, width=width)


DATA_COLUMNS: list[Column] = [
    ("task", "left", 9), ("variant", "left", 5), ("input", "left", 6), ("status", "left", 8), ("images", "left", 7),
    ("skipped", "right", 4), ("cache", "right", 3),
]  # fmt: skip
STATUS = {"cached": "[green]cached[/]", "found": "[yellow]found, not cached[/]", "missing": "[red]missing[/]"}


def render_data(rows: list[dict[str, Any]], *, width: int) -> Group:
    """`harness data`: one row per task, then where each was found (or what to put where)."""
    cells = [
        [r["task"], r["variant"], _plain(r["input"]), STATUS[r["status"]],
         ", ".join(f"{k} {v:,}" for k, v in (r.get("counts") or {}).items()) or "-",
         f"{r['skipped']:,}" if "skipped" in r else "-",
         f"{r['cache_bytes'] / 1e6:,.1f} MB" if r.get("cache_bytes") else "-"]
        for r in rows
    ]  # fmt: skip
    table = fitted_table("tasks (`harness data prepare TASK` decodes one into the cache)", DATA_COLUMNS, cells,
                         width=width)  # fmt: skip
    sources = [Text.assemble((f"{r['task']}: ", "bold"), (r["source"], "red" if r["status"] == "missing" else ""))
               for r in rows]  # fmt: skip
    return Group(table, *sources)


def render_reproduction(rows: list[dict[str, Any]], *, title: str = "the report's runs, re-run") -> Table:
    """Each recipe's published figure beside ours, measured the same way (`reproduce`); with the
    stored trial and the best network on the same data when the rows carry them (`compare`)."""
    stored = "best" in rows[0]
    table = Table(title=f"{rows[0]['report']}: {title}", title_justify="left")
    headers = [("recipe", "left"), ("network", "left"), ("epochs", "right"), ("measure", "left"), ("published", "right"),
               ("ours", "right"), ("difference", "right")]  # fmt: skip
    headers += [("trial", "left"), ("best network on this data", "left")] if stored else []
    for header, justify in (*headers, ("note", "left")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        published, ours = r["published"], r["ours"]
        diff = "-" if published is None or ours is None else f"{100 * (ours - published):+.2f} pp"
        cells = [r["recipe"], r["arch"], _pct(r["epochs"], "g"), r["measure"], _pct(published), _pct(ours), diff]
        if stored:
            best = "-" if r["best_arch"] is None else f"{r['best_arch']} {_pct(r['best'])} ({r['best_trial_id']})"
            cells += [r["trial_id"] or "not run yet", best]
        table.add_row(*cells, r["notes"] or "")
    return table


def _pct(value: float | None, spec: str = ".2%") -> str:
    return "-" if value is None else format(value, spec)


def render_verification(v: dict[str, Any]) -> Table:
    verdict = "[green]verified[/]" if v["passed"] else "[bold red]FAILED[/]"
    kind = "INT8 " if v.get("quantize") else ""
    table = Table(title=f"{kind}ONNX verification: {verdict}", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    provider = v["provider"] + (f" [yellow](asked for {v['requested']}: fell back)[/]" if v["provider"] != v["requested"] else "")
    rows = [
        ("model", v["path"]),
        ("test images", f"{v['n']:,} ({v.get('task', '')})"),
        ("passes when", v.get("rule", "")),
        ("max abs difference", f"{v['max_abs_diff']:.3g}"),
        ("top-1 agreement", f"{v['top1_agreement']:.2%}"),
        ("task metric, PyTorch float32", f"{v['torch_metric']:.4f}"),
        ("task metric, onnxruntime", f"{v['ort_metric']:.4f} ({100 * (v['ort_metric'] - v['torch_metric']):+.2f} pp)"),
        ("execution provider", provider),
    ]  # fmt: skip
    if v.get("torch_psnr") is not None:
        rows.append(("PSNR, PyTorch / onnxruntime", f"{v['torch_psnr']:.3f} / {v['ort_psnr']:.3f} dB"))
    if v.get("size_ratio") is not None:
        rows.append(("size, INT8 / float32", f"{v['size_ratio']:.2f}"))
    lat = v.get("latency")
    if lat:
        rows += [
            (f"batch 1, p50 / p95 ({lat['threads']} CPU threads)",
             f"onnxruntime {lat['onnxruntime_b1_p50_ms']:.2f} / {lat['onnxruntime_b1_p95_ms']:.2f} ms, "
             f"PyTorch {lat['torch_b1_p50_ms']:.2f} / {lat['torch_b1_p95_ms']:.2f} ms: [bold]{lat['speedup_b1']:.1f}x[/]"),
            ("batch 64, images/s",
             f"onnxruntime {lat['onnxruntime_b64_images_per_s']:,.0f}, PyTorch {lat['torch_b64_images_per_s']:,.0f}: "
             f"[bold]{lat['speedup_b64']:.1f}x[/]"),
        ]  # fmt: skip
    for what, value in rows:
        table.add_row(what, value)
    return table


def render_predictions(predictions: list[dict[str, Any]]) -> Table:
    table = Table(title="predictions", title_justify="left")
    table.add_column("file")
    table.add_column("prediction")
    for p in predictions:
        if p["error"]:
            table.add_row(p["path"], f"[yellow]skipped: {p['error']}[/]")
        else:
            table.add_row(p["path"], ", ".join(f"{label} ({prob:.1%})" for label, prob in p["top"]))
    return table
