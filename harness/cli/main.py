"""The `harness` command line: the table of commands, the parser built from it, and `main`, which
runs the chosen command's function (from its group module: `sweep`, `board`, `report`, `export`,
`catalog`) and turns a HarnessError, and an OSError or RecursionError no check caught, into one
line and exit code 2.

Heavy imports (torch, ray, onnx) happen inside the command that needs them, so `--help` is
instant and `harness predict` runs where torch is not installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness import __version__, signals
from harness.cli import board, catalog, export, report, runs, site, sweep
from harness.cli.shared import Command, Parser, add_debug
from harness.errors import HarnessError, from_os_error
from harness.paths import absolutize_environment
from harness.views.console import print_error

EXAMPLES = """examples:
  harness sweep                                   the default: digits, 2 archs x 2 optimizers x 2 lrs
  harness sweep --arch mlp --lr 0.01,0.1 --epochs 5
  harness leaderboard --format json
  harness leaderboard --task digits --group-seeds --sort test
  harness sweeps
  harness show TRIAL_ID --png figures/
  harness analyze SWEEP_ID --png figures/
  harness compare uchile2020-cifar10
  harness report --png                            docs/reproduction.md from the store's reproductions
  harness probe TRIAL_ID bn-train-mode
  harness export --task digits && harness predict results/onnx/*.onnx digit.png
"""


# Every command, in the order `harness --help` lists them; each group module declares its
# commands' texts, arguments and actions side by side.
COMMANDS: dict[str, Command] = {
    "sweep": sweep.SWEEP,
    "reproduce": sweep.REPRODUCE,
    "leaderboard": board.LEADERBOARD,
    "sweeps": sweep.SWEEPS,
    "show": board.SHOW,
    "analyze": board.ANALYZE,
    "compare": board.COMPARE,
    "report": report.REPORT,
    "probe": report.PROBE,
    "export": export.EXPORT,
    "verify": export.VERIFY,
    "card": export.CARD,
    "web": export.WEB,
    "predict": export.PREDICT,
    "export-runs": runs.EXPORT_RUNS,
    "site": site.SITE,
    "archs": catalog.ARCHS,
    "data": catalog.DATA,
}


def build_parser() -> Parser:
    parser = Parser(
        prog="harness",
        description="Benchmark harness for small image models: Ray Tune sweeps, a SQLite results store, "
        "rich leaderboards and verified ONNX exports.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, command in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=command.help,
            description=command.description,
            epilog=command.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter if command.epilog else argparse.HelpFormatter,
        )
        command.arguments(p)
        add_debug(p)
        p.set_defaults(func=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    absolutize_environment()  # HARNESS_DATA_DIR=./data means the same folder to every Ray worker
    signals.install()  # SIGTERM stops like Ctrl-C
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded with each sweep
    if not args.command:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except HarnessError as exc:
        if args.debug:
            raise
        print_error(str(exc))
        return 2
    except OSError as exc:  # the system refused a path the user named: too long a name, a full disk
        if args.debug:
            raise
        print_error(str(from_os_error(exc)))
        return 2
    except RecursionError:  # parsers bound nesting (harness.userfiles); this is the net under them
        if args.debug:
            raise
        print_error(str(HarnessError("an input is nested too deeply to read", "run with --debug to see which")))
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print_error("interrupted; every finished epoch is in the store")
        return signals.interrupted_exit_code()


if __name__ == "__main__":
    sys.exit(main())
