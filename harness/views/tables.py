"""Rows -> rich renderables for the commands that are not leaderboards (archs, data, verify,
predict). Pure: the CLI decides where they are printed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from harness.escape import markup, terminal
from harness.formats import DASH, metric, pct, pp, sig3

if TYPE_CHECKING:  # views render for `predict` too, which must never import torch (verify does)
    from harness.export.verify import Verification
    from harness.sweeps.outcome import SweepLine

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


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return "x".join(map(str, value))
    return markup(value)


def _reference(row: dict[str, Any]) -> str:
    """The report's parameter count and whether ours equals it."""
    if row["reference_params"] is None:
        return "not printed" if row["report"] else "-"
    mark = {True: "[green]✓ matched[/]", False: "[bold red]✗ differs[/]", None: "[dim](other input)[/]"}[
        row["params_match"]
    ]
    derived = "" if row["params_published"] else " [dim](derived)[/]"
    return f"{row['reference_params']:,}{derived} {mark}"


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.3g}"


ARCH_COLUMNS: list[Column] = [
    ("name", "left", 9),
    ("report", "left", 5),
    ("input", "left", 8),
    ("outputs", "left", 4),
    ("params", "right", 8),
    ("report's count", "left", 7),
    ("MACs/image", "right", 6),
    ("fits tasks", "left", 3),
    ("description", "left", 1),
]


def render_archs(title: str, rows: list[dict[str, Any]], *, width: int) -> Table:
    cells = [
        [
            markup(r["name"]),  # a plugin registers any name and description: text, never markup
            markup(r["report"]) if r["report"] else "[dim]baseline[/]",
            markup(r["input"]),
            _plain(r["outputs"]),
            f"{r['params']:,}",
            _reference(r),
            _si(r["macs"]),
            markup(", ".join(r["tasks"])) or "[dim]none yet[/]",
            markup(r["description"]),
        ]
        for r in rows
    ]
    return fitted_table(title, ARCH_COLUMNS, cells, width=width)


DATA_COLUMNS: list[Column] = [
    ("task", "left", 9),
    ("variant", "left", 5),
    ("input", "left", 6),
    ("status", "left", 8),
    ("images", "left", 7),
    ("skipped", "right", 4),
    ("cache", "right", 3),
]
STATUS = {
    "cached": "[green]cached[/]",
    "found": "[yellow]found, not cached[/]",
    "missing": "[red]missing[/]",
    "stale": "[yellow]cache stale: rebuilt on next use[/]",
}


def render_data(rows: list[dict[str, Any]], *, width: int) -> Group:
    """`harness data`: one row per task, then where each was found (or what to put where)."""
    cells = [
        [
            markup(r["task"]),
            markup(r["variant"]),
            _plain(r["input"]),
            STATUS[r["status"]],
            ", ".join(f"{k} {v:,}" for k, v in (r.get("counts") or {}).items()) or "-",
            f"{r['skipped']:,}" if "skipped" in r else "-",
            f"{r['cache_bytes'] / 1e6:,.1f} MB" if r.get("cache_bytes") else "-",
        ]
        for r in rows
    ]
    table = fitted_table(
        "tasks (`harness data prepare TASK` decodes one into the cache)", DATA_COLUMNS, cells, width=width
    )
    sources = [
        Text.assemble(
            (f"{terminal(r['task'])}: ", "bold"),  # a folder's name and path: one line each
            (terminal(r["source"]), "red" if r["status"] == "missing" else ""),
            (f" (cache: {terminal(r['problem'])})" if r.get("problem") else "", "yellow"),
        )
        for r in rows
    ]
    return Group(table, *sources)


