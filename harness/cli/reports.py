"""The parsers of the commands that set the store beside the reports: `compare`, `report` and
`probe` (kept apart from harness/cli/main.py, which builds the others and routes them all)."""

from __future__ import annotations

import argparse
from typing import Any

from harness.cli.commands import cmd_compare
from harness.cli.probe import cmd_probe
from harness.cli.report import cmd_report
from harness.cli.shared import add_format, add_results, add_results_to
from harness.results.probes import PROBES, probes_help


def add_report_commands(sub: Any) -> None:
    """Add the three commands to `sub`, the parser's subparsers."""
    p = sub.add_parser(
        "compare",
        help="a report's published figures beside the store's trials",
        description="Per run of the report: its published figure, the best stored trial of the same "
        "network on the same data (measured as the report measured), and the best network there. "
        "Nothing is trained: `harness reproduce` runs the recipes.",
    )
    p.add_argument(
        "report", metavar="REPORT_ID", help="uni2022-catsdogs, uchile2020-cifar10, ... (`harness compare x` lists them)"
    )
    add_results(p)
    add_format(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "report",
        help="write docs/reproduction.md: every report's recipes, published vs ours with intervals",
        description="Render the reproduction document from the store's reproductions (writing its rows "
        "as JSON beside it) or from such a JSON file (--from): per report and recipe, the published "
        "figure, ours with its 95% interval and test, budget, wall time, hardware, data and command; "
        "data-size points and the best other sweep on the same data.",
    )
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
    add_format(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "probe",
        help="measure a stored trial as a report measured it, beside the trial's own figure",
        description="Score one stored trial's best checkpoint (or its data) the way a report measured, "
        "print that figure with its 95% interval beside the trial's own, and record it in the store "
        "(a second run replaces it): a gap to a report explained by a measurement.",
        epilog=probes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("trial", metavar="TRIAL_ID", help="a trial id from `harness leaderboard`")
    p.add_argument("probe", metavar="PROBE", help=f"one of: {', '.join(PROBES)}")
    add_results(p)
    add_format(p)
    p.set_defaults(func=cmd_probe)
