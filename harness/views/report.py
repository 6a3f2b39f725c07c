"""`harness report`, the document: docs/reproduction.md rendered from the rows of
`harness.report.reproduction` (a store's, or the committed JSON's), and the learning-curve PNGs it links.

Rendering reads nothing but the rows and never the clock, so the same rows give the same bytes.
Every string of the rows (a folder's path, a task's or a recipe's name, a command with its
--data-dir, a CPU's name) is written through harness.escape: as text (`markdown`) or as code
(`code`), so a `<script>`, a newline and `## heading` or a `|` in it stays text.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

from harness.escape import code, markdown
from harness.formats import plural
from harness.paths import safe_name
from harness.report.document import Beyond, Document, OtherFigure, ReportSection, Row, SizeCurve, Verdict

HOW_TO_READ = """\
How to read it. *Ours* is measured the way the report measured its figure, after the recipe's
last epoch (every report printed its final epoch): the test accuracy of the weights training ended
with, or that epoch's validation figure where the report printed one. *Best checkpoint* is the
same measure of the checkpoint with the best validation figure (the one the harness keeps and
exports; chosen on validation, so its validation figure is biased up). *95% CI*: Wilson's interval
over the images of the split (classification), a percentile bootstrap over the test images (image
outputs); repeated passes over the same images count each image once. *Verdict*: on the largest
split that measures the same weights (a validation figure is also measured on the test split, and
the verdict rests on the split with more images, whose count it gives): the exact binomial test of
our correct count against the published accuracy at alpha 0.05 (the published figure's own
uncertainty is unknown and is taken as exact; an approximate one, "about 50%", at its value); for
bootstrap rows, whether the published figure lies outside our interval. A probe that measured the
same weights the way the report did gives a second verdict, shown where it differs. Each recipe
value is marked *report* (stated in the text, with where) or *chosen* (with why). A *quick
check* ran on a subset or fewer epochs than the recipe, and is not a reproduction. *Wall time*
depends on what else the machine ran at the time; the *CPU-seconds* (the trial process's own,
training and validation) do not."""


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _diff(ours: float | None, published: float | None) -> str:
    return "-" if ours is None or published is None else f"{100 * (ours - published):+.2f} pp"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _number(value: float | None, unit: float, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value / unit, spec)


def _one_verdict(verdict: Verdict) -> str:
    split = verdict["basis"].split(" split")[0] if " split" in verdict["basis"] else None
    how = [f"p {verdict['p_value']:.2g}"] if verdict["p_value"] is not None else []
    how += [f"{markdown(split)} n {verdict['n']:,}"] if split and verdict["n"] else []
    return markdown(verdict["verdict"]) + (f" ({', '.join(how)})" if how else "")


def _verdict(row: Row) -> str:
    """The main verdict, and a probe's that measured as the report did where it says otherwise."""
    verdicts = row.get("verdicts") or []
    if not verdicts:
        return "-"
    text = _one_verdict(verdicts[0])
    for other in verdicts[1:]:
        if other["verdict"] != verdicts[0]["verdict"]:
            text += f"; as the report measured: {_one_verdict(other)}"
    return text


def _published(row: Row) -> str:
    return ("about " if row.get("published_about") else "") + pct(row["published"])


def _ours(row: Row) -> str:
    if row.get("ours") is None:
        return "-"
    text = pct(row["ours"]) + _ci(row.get("ci95"))
    if row.get("test") is not None:  # a validation figure: the same weights on the (larger) test split
        text += f"; test {pct(row['test'])}{_ci(row.get('test_ci95'))}"
    return text + (f" ({markdown(row['marks'])})" if row.get("marks") else "")


def _best(row: Row) -> str:
    if row.get("best") is None:
        return "-"
    return (
        pct(row["best"]) + _ci(row.get("best_ci95")) + (f", epoch {row['best_epoch']}" if row.get("best_epoch") else "")
    )


def _status(row: Row) -> str:
    return markdown(row["status"] + (f": {row['marks']}" if row.get("marks") else ""))


CURVES_FOLDER = "reproduction"  # the learning curves' folder, beside the document


def curve_png(report: str, index: int) -> str:
    """The PNG of a report's `index`-th recipe (from 1), relative to the document's folder. The
    report's name comes from the rows (a `--from` file may say anything): reduced to a safe file
    name, so `../../x` stays a name inside the folder, and the document links what was written."""
    name = f"{report}-{index}"
    safe = safe_name(name)
    if safe != name:  # two names reduced alike ("a/b", "a_b") must not share one file
        safe = f"{safe[:100]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    return f"{CURVES_FOLDER}/{safe}.png"


