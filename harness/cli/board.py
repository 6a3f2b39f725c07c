"""The commands that read the store's trials: `harness leaderboard`, `harness show`, `harness
analyze` and `harness compare`, each one's arguments beside what it does."""

from __future__ import annotations

import argparse

from harness.cli.shared import Command, add_format, add_results, print_boards, results_dir_of
from harness.config.settings import bounded_int, finite_float
from harness.errors import HarnessError
from harness.escape import markup
from harness.paths import absolute
from harness.results.leaderboard import COMPARE_TOP, SORTS
from harness.views.console import console, print_json
from harness.views.leaderboard import TABLE_ROWS


def leaderboard_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", help="only this task")
    p.add_argument("--sweep", metavar="ID", help="only the trials of this sweep")
    p.add_argument(
        "--sort",
        default="metric",
        metavar="KEY",
        help=f"rank by {', '.join(SORTS)} (default: metric, the task's validation metric)",
    )
    grouping = (
        "one row per configuration: the mean over its seeds, their std and a 95%% t interval "
        "(default: when some configuration has several)"
    )
    p.add_argument("--group-seeds", action=argparse.BooleanOptionalAction, help=grouping)
    p.add_argument(
        "--compare-top",
        type=bounded_int,
        default=COMPARE_TOP,
        metavar="K",
        help="test rows 2..K against #1 over their seeds (Welch's t test, Bonferroni; rows of 3 seeds "
        f"or more; 0: none; default: {COMPARE_TOP})",
    )
    rows = p.add_mutually_exclusive_group()
    rows.add_argument(
        "--top",
        type=bounded_int,
        metavar="N",
        help=f"only the N best rows of each task (default: the table shows {TABLE_ROWS} and counts the rest; "
        "json, csv and markdown are for programs and keep every row)",
    )
    rows.add_argument("--all", action="store_true", help="the table shows every row (slow for thousands of trials)")
    add_results(p)
    add_format(p, extra=("markdown", "csv"))


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from harness.datasets import get_task
    from harness.results.leaderboard import leaderboards
    from harness.store.db import Store

    if args.task:
        get_task(args.task)  # an unknown name fails here, with the valid choices
    if args.compare_top < 0:
        raise HarnessError(f"--compare-top {args.compare_top} is below 0", "pass --compare-top K with K >= 0 (0: none)")
    if args.top is not None and args.top < 1:
        raise HarnessError(f"--top {args.top} is below 1", "pass --top N with N >= 1, or leave it out for every row")
    with Store.existing(results_dir_of(args)) as store:
        boards = leaderboards(
            store,
            task=args.task,
            sweep_id=args.sweep,
            top=args.top,
            sort=args.sort,
            group=args.group_seeds,
            compare=args.compare_top,
        )
    if not boards and args.format == "table":
        console.print(
            "no trials in the store yet: run `harness sweep`"
            if not args.task
            else f"no trials of {markup(args.task)} in the store: `harness sweeps` lists what it holds"
        )
    # A table shows the top rows unless --top or --all chose; JSON, CSV and markdown are for
    # programs and documents, which get every row unless --top cuts them.
    cut = args.format == "table" and args.top is None and not args.all
    print_boards(boards, args.format, table_rows=TABLE_ROWS if cut else None)
    return 0


LEADERBOARD = Command(
    help="rank the stored trials of each task",
    description="One table per task: trials ranked by the task's validation metric (or --sort), "
    "with the test score of each best checkpoint, speed, the seconds to reach the best "
    "published figure, ONNX status, and the reports' published numbers beside our best.",
    arguments=leaderboard_arguments,
    run=cmd_leaderboard,
)


def show_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("trial", metavar="TRIAL_ID", help="a trial id from `harness leaderboard`")
    p.add_argument(
        "--png", metavar="DIR", help='also write learning-curve and confusion PNGs to DIR (needs "harness[plots]")'
    )
    add_results(p)
    add_format(p)


def cmd_show(args: argparse.Namespace) -> int:
    from harness.results.show import render_report, trial_report
    from harness.store.db import Store

    with Store.existing(results_dir_of(args)) as store:
        report = trial_report(store, args.trial)
    written = []
    if args.png:
        from harness.views.plots import write_pngs

        written = [str(p) for p in write_pngs(report, absolute(args.png))]
    if args.format == "json":
        print_json({**report, "png": written})
        return 0
    console.print(render_report(report))
    for path in written:
        console.print(f"wrote {markup(path)}")
    return 0


SHOW = Command(
    help="one trial in full: config, epochs, curves, confusion matrix",
    description="A trial's config and environment, every epoch, learning curves, and its best "
    "checkpoint on the test split: a row-normalised confusion matrix (classification) or "
    "PSNR and pixel accuracy (upsampling).",
    arguments=show_arguments,
    run=cmd_show,
)


def analyze_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "sweep", metavar="SWEEP_ID", nargs="?", help="a sweep id from `harness sweeps` (default: the latest)"
    )
    p.add_argument("--task", help="only this task of the sweep")
    p.add_argument(
        "--target", type=finite_float, metavar="VALUE", help="validation figure to race to (default: published)"
    )
    p.add_argument("--png", metavar="DIR", help='also write the figures to DIR (needs "harness[plots]")')
    add_results(p)
    add_format(p)


def cmd_analyze(args: argparse.Namespace) -> int:
    from harness.results.analyze import analyze_sweep
    from harness.store.db import Store

    with Store.existing(results_dir_of(args)) as store:
        analyses = analyze_sweep(store, args.sweep, task=args.task, target_value=args.target)
    written = []
    if args.png:
        from harness.views.plots import write_analysis_pngs

        written = [str(p) for p in write_analysis_pngs(analyses, absolute(args.png))]
    if args.format == "json":
        print_json({"analyses": analyses, "png": written})
        return 0
    from harness.views.analyze import render_analysis

    for analysis in analyses:
        console.print(render_analysis(analysis))
    if not analyses:
        console.print("this sweep has no trials yet")
    for path in written:
        console.print(f"wrote {markup(path)}")
    return 0


ANALYZE = Command(
    help="what mattered in a sweep: importance, the metric by learning rate, time to target",
    description="Per task of the sweep: each varying setting's fANOVA importance for the task's "
    "metric (validation, and test where scored), the metric by learning rate per architecture x "
    "optimizer, each configuration's seconds to the target over its seeds, the best trials' curves.",
    arguments=analyze_arguments,
    run=cmd_analyze,
)


def compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "report", metavar="REPORT_ID", help="uni2022-catsdogs, uchile2020-cifar10, ... (`harness compare x` lists them)"
    )
    add_results(p)
    add_format(p)


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.config.presets import get_preset
    from harness.report.compare import compare
    from harness.store.db import Store

    get_preset(args.report)  # an unknown report fails here, naming the five
    with Store.existing(results_dir_of(args)) as store:
        rows = compare(store, args.report)
    if args.format == "json":
        print_json(rows)
        return 0
    from harness.views.tables import render_reproduction

    console.print(render_reproduction(rows, title="published vs the store's trials"))
    return 0


COMPARE = Command(
    help="a report's published figures beside the store's trials",
    description="Per run of the report: its published figure, the best stored trial of the same "
    "network on the same data (measured as the report measured), and the best network there. "
    "Nothing is trained: `harness reproduce` runs the recipes.",
    arguments=compare_arguments,
    run=cmd_compare,
)