def render_reproduction(rows: Sequence[Mapping[str, Any]], *, title: str = "the report's runs, re-run") -> Table:
    """Each recipe's published figure beside ours, measured the same way (`reproduce`), with the
    run's marks when it was a quick check (a subset, fewer epochs) and why a recipe did not run;
    `compare` adds the closest other run and the best network on the same data."""
    stored = "best" in rows[0]
    table = Table(title=markup(f"{rows[0]['report']}: {title}"), title_justify="left")
    # (header, justify, no_wrap): figures never wrap; the long words (runs, notes) do
    headers = [("recipe", "left", False), ("network", "left", True)] + ([] if stored else [("epochs", "right", True)])
    headers += [
        ("measure", "left", False),
        ("published", "right", True),
        ("ours", "right", True),
        ("difference", "right", True),
    ]
    headers += (
        [("closest other run (not a reproduction)", "left", False), ("best network on this data", "left", False)]
        if stored
        else [("run", "left", False), ("trial", "left", False)]
    )
    for header, justify, no_wrap in (*headers, ("note", "left", False)):
        table.add_column(header, justify=justify, no_wrap=no_wrap)  # type: ignore[arg-type]
    for r in rows:
        published, ours = r["published"], r["ours"]
        diff = pp(None if published is None or ours is None else ours - published)
        if stored:
            closest = (
                DASH
                if not r["closest_trial_id"]
                else markup(
                    f"{r['closest_arch']} {pct(r['closest'])} ({r['closest_trial_id']}: {r['closest_differs']})"
                )
            )
            best = (
                DASH if r["best_arch"] is None else markup(f"{r['best_arch']} {pct(r['best'])} ({r['best_trial_id']})")
            )
            mine = pct(ours) if r["trial_id"] else "[dim]no matching run[/]"
            cells = [
                markup(r["recipe"]),
                markup(r["arch"]),
                markup(r["measure"]),
                pct(published),
                mine,
                diff,
                closest,
                best,
            ]
        else:
            epochs = DASH if r["epochs"] is None else f"{r['epochs']:g}"
            run = (
                f"[yellow]quick check: {markup(r['quick_check'])}[/]"
                if r["quick_check"] and not r["status"].startswith("not")
                else markup(r["status"])
            )
            trial = (
                markup(r["trial_id"])
                if r["trial_id"]
                else f"[dim]{markup(r['command'])}[/]"
                if r.get("command")
                else DASH
            )
            cells = [
                markup(r["recipe"]),
                markup(r["arch"]),
                epochs,
                markup(r["measure"]),
                pct(published),
                pct(ours),
                diff,
                run,
                trial,
            ]
        table.add_row(*cells, markup(r["notes"] or ""))
    return table


def render_sweeps(rows: list[SweepLine]) -> Table:
    """`harness sweeps`: one line per sweep, newest first."""
    table = Table(title="sweeps (newest first)", title_justify="left")
    for header, justify in (
        ("sweep", "left"),
        ("task", "left"),
        ("status", "left"),
        ("trials", "left"),
        ("started", "left"),
        ("duration", "right"),
        ("best", "right"),
    ):
        table.add_column(header, justify=justify, no_wrap=header != "task")  # type: ignore[arg-type]
    for r in rows:
        trials = ", ".join(f"{n} {status}" for status, n in sorted(r["trials"].items())) or "none"
        task = markup(f"{r['task']} (reproduces {r['reproduces']})" if r["reproduces"] else r["task"])
        best = DASH if r["best_metric"] is None else markup(f"{r['metric']} {metric(r['best_metric'], r['metric'])}")
        table.add_row(
            markup(r["id"]),
            task,
            markup(r["status"]),
            markup(trials),
            r["started"].replace("T", " ")[:19],
            f"{sig3(r['duration_s'])} s",
            best,
        )
    return table


