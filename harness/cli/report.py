"""The commands that set the store beside the reports' measurements: `harness report` (the
reproduction document from a store, writing the rows beside it, or from a JSON export of those
rows, re-rendering it byte for byte) and `harness probe TRIAL_ID PROBE` (a stored trial measured
as a report measured it, beside the trial's own figure, and recorded; harness.results.probes),
each one's arguments beside what it does."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import cast

from rich.text import Text

from harness.cli.shared import Command, add_format, add_results, add_results_to, results_dir_of
from harness.errors import HarnessError
from harness.escape import code, markup
from harness.kinds import WEIGHTS
from harness.report.document import Document, finished
from harness.results.probes import PROBES, Probe, ProbeRecord, get_probe, probes_help
from harness.safefile import refuse_links, write_text
from harness.userfiles import MiB, parse_json, read_regular, shape_problem
from harness.views.console import console, err_console, print_json


def report_arguments(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group()
    source.add_argument("--from", dest="from_rows", metavar="ROWS.json", help="render from these rows, not a store")
    add_results_to(source)
    p.add_argument(
        "--out", default="docs/reproduction.md", metavar="FILE.md", help="the document (default: docs/reproduction.md)"
    )
    p.add_argument(
        "--png", action="store_true", help="also write the learning curves it links, under reproduction/ beside it"
    )
    p.add_argument("--readme", metavar="FILE", help="also put the summary table into FILE, between its two markers")
    p.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="ROWS.json",
        help="also keep the finished rows of this rows file (another machine's, or the committed"
        " docs/reproduction.json) for recipes the store has no finished run of; repeatable",
    )
    add_format(p)


def cmd_report(args: argparse.Namespace) -> int:
    from harness.cli.shared import results_dir_of
    from harness.report.keep import keep_finished
    from harness.views.report import render, with_summary, write_curves

    out = Path(args.out)
    if out.suffix != ".md":
        raise HarnessError(
            f"--out {args.out!r} does not end in .md", "pass --out a markdown file, e.g. docs/reproduction.md"
        )
    rows_file = rows_path(out)
    if args.from_rows and args.keep:
        raise HarnessError("--keep needs a store to add to", "drop --from, or render the kept file itself with --from")
    kept_files = [read_rows(Path(k)) for k in args.keep]  # each refused in one line before anything is read
    kept: list[str] = []
    if args.from_rows:
        doc = read_rows(Path(args.from_rows))
    else:
        from harness.datasets import resolve_data_root
        from harness.report.reproduction import collect
        from harness.store.db import Store

        with Store.existing(results_dir_of(args)) as store:
            doc = collect(store, data_root=str(resolve_data_root(None)))
        for other in kept_files:
            doc, labels = keep_finished(doc, other)
            kept += labels
    # the file names are the user's --out: code spans, so a `<` or a backtick in them stays text
    rerender = code(f"harness report --from {rows_file.name} --out {out.name}")
    source = f"{code(rows_file.name)} beside this file; re-render: {rerender}"
    text = render(doc, source=source)
    readme_text = _readme(Path(args.readme)) if args.readme else ""  # checked before anything is written
    # A link at any name written is refused before the first is: the README too (it is replaced, not edited)
    written = [out, *([] if args.from_rows else [rows_file]), *([Path(args.readme)] if args.readme else [])]
    refuse_links(written)
    pngs = write_curves(doc, out.parent) if args.png else []  # before the document: a failure leaves nothing new
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.from_rows:
        write_text(rows_file, json.dumps(doc, indent=1, sort_keys=True) + "\n")
    write_text(out, text)
    if args.readme:
        write_text(Path(args.readme), with_summary(readme_text, doc))
    rows = [r for report in doc["reports"] for r in report["rows"]]
    if args.format == "json":
        print_json(doc)
        return 0
    ran = sum(r.get("ours") is not None and finished(r) for r in rows)
    quick = sum(r["status"] == "quick check" for r in rows)
    console.print(  # the paths are the user's --out: text, never markup
        f"wrote {markup(out)} ({len(rows)} recipes: {ran} reproduced, {quick} quick checks,"
        f" {len(rows) - ran - quick} other)"
        + ("" if args.from_rows else f", its rows {markup(rows_file)}")
        + (f" and {len(pngs)} learning curves under {markup(out.parent / 'reproduction')}" if pngs else ""),
        highlight=False,
    )
    if kept:
        console.print(markup(f"kept {len(kept)} finished rows from --keep: {'; '.join(kept)}"), highlight=False)
    return 0


REPORT = Command(
    help="write docs/reproduction.md: every report's recipes, published vs ours with intervals",
    description="Render the reproduction document from the store's reproductions (writing its rows "
    "as JSON beside it) or from such a JSON file (--from): per report and recipe, the published "
    "figure, ours with its 95% interval and test, budget, wall time, hardware, data and command; "
    "data-size points and the best other sweep on the same data.",
    arguments=report_arguments,
    run=cmd_report,
)


def rows_path(out: Path) -> Path:
    """The rows behind a document: docs/reproduction.md -> docs/reproduction.json."""
    return out.with_suffix(".json")


ROWS_FILE_BYTES = 256 * MiB  # the five reports' rows are about 200 KB


def read_rows(path: Path) -> Document:
    """`--from ROWS.json`: the rows `harness report` wrote, refused in one line unless they are
    JSON of the document's shape (harness.report.document), so the renderer can trust them."""
    from harness.report.reproduction import FORMAT

    hint = "pass --from the JSON `harness report` wrote beside its document"
    data = read_regular(path, what="rows file", limit=ROWS_FILE_BYTES, hint=hint)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{str(path)!r} is not a JSON rows file ({exc})", hint) from None
    doc = parse_json(text, what=repr(str(path)), hint=hint, kind="a JSON rows file")
    if isinstance(doc, dict) and str(doc.get("format")).startswith("harness-reproduction/") and doc["format"] != FORMAT:
        raise HarnessError(
            f"{str(path)!r} holds rows of format {str(doc['format'])!r}, not {FORMAT!r}",
            "render its document again from the store (`harness report --results DIR`)",
        )
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise HarnessError(f"{str(path)!r} is not a reproduction rows file (format {FORMAT!r})", hint)
    problem = shape_problem(doc, Document, where="rows")
    if problem:
        raise HarnessError(f"{str(path)!r} is not a reproduction rows file: {problem}", hint)
    return cast("Document", doc)