def render(doc: Document, *, source: str) -> str:
    """The whole document. `source`: how to re-render it, stated at its top."""
    lines = [
        "# The five reports, re-run",
        "",
        f"Generated by `harness report` from its rows ({source}); do not edit by hand.",
        "",
        HOW_TO_READ,
        "",
        "## Summary",
        "",
        *summary(doc),
    ]
    for report in doc["reports"]:
        lines += ["", *_section(report)]
    return "\n".join(lines) + "\n"


def summary(doc: Document) -> list[str]:
    """The summary table: one line per recipe of every report (the README shows it too)."""
    lines = [
        "| report | recipe | published | ours, last epoch [95% CI] | best checkpoint | difference | verdict | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for report in doc["reports"]:
        for row in report["rows"]:
            lines.append(
                f"| {markdown(report['report'])} | {markdown(row['recipe'])} | {_published(row)} | {_ours(row)} "
                f"| {_best(row)} | {_diff(row.get('ours'), row['published'])} | {_verdict(row)} | {_status(row)} |"
            )
    return lines


README_BEGIN, README_END = "<!-- reproduction summary: harness report --readme -->", "<!-- /reproduction summary -->"


def with_summary(readme: str, doc: Document) -> str:
    """`readme` with the summary table between its markers replaced by `doc`'s."""
    if README_BEGIN not in readme or README_END not in readme:
        raise ValueError(f"no {README_BEGIN} ... {README_END} block")
    head, rest = readme.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    return head + README_BEGIN + "\n" + "\n".join(summary(doc)) + "\n" + README_END + tail


def _section(report: ReportSection) -> list[str]:
    name = report["report"]
    lines = [
        f"## {markdown(name)}",
        "",
        "| recipe | network | measure | published | ours, last epoch [95% CI] | best checkpoint | difference "
        "| verdict |",
    ]
    lines.append("|---|---|---|---|---|---|---|---|")
    for row in report["rows"]:
        lines.append(
            f"| {markdown(row['recipe'])} | {code(row['arch'], cell=True)} | {markdown(row['measure'])} "
            f"| {_published(row)} | {_ours(row)} | {_best(row)} "
            f"| {_diff(row.get('ours'), row['published'])} | {_verdict(row)} |"
        )
    lines.append("")
    for index, row in enumerate(report["rows"], start=1):
        lines += _recipe(name, index, row)
    lines += _data(report["rows"])
    lines += _sizes(report.get("sizes") or [])
    lines += _beyond(report.get("beyond") or [], name)
    lines += _others(report.get("others") or [])
    return lines


def _recipe(report: str, index: int, row: Row) -> list[str]:
    head = f"### {markdown(row['recipe'])}: {code(row['arch'])}, {markdown(row['framework'])} defaults"
    if row.get("trial_id") is None:  # not run, or queued behind the recipes of a running reproduction
        why = f" ({markdown(row['missing'])})" if row.get("missing") else ""
        status = markdown(row["status"], starts_line=True)
        return [head, "", f"- {status}{why}. Runs with: {code(row['command'])}", *_printed(row), *_settings(row), ""]
    lines = [head, "", f"- Status: {_status(row)}; command: {code(row['command'])}", *_printed(row), *_settings(row)]
    lines += _figures(row)
    epochs = f"{row['epochs']} of {plural(row['epochs_planned'], 'epoch')}"
    lines.append(
        f"- Budget: {epochs}; wall {_duration(row.get('wall_s'))}, "
        f"{_number(row.get('cpu_s'), 1)} CPU-seconds; {markdown(row['hardware'])}"
        + (
            f", side by side with {plural(row['side_by_side'] - 1, 'other recipe')}"
            if row.get("side_by_side", 1) > 1
            else ""
        )
    )
    if row.get("notes"):
        lines.append(f"- The report differs: {markdown(row['notes'])}")
    for probe in row.get("probes") or []:
        interval = _ci(probe["ci95"]) if probe.get("ci95") else " (exact)"
        last = (probe.get("weights") or "").startswith("last")
        again = code(f"harness probe {row['trial_id']} {probe['probe']}" + (" --weights last" if last else ""))
        weights = f", {markdown(probe['weights'])} weights" if probe.get("weights") else ""
        lines.append(
            f"- Measured as the report did ({again}{weights}): "
            f"{markdown(probe['figure'])} {pct(probe['value'])}{interval}; "
            f"{markdown(probe['baseline_is'])} {pct(probe['baseline'])}"
            + (f"; {markdown(probe['note'])}" if probe.get("note") else "")
        )
    if row.get("curve", {}).get("epoch"):
        # the link's target percent-encoded: a `)` or a space in a report's name would end it
        target = quote(curve_png(report, index), safe="/")
        lines += ["", f"![learning curve of {markdown(row['recipe'])}]({target})"]
    return [*lines, ""]


def _figures(row: Row) -> list[str]:
    """Ours after the last epoch, the same weights on the test split, the best checkpoint, the verdicts."""
    figure = f"- Ours: {pct(row.get('ours'))}{_ci(row.get('ci95'))}"
    if row.get("ours") is None:
        return [figure]
    images = row.get("val_n") if row["split"] == "validation" else row.get("n")
    figure += f" after epoch {row['measured_epoch']}" if row.get("measured_epoch") else ""
    figure += f", {markdown(row['split'])} split" + (f" ({images:,} images)" if images else "")
    if row.get("test") is not None:
        count = f" ({row['test_n']:,} images)" if row.get("test_n") else ""
        figure += f"; the same weights on the test split {pct(row['test'])}{_ci(row.get('test_ci95'))}{count}"
    lines = [figure]
    if row.get("best") is not None:
        lines.append(
            f"- Best checkpoint (by validation, epoch {row.get('best_epoch')}): {pct(row['best'])}"
            f"{_ci(row.get('best_ci95'))}"
        )
    for verdict in row.get("verdicts") or []:
        count = f" ({verdict['n']:,} images)" if verdict["n"] else ""
        p = f" (p {verdict['p_value']:.2g})" if verdict["p_value"] is not None else ""
        lines.append(
            f"- Verdict, {markdown(verdict['basis'])}{count}: {pct(verdict['value'])} against "
            f"{_published(row)}: {markdown(verdict['verdict'])}{p}"
        )
    return lines


def _printed(row: Row) -> list[str]:
    if not row.get("published_where"):
        return ["- Published: no figure for this run in the text"]
    return [f"- Published: {_published(row)}, printed {markdown(row['published_where'])}"]


def _settings(row: Row) -> list[str]:
    """The recipe's values: those its report states, then those chosen here, each with why."""
    marks = row.get("values") or []
    stated = [f"{m['setting']} {code(m['value'])}" for m in marks if m["source"] == "report"]
    chosen = [f"{m['setting']} {code(m['value'])} ({markdown(m['where'])})" for m in marks if m["source"] != "report"]
    return [
        *([f"- As the report states: {', '.join(stated)}"] if stated else []),
        *([f"- Chosen here, not in the report: {'; '.join(chosen)}"] if chosen else []),
    ]


def _data(rows: list[Row]) -> list[str]:
    lines, seen = ["### Data", ""], set()
    for row in rows:
        data = row.get("data")
        if not data:
            continue
        counts = data.get("counts") or {}
        ours = ", ".join(f"{k} {counts[k]:,}" for k in ("train", "val", "test") if k in counts)
        size = f", {row['image_size']} px" if row.get("image_size") else ""
        key = (row["task"], ours, size, data.get("source"))
        if key in seen:
            continue
        seen.add(key)
        copy = "offline copy" if data.get("offline") else "source"
        lines.append(
            f"- {code(row['task'])}{size}, split {markdown(data.get('variant') or '-')}: {ours} "
            f"({copy}: {markdown(data.get('source'))})"
        )
        if data.get("report"):
            lines.append(f"  - the report: {markdown(data['report'])}")
        lines += [f"  - caveat: {markdown(c)}" for c in data.get("caveats") or []]
    return [*lines, ""] if len(lines) > 2 else []


def _sizes(sizes: list[SizeCurve]) -> list[str]:
    if not sizes:
        return []
    lines = ["### Training-set size", ""]
    for curve in sizes:
        points = ", ".join(f"{p['train']:,}: {pct(p['ours'])}{_ci(p['ci95'])}" for p in curve["points"])
        recipe = markdown(curve["recipe"], starts_line=True)
        line = f"- {recipe}: {points}; {100 * curve['slope_per_doubling']:+.2f} pp per doubling"
        if curve.get("extrapolated") is not None:
            line += (
                f" (a + b ln n, least squares); read at the report's {curve['report_train']:,} training images: "
                f"{pct(curve['extrapolated'])} (an extrapolation, no interval)"
            )
            if curve.get("published") is not None:
                gap = _diff(curve["extrapolated"], curve["published"])
                line += f", {gap} against the published {pct(curve['published'])}"
        lines.append(line)
    return [*lines, ""]


def _beyond(beyond: list[Beyond], report: str) -> list[str]:
    if not beyond:
        return []
    lines = ["### Beyond the report", ""]
    for line in beyond:
        where = code(line["task"]) + (f" {line['data']['image_size']} px" if line["data"].get("image_size") else "")
        where += f", split {markdown(line['data']['variant'])}, {plural(line['epochs'], 'epoch')}"
        if line["best"] is None:
            search = code(f"harness sweep --preset {report} --search optuna --num-samples 8")
            lines.append(f"- {where}: no other sweep on this data at this epoch count in the store ({search}).")
            continue
        best, figures = line["best"], line["figures"]
        config = f"{code(best['arch'])} {markdown(best['optimizer'])} lr {best['lr']:.3g} batch {best['batch_size']}"
        against = "; ".join(
            f"{_diff(figures['ours'], a['published'])} against {markdown(a['recipe'])}"
            for a in line.get("against") or []
        )
        budget = (
            f"{plural(line['trials'], 'trial')}, "
            f"{_number(line.get('cpu_s'), 3600, '.2f')} CPU-hours, "
            f"wall {_duration(line.get('wall_s'))}"
        )
        lines.append(
            f"- {where}: best by validation ({markdown(line.get('selected_by', 'val_acc'))}) {config}: "
            f"{markdown(line['measure'])} {pct(figures['ours'])}{_ci(figures['ci95'])}"
            + (f" ({against})" if against else "")
            + f"; budget {budget}; command {code(line['command'])}"
        )
    return [*lines, ""]


def _others(others: list[OtherFigure]) -> list[str]:
    if not others:
        return []
    lines = [
        "### Other published figures",
        "",
        "| figure | published | where in the text | ours | note |",
        "|---|---|---|---|---|",
    ]
    for figure in others:
        value = figure.get("ours")
        loss = "loss" in (figure.get("measure") or "")
        ours = "-" if value is None else f"{value:.4f}" if loss else pct(value)
        lines.append(
            f"| {markdown(figure['what'])} | {markdown(figure['published'])} | {markdown(figure.get('where', ''))} "
            f"| {ours} | {markdown(figure.get('why') or figure['measure'])} |"
        )
    return [*lines, ""]


def write_curves(doc: Document, folder: Path) -> list[Path]:
    """One learning-curve PNG per recipe that ran: our validation figure and train accuracy per
    epoch, the published figure as a line; a recipe's older PNG is removed once it has no curve.
    Needs matplotlib (harness[plots]). A link at the folder or at any PNG's name is refused
    before the first is drawn."""
    from harness.safefile import refuse_links, subfolder
    from harness.views.plots import save_curve

    curves = [
        (folder / curve_png(report["report"], index), report, row, row["curve"])
        for report in doc["reports"]
        for index, row in enumerate(report["rows"], start=1)
        if row.get("curve") and row["curve"].get("epoch")
    ]
    if curves:
        subfolder(folder, CURVES_FOLDER, what="learning-curve folder")
        refuse_links((path for path, *_ in curves), what="learning-curve PNG")
    for path, report, row, curve in curves:
        save_curve(
            path,
            title=f"{report['report']}\n{row['recipe']} ({row['arch']})",
            epochs=curve["epoch"],
            series={f"validation ({curve['metric']})": curve["val"], "train (train_acc)": curve["train_acc"]},
            published=row.get("published"),
            published_label=f"published {row['measure']}",
        )
    drawn = {path for path, *_ in curves}
    for report in doc["reports"]:  # a recipe whose run is gone (a lost store) leaves no stale curve behind
        for index in range(1, len(report["rows"]) + 1):
            stale = folder / curve_png(report["report"], index)
            if stale not in drawn and stale.is_file() and not stale.is_symlink():
                stale.unlink()
    return [path for path, *_ in curves]
