"""The `harness` command line: the parser, its flags, and `main`, which routes each command to
its function in `harness.cli.commands` (or `harness.cli.runs`, the commands that train) and turns a
HarnessError into one line and exit code 2.

Heavy imports (torch, ray, onnx) happen inside the command that needs them, so `--help` is
instant and `harness predict` runs where torch is not installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness import __version__, signals
from harness.cli.commands import (
    cmd_analyze,
    cmd_archs,
    cmd_card,
    cmd_data,
    cmd_export,
    cmd_leaderboard,
    cmd_predict,
    cmd_show,
    cmd_sweeps,
    cmd_verify,
    cmd_web,
)
from harness.cli.reports import add_report_commands
from harness.cli.runs import cmd_reproduce, cmd_sweep
from harness.cli.shared import (
    Parser,
    add_debug,
    add_format,
    add_ort_web,
    add_results,
    add_resume,
    add_runtime,
    add_settings,
)
from harness.config.spec import reproduce_settings
from harness.errors import HarnessError
from harness.paths import absolutize_environment
from harness.results.leaderboard import COMPARE_TOP, SORTS
from harness.views.console import print_error
from harness.views.leaderboard import TABLE_ROWS

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


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    add_settings(p, names=("data_dir", "variant", "image_size"))


def _add_run_output(p: argparse.ArgumentParser) -> None:
    """What `sweep` and `reproduce` print while and after they train."""
    p.add_argument("--no-live", action="store_true", help="no live trial table (for logs)")
    p.add_argument("--verbose", action="store_true", help="show Ray's own output")
    add_results(p)
    add_format(p)


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

    p = sub.add_parser(
        "sweep",
        help="run a sweep with Ray Tune, then export and verify the best trial",
        description="Run every combination of --arch x --optimizer x --lr x --batch-size as a Ray "
        "Tune trial, record every epoch in the store, print the leaderboard, then export the "
        "best trial to ONNX and verify it under onnxruntime. With no flags: the digits default.",
    )
    add_settings(p)
    p.add_argument("--config", metavar="FILE.toml", help="a sweep file (keys as in the README); flags override it")
    p.add_argument(
        "--preset",
        metavar="REPORT",
        help="a report's sweep: its recipe first, then the space around it "
        "(uni2022-catsdogs, uchile2020-cifar10, itesm2022-catsdogs, uni2022-pokemon, itam2020-catsdogs-mnist)",
    )
    add_resume(p, what="an interrupted sweep", latest="the latest one in the store")
    p.add_argument("--no-export", action="store_true", help="skip exporting and verifying the best trial")
    add_runtime(p, default="onnxruntime only")
    _add_run_output(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "reproduce",
        help="re-run a report's published runs and print ours beside its figures",
        description="Run each recipe of REPORT (its network, optimizer, learning rate, batch, epochs, "
        "augmentation, split, image size and input scaling) as one trial, export and verify it, and "
        "print the report's published figure beside ours, with how the report measured differently.",
    )
    p.add_argument(
        "report",
        help="uni2022-catsdogs, uchile2020-cifar10, itesm2022-catsdogs, uni2022-pokemon, itam2020-catsdogs-mnist",
    )
    add_settings(p, names=reproduce_settings(), default="the recipe's; a change is marked beside the result")
    p.add_argument(
        "--skip-missing",
        action="store_true",
        help="run the recipes whose data is there and list the others as not run (default: refuse)",
    )
    add_resume(p, what="an interrupted reproduction of REPORT", latest="the latest one")
    _add_run_output(p)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser(
        "leaderboard",
        help="rank the stored trials of each task",
        description="One table per task: trials ranked by the task's validation metric (or --sort), "
        "with the test score of each best checkpoint, speed, the seconds to reach the best "
        "published figure, ONNX status, and the reports' published numbers beside our best.",
    )
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
        type=int,
        default=COMPARE_TOP,
        metavar="K",
        help="test rows 2..K against #1 over their seeds (Welch's t test, Bonferroni; rows of 3 seeds "
        f"or more; 0: none; default: {COMPARE_TOP})",
    )
    rows = p.add_mutually_exclusive_group()
    rows.add_argument(
        "--top",
        type=int,
        metavar="N",
        help=f"only the N best rows of each task (default: the table shows {TABLE_ROWS} and counts the rest; "
        "json, csv and markdown are for programs and keep every row)",
    )
    rows.add_argument("--all", action="store_true", help="the table shows every row (slow for thousands of trials)")
    add_results(p)
    add_format(p, extra=("markdown", "csv"))
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser(
        "sweeps",
        help="list the stored sweeps: status, trials by status, duration, best metric",
        description="Every sweep in the store, newest first: its id (for --sweep and --resume), "
        "task, status (running, finished, failed, interrupted), trials by status, start, duration "
        "and best validation metric.",
    )
    p.add_argument("--task", help="only the sweeps of this task")
    add_results(p)
    add_format(p)
    p.set_defaults(func=cmd_sweeps)

    p = sub.add_parser(
        "show",
        help="one trial in full: config, epochs, curves, confusion matrix",
        description="A trial's config and environment, every epoch, learning curves, and its best "
        "checkpoint on the test split: a row-normalised confusion matrix (classification) or "
        "PSNR and pixel accuracy (upsampling).",
    )
    p.add_argument("trial", metavar="TRIAL_ID", help="a trial id from `harness leaderboard`")
    p.add_argument(
        "--png", metavar="DIR", help='also write learning-curve and confusion PNGs to DIR (needs "harness[plots]")'
    )
    add_results(p)
    add_format(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "analyze",
        help="what mattered in a sweep: importance, the metric by learning rate, time to target",
        description="Per task of the sweep: each varying setting's fANOVA importance for the task's "
        "metric (validation, and test where scored), the metric by learning rate per architecture x "
        "optimizer, each configuration's seconds to the target over its seeds, the best trials' curves.",
    )
    p.add_argument(
        "sweep", metavar="SWEEP_ID", nargs="?", help="a sweep id from `harness sweeps` (default: the latest)"
    )
    p.add_argument("--task", help="only this task of the sweep")
    p.add_argument("--target", type=float, metavar="VALUE", help="validation figure to race to (default: published)")
    p.add_argument("--png", metavar="DIR", help='also write the figures to DIR (needs "harness[plots]")')
    add_results(p)
    add_format(p)
    p.set_defaults(func=cmd_analyze)

    add_report_commands(sub)

    p = sub.add_parser(
        "export",
        help="export the best (or a named) trial to ONNX and verify it",
        description="Export a trial's best checkpoint to ONNX (dynamic batch, metadata), check it "
        "with onnx.checker and verify it under onnxruntime on the whole test split. Default: "
        "the best trial of every task in the store.",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--task", help="export the best trial of this task")
    which.add_argument("--trial", metavar="ID", help="export this trial (ids: `harness leaderboard`)")
    p.add_argument(
        "--out",
        metavar="PATH",
        help="a folder for the .onnx files (default: RESULTS/onnx), or a file name ending in .onnx for one trial",
    )
    p.add_argument(
        "--opset",
        type=int,
        default=18,
        metavar="N",
        help="ONNX opset (default: 18; the newest allowed is the one the installed onnxruntime loads)",
    )
    p.add_argument(
        "--quantize",
        choices=("int8",),
        help="also write an INT8 model (onnxruntime static quantization calibrated on training images) and verify it",
    )
    add_runtime(p, default="onnxruntime only")
    p.add_argument("--web", metavar="DIR", help="also write the browser page for each exported file (`harness web`)")
    add_ort_web(p)
    add_results(p)
    add_format(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "verify",
        help="compare an exported model with its PyTorch checkpoint",
        description="Run the whole test split through onnxruntime and the trial's PyTorch "
        "checkpoint, time both, then through every other runtime installed (--runtime): one row "
        "per runtime under the same gate; exit 1 when one disagrees. A runtime that is not "
        "installed is listed, not an error.",
    )
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("--task", help="verify on this task's test split (default: the model's own task)")
    add_runtime(p, default="installed: every runtime found here")
    add_results(p)
    add_format(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "card",
        help="print an exported model's card: its metadata and the store's verifications of it",
        description="What the file says about itself (data, split, network, training recipe, test "
        "metric, published figure, preprocessing) and every verification the store holds for that "
        "file (matched by its sha256). markdown is the text of the X.md written beside X.onnx.",
    )
    p.add_argument("model", metavar="MODEL.onnx")
    add_results(p)
    add_format(p, extra=("markdown",))
    p.set_defaults(func=cmd_card)

    p = sub.add_parser(
        "web",
        help="write a static page that runs a model in the browser (onnxruntime-web)",
        description="Write index.html, its script, the model and onnxruntime-web's WASM files into "
        "DIR: a page that classifies a dropped image (or upsamples it, for an image model) offline. "
        "Serve DIR over HTTP (`python -m http.server -d DIR`): a file:// page cannot load WebAssembly.",
    )
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("dir", metavar="DIR", help="the folder to write the page into (created)")
    add_ort_web(p)
    p.set_defaults(func=cmd_web)

    p = sub.add_parser(
        "predict",
        help="classify image files with an exported model (onnxruntime only)",
        description="Read preprocessing and labels from the model's metadata and classify each "
        "image; a folder means every image in it. Needs only onnxruntime, numpy and Pillow.",
    )
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("inputs", metavar="FILE", nargs="+", help="image files or folders")
    p.add_argument("--top", type=int, default=1, metavar="K", help="show the K most likely labels (default: 1)")
    p.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    add_format(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "archs",
        help="list the architectures",
        description="Every registered architecture: its report, input, outputs, parameters beside "
        "the report's own count, multiply-accumulates per image and the tasks it fits.",
    )
    p.add_argument("--task", help="only the architectures that fit TASK, counted at its input and classes")
    p.add_argument("--image-size", type=int, metavar="PX", help="with --task: count at this image side (photo sets)")
    add_format(p)
    p.set_defaults(func=cmd_archs)

    p = sub.add_parser(
        "data",
        help="where each task's data is, its cache, and `data prepare TASK`",
        description="`harness data [TASK]`: where each task's data was found, images per split and "
        "class, skipped files, and the decode-once cache (never downloads or decodes). "
        "`harness data prepare TASK...`: find (or download, when online) and decode into the cache.",
    )
    p.add_argument("words", nargs="*", metavar="[prepare] TASK", help="a task to show, or `prepare` and tasks")
    _add_data_flags(p)
    add_format(p)
    p.set_defaults(func=cmd_data)
    for command in sub.choices.values():
        add_debug(command)
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
    except KeyboardInterrupt:
        if args.debug:
            raise
        print_error("interrupted; every finished epoch is in the store")
        return signals.interrupted_exit_code()


if __name__ == "__main__":
    sys.exit(main())