def _readme(path: Path) -> str:
    from harness.views.report import README_BEGIN, README_END

    hint = "pass --readme the project's README.md"
    try:
        text = read_regular(path, what="--readme", limit=16 * MiB, hint=hint).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HarnessError(f"cannot read --readme {str(path)!r} ({exc})", hint) from None
    if README_BEGIN not in text or README_END not in text:
        raise HarnessError(
            f"--readme {str(path)!r} has no summary block",
            f"put the two lines {README_BEGIN} and {README_END} where the table goes",
        )
    return text


def probe_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("trial", metavar="TRIAL_ID", help="a trial id from `harness leaderboard`")
    p.add_argument("probe", metavar="PROBE", help=f"one of: {', '.join(PROBES)}")
    p.add_argument(
        "--weights",
        choices=WEIGHTS,
        default="best",
        help="the trial's best checkpoint, or the weights its last epoch ended with (what a report that"
        " printed its final epoch measured) (default: best)",
    )
    add_results(p)
    add_format(p)


def cmd_probe(args: argparse.Namespace) -> int:
    from harness.results.probes import run_probe
    from harness.store.db import Store

    probe = get_probe(args.probe)  # an unknown probe fails here, naming the choices, before the store opens
    with (
        Store.existing(results_dir_of(args), writer=True) as store,
        err_console.status(markup(f"probing trial {args.trial}: {args.probe}")),
    ):
        record = run_probe(store, trial_id=args.trial, name=args.probe, weights=args.weights)
    if args.format == "json":
        print_json(record)
        return 0
    console.print(Text(f"trial {record['trial_id']}", style="bold"), soft_wrap=True)
    for line in probe_lines(record, probe):
        console.print(Text(line), soft_wrap=True)  # plain text: the intervals' brackets are no markup
    return 0


PROBE = Command(
    help="measure a stored trial as a report measured it, beside the trial's own figure",
    description="Score one stored trial's best checkpoint (or its data) the way a report measured, "
    "print that figure with its 95% interval beside the trial's own, and record it in the store "
    "(a second run replaces it): a gap to a report explained by a measurement.",
    arguments=probe_arguments,
    run=cmd_probe,
    epilog=probes_help(),
)


def probe_lines(record: ProbeRecord, probe: Probe) -> list[str]:
    """The figure with its interval, the baseline, and the probe's note: one line each."""
    detail = record["detail"]
    interval = (
        f"[{record['ci95_low']:.2%}, {record['ci95_high']:.2%}] {detail['interval']}"
        if record["ci95_low"] is not None
        else detail["interval"]
    )
    baseline = (
        f"{_share(record['baseline'])}: {probe.baseline}"
        if record["baseline"] is not None
        else f"-: {probe.baseline} is not in the store (the trial stopped before its test scoring)"
    )
    width = max(len(record["probe"]), len("baseline"))
    return [
        f"{record['probe']:<{width}}  {_share(record['value'])} {interval}, n = {record['n']:,} {probe.unit}: "
        f"{probe.figure} ({probe.report})",
        f"{'baseline':<{width}}  {baseline}",
        f"{'':<{width}}  {detail['weights'] + ' weights; ' if detail.get('weights') else ''}{detail['note']}",
    ]


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"