def render_verification(v: Verification) -> Table:
    verdict = "[green]verified[/]" if v.passed else "[bold red]FAILED[/]"
    kind = "INT8 " if v.quantize else ""
    table = Table(title=f"{kind}ONNX verification: {verdict}", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")  # the model's path in full
    provider = markup(v.provider) + (
        f" [yellow](asked for {markup(v.requested)}: fell back)[/]" if v.provider != v.requested else ""
    )
    rows = [
        ("model", markup(v.path)),
        ("test images", markup(f"{v.n:,} ({v.task})")),
        ("passes when", markup(v.rule)),
        ("max abs difference", f"{v.max_abs_diff:.3g}"),
        (
            "binarised pixel agreement" if v.torch_psnr is not None else "top-1 agreement",
            f"{v.top1_agreement:.2%}",
        ),
        ("task metric, PyTorch float32", pct(v.torch_metric)),
        ("task metric, onnxruntime", f"{pct(v.ort_metric)} ({pp(v.ort_metric - v.torch_metric)})"),
        ("execution provider", provider),
    ]
    if v.torch_psnr is not None:
        rows.append(("PSNR, PyTorch / onnxruntime", f"{v.torch_psnr:.3f} / {v.ort_psnr:.3f} dB"))
    if v.size_ratio is not None:
        rows.append(("size, INT8 / float32", f"{v.size_ratio:.2f}"))
    if v.float_ops is not None:
        rows.append(("float ops", markup(stayed_float(v.float_ops) or "nothing: integer throughout")))
    lat = v.latency
    if lat:
        rows += [
            (
                f"batch 1, ms (median, min-max of {lat.get('rounds', 1)} rounds, {lat['threads']} CPU threads)",
                f"onnxruntime {_ms(lat, 'onnxruntime')}, PyTorch {_ms(lat, 'torch')}: "
                f"[bold]{ratio(lat['speedup_b1'], lat.get('speedup_b1_clear', True))}[/]",
            ),
            (
                "batch 64, images/s (median, min-max)",
                f"onnxruntime {_ips(lat, 'onnxruntime')}, PyTorch {_ips(lat, 'torch')}: "
                f"[bold]{ratio(lat['speedup_b64'], lat.get('speedup_b64_clear', True))}[/]",
            ),
        ]
    for what, value in rows:
        table.add_row(what, value)
    return table


def stayed_float(ops: Mapping[str, int]) -> str:
    """A quantized file's float ops (Verification.float_ops) as one line, most first:
    "BatchNormalization x3, Gemm x1 stayed float"; "" when there are none."""
    if not ops:
        return ""
    return ", ".join(f"{op} x{n}" for op, n in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))) + " stayed float"


def ratio(value: float, clear: bool) -> str:
    """A speed ratio, or "~" when the two runtimes' spreads over rounds overlap: no clear difference."""
    return f"{value:.1f}x" if clear else f"~ ({value:.1f}x, spreads overlap)"


# `lat` is a harness.store.rows.Latency, read as a Mapping: its keys are built from the runtime's name.
def _ms(lat: Mapping[str, Any], runtime: str) -> str:
    spread = lat.get(f"{runtime}_b1_spread_ms")
    middle = sig3(lat[f"{runtime}_b1_p50_ms"])
    return f"{middle} ({sig3(spread[0])}-{sig3(spread[1])})" if spread else middle


def _ips(lat: Mapping[str, Any], runtime: str) -> str:
    spread = lat.get(f"{runtime}_b64_spread_images_per_s")
    middle = sig3(lat[f"{runtime}_b64_images_per_s"])
    return f"{middle} ({sig3(spread[0])}-{sig3(spread[1])})" if spread else middle


def render_predictions(predictions: list[dict[str, Any]]) -> Table:
    table = Table(title="predictions", title_justify="left")
    table.add_column("file", overflow="fold")
    table.add_column("prediction")
    for p in predictions:  # a file's name, its error and the model's labels: text, one line each
        if p["error"]:
            table.add_row(markup(p["path"]), f"[yellow]skipped: {markup(p['error'])}[/]")
        else:
            table.add_row(markup(p["path"]), ", ".join(f"{markup(label)} ({prob:.1%})" for label, prob in p["top"]))
    return table
