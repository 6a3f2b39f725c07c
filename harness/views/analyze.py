"""`harness analyze`'s tables: an `harness.results.analyze.Analysis` -> rich renderables. Pure: the
command decides where they are printed."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from harness.escape import markup, terminal
from harness.formats import DASH, metric, pct, plural, sig3
from harness.results.analyze import Analysis, label
from harness.results.show import sparkline

BAR = 20  # characters of a full importance bar


def render_analysis(a: Analysis) -> Group:
    parts: list[RenderableType] = [_header(a), render_importance(a), render_lr_table(a), render_time_to_target(a)]
    if a["top"]:
        parts.append(render_top(a))
    return Group(*parts)


def _header(a: Analysis) -> Text:
    # Names from the store (task, settings, arch, optimizer) are escaped: rich reads a `[` as markup.
    settings = markup(", ".join(f"{k} ({len(v)})" for k, v in a["varying"].items()) or "none")
    return Text.from_markup(
        f"[bold]sweep {markup(a['sweep_id'])}[/], {markup(a['task'])}: {plural(a['trials'], 'trial')}, "
        f"{a['usable']} trained normally; settings that vary (values): {settings}\n"
    )


def _values(values: list[Any]) -> str:
    shown = ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in values[:4])
    return markup(shown + (f", ... ({len(values)})" if len(values) > 4 else ""))


def render_importance(a: Analysis) -> RenderableType:
    imp = a["importance"]
    title = "what mattered: fANOVA importance, each setting's share of the metric's variation"
    if imp["note"]:
        return Text.from_markup(f"[bold]{title}[/]\n{markup(imp['note'])}\n")
    table = Table(title=title, title_justify="left", caption_justify="left")
    table.add_column("setting")
    table.add_column("values")
    for name in imp["columns"]:
        table.add_column(f"{name} ({plural(imp['trials'][name], 'trial')})", justify="right")
    table.add_column("", no_wrap=True)
    first = imp["columns"][0]
    for row in imp["rows"]:
        share = row[first]
        bar = "█" * round((share or 0.0) * BAR)
        table.add_row(
            markup(row["param"]), _values(a["varying"][row["param"]]), *(pct(row[n]) for n in imp["columns"]), bar
        )
    shares = [f"{pct(share)} of {name}'s" for name, share in imp["seed_share"].items() if share is not None]
    noise = f"between seeds of one configuration: {', '.join(shares)} variance\n" if shares else ""
    table.caption = "each column sums to 100%; the bar: the first column"
    return Group(table, Text(noise, style="dim"))


def render_lr_table(a: Analysis) -> RenderableType:
    lt = a["lr_table"]
    if not lt["rows"]:
        return Text(f"no trial trained normally: no {terminal(a['metric'])} by learning rate\n")
    table = Table(
        title=f"{a['metric']} by learning rate: the mean of each cell's trials (how many), seeds together",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("arch")
    table.add_column("optimizer")
    binned = any(c["low"] != c["high"] for c in lt["columns"])
    for c in lt["columns"]:
        table.add_column(f"{c['low']:.2g}-{c['high']:.2g}" if binned else f"lr {c['lr']:g}", justify="right")
    table.add_column("", no_wrap=True)
    means = [cell["mean"] for row in lt["rows"] for cell in row["cells"] if cell]
    scale = (min(means), max(means))  # one scale for every row, so the lines compare
    for row in lt["rows"]:
        cells = row["cells"]
        table.add_row(
            markup(row["arch"]),
            markup(row["optimizer"]),
            *(f"{metric(c['mean'], a['metric'])} ({c['n']})" if c else DASH for c in cells),
            f"[cyan]{sparkline([c['mean'] if c else None for c in cells], scale=scale)}[/]",
        )
    if binned:
        table.caption = "learning rates binned on a log scale (a random search's rates)"
    return Group(table, Text(""))


def render_time_to_target(a: Analysis) -> RenderableType:
    goal = a["target"]
    if goal is None:
        return Text(
            f"time to target: {terminal(a['task'])} has no published figure to race to; "
            f"pass --target VALUE (a {a['metric']}, e.g. --target 0.9)\n"
        )
    source = "--target" if goal["report"] == "--target" else f"{goal['report']}'s published {goal['score']}"
    title = markup(f"seconds to {a['metric']} >= {metric(goal['published'], a['metric'])} ({source}), over seeds")
    table = Table(title=title, title_justify="left", caption_justify="left")
    for header, justify in (("configuration", "left"), ("reached", "right"), ("median s", "right")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    table.add_column("min-max s", justify="right")
    for row in a["time_to_target"]:
        spread = f"{sig3(row['min_s'])}-{sig3(row['max_s'])}" if row["reached"] > 1 else DASH
        table.add_row(
            markup(label(row["params"])) or "(one configuration)",
            f"{row['reached']}/{row['seeds']}",
            sig3(row["median_s"]),
            spread,
        )
    table.caption = "training + evaluation seconds until the first epoch at the target; over the seeds that got there"
    return Group(table, Text(""))


def render_top(a: Analysis) -> Table:
    table = Table(title=f"the {plural(len(a['top']), 'best trial')}: {a['metric']} per epoch", title_justify="left")
    for header in ("trial", "configuration", "seed", a["metric"], "curve"):
        table.add_column(header, justify="right" if header in ("seed", a["metric"]) else "left")
    for row in a["top"]:
        table.add_row(
            markup(row["trial"]),
            markup(label(row["params"])) or "-",
            str(row["seed"]),
            metric(row["metric"], a["metric"]),
            f"[cyan]{sparkline(row['curve'])}[/]",
        )
    return table
