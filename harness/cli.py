"""The `harness` command: parses flags, calls the library, prints. Nothing else lives here.

Heavy imports (torch, ray, onnx) happen inside the command that needs them, so `--help` is
instant and `harness predict` runs where torch is not installed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Sequence

from harness import __version__
from harness.console import console, err_console, print_error, print_json, print_warning
from harness.errors import HarnessError

if TYPE_CHECKING:  # the store is imported lazily at run time, like everything heavy here
    from harness.store import Store

EXAMPLES = """examples:
  harness sweep                                   the default: digits, 2 archs x 2 optimizers x 2 lrs
  harness sweep --arch mlp --lr 0.01,0.1 --epochs 5
  harness leaderboard --format json
  harness export --task digits && harness predict results/onnx/*.onnx digit.png
"""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line with a pointer to --help (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        print_error(f"{self.prog}: {message} (see `{self.prog} --help`)")
        sys.exit(2)


class ListAction(argparse.Action):
    """Repeatable and comma-separated: `--lr 0.1,0.01 --lr 0.001` -> [0.1, 0.01, 0.001]."""

    def __init__(self, *args: Any, convert: Callable[[str], Any] = str, **kwargs: Any) -> None:
        self.convert = convert
        super().__init__(*args, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:  # fmt: skip
        items = list(getattr(namespace, self.dest, None) or [])
        for part in str(values).split(","):
            if not part.strip():
                continue
            try:
                items.append(self.convert(part.strip()))
            except ValueError:
                parser.error(f"argument {option_string}: invalid value {part.strip()!r}")
        setattr(namespace, self.dest, items)


def _lr_range(text: str) -> tuple[float, float]:
    """`--lr-range 1e-4:1e-1` -> (0.0001, 0.1)."""
    low, sep, high = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not LOW:HIGH, e.g. 1e-4:1e-1")
    return float(low), float(high)


def _add_results(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", metavar="DIR", help="results folder holding harness.db (default: $HARNESS_RESULTS or ./results)")


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR", help="data root (default: $HARNESS_DATA_DIR or ~/.cache/harness/data)")
    p.add_argument("--variant", help="the task's split recipe, e.g. cifar10: report | full; cats_vs_dogs: A | B")
    p.add_argument("--image-size", type=int, metavar="PX",
                   help="photo sets: resize images to PX x PX (default: cats_vs_dogs 128, pokemon150 224)")  # fmt: skip


def _add_format(p: argparse.ArgumentParser, *, extra: tuple[str, ...] = ()) -> None:
    p.add_argument("--format", choices=("table", "json", *extra), default="table", help="output format (default: table)")


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

    p = sub.add_parser("sweep", help="run a sweep with Ray Tune, then export and verify the best trial",
                       description="Run every combination of --arch x --optimizer x --lr x --batch-size as a Ray "
                       "Tune trial, record every epoch in the store, print the leaderboard, then export the "
                       "best trial to ONNX and verify it under onnxruntime. With no flags: the digits default.")  # fmt: skip
    p.add_argument("--task", help="task to train on (default: digits); see `harness data`")
    p.add_argument("--arch", action=ListAction, help="architectures, repeatable or comma-separated; see `harness archs`")
    p.add_argument("--optimizer", action=ListAction, help="optimizers: sgd, momentum, nesterov, adam, adamw, rmsprop")
    p.add_argument("--lr", action=ListAction, convert=float, help="learning rates, > 0 (default: 0.003,0.03)")
    p.add_argument("--batch-size", action=ListAction, convert=int, help="batch sizes (default: 64)")
    p.add_argument("--epochs", type=int, help="epochs per trial, >= 1 (default: 10)")
    p.add_argument("--weight-decay", action=ListAction, convert=float, help="weight decays, >= 0 (default: 0)")
    p.add_argument("--seed", action=ListAction, convert=int, help="seeds for weights and shuffling (default: 0)")
    p.add_argument("--config", metavar="FILE.toml", help="a sweep file (keys as in the README); flags override it")
    p.add_argument("--preset", metavar="REPORT", help="a report's sweep: its recipe first, then the space around it "
                   "(uni2022-catsdogs, uchile2020-cifar10, itesm2022-catsdogs, uni2022-pokemon, itam2020-catsdogs-mnist)")
    p.add_argument("--search", help="grid (every combination), random or optuna (default: grid)")
    p.add_argument("--num-samples", type=int, help="grid: repeats of the grid; random/optuna: trials drawn (default: 1)")
    p.add_argument("--lr-range", type=_lr_range, metavar="LOW:HIGH", help="random/optuna: learning rate log-uniform in it")
    p.add_argument("--scheduler", help="fifo (every trial runs all epochs) or asha (stops weak trials early)")
    p.add_argument("--max-concurrent", type=int, help="at most this many trials at once (default: what resources allow)")
    p.add_argument("--time-budget", type=float, metavar="SECONDS", help="stop the sweep after this long")
    p.add_argument("--resume", nargs="?", const="latest", metavar="SWEEP_ID",
                   help="continue an interrupted sweep (default: the latest one in the store)")  # fmt: skip
    p.add_argument("--address", help="join an existing Ray cluster: auto, HOST:PORT or ray://HOST:PORT")
    p.add_argument("--storage", metavar="PATH|URI", help="Ray's experiment storage, shared by all nodes (default: RESULTS/ray)")
    _add_data_flags(p)
    p.add_argument("--augment", help="batch augmentation preset (default: the task's reports'): "
                                     "none, uni2022, itesm2022, pokemon, cifar")  # fmt: skip
    p.add_argument("--pixels", help="input scaling: standard (the task's mean/std), unit (x/255) or raw (0..255)")
    p.add_argument("--train-limit", type=int, metavar="N", help="train on N training images only (quick checks)")
    p.add_argument("--cpus-per-trial", type=float, help="CPUs Ray reserves per trial (default: 1)")
    p.add_argument("--gpus-per-trial", type=float, help="GPU share per trial (default: 0.25 with CUDA, else 0)")
    p.add_argument("--no-export", action="store_true", help="skip exporting and verifying the best trial")
    p.add_argument("--no-live", action="store_true", help="no live trial table (for logs)")
    p.add_argument("--verbose", action="store_true", help="show Ray's own output")
    _add_results(p)
    _add_format(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("reproduce", help="re-run a report's published runs and print ours beside its figures",
                       description="Run each recipe of REPORT (its network, optimizer, learning rate, batch, epochs, "
                       "augmentation, split, image size and input scaling) as one trial, export and verify it, and "
                       "print the report's published figure beside ours, with how the report measured differently.")  # fmt: skip
    p.add_argument("report", help="uni2022-catsdogs, uchile2020-cifar10, itesm2022-catsdogs, uni2022-pokemon, "
                                  "itam2020-catsdogs-mnist")  # fmt: skip
    p.add_argument("--epochs", type=int, help="override the recipe's epochs (e.g. 1 for a quick check)")
    p.add_argument("--train-limit", type=int, metavar="N", help="train on N training images only (quick checks)")
    p.add_argument("--data-dir", metavar="DIR", help="data root (default: $HARNESS_DATA_DIR or ~/.cache/harness/data)")
    p.add_argument("--no-live", action="store_true", help="no live trial table (for logs)")
    p.add_argument("--verbose", action="store_true", help="show Ray's own output")
    _add_results(p)
    _add_format(p)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("leaderboard", help="rank the stored trials of each task",
                       description="One table per task: trials ranked by the task's validation metric.")  # fmt: skip
    p.add_argument("--task", help="only this task")
    p.add_argument("--sweep", metavar="ID", help="only the trials of this sweep")
    _add_results(p)
    _add_format(p)
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("export", help="export the best (or a named) trial to ONNX and verify it",
                       description="Export a trial's best checkpoint to ONNX (dynamic batch, metadata), check it "
                       "with onnx.checker and verify it under onnxruntime on the whole test split. Default: "
                       "the best trial of every task in the store.")  # fmt: skip
    which = p.add_mutually_exclusive_group()
    which.add_argument("--task", help="export the best trial of this task")
    which.add_argument("--trial", metavar="ID", help="export this trial (ids: `harness leaderboard`)")
    p.add_argument("--out", metavar="DIR", help="folder for .onnx files (default: RESULTS/onnx)")
    _add_results(p)
    _add_format(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("verify", help="compare an exported model with its PyTorch checkpoint",
                       description="Run the whole test split through onnxruntime and the trial's PyTorch "
                       "checkpoint; exit 1 when they disagree.")  # fmt: skip
    p.add_argument("model", metavar="MODEL.onnx")
    _add_results(p)
    _add_format(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("predict", help="classify image files with an exported model (onnxruntime only)",
                       description="Read preprocessing and labels from the model's metadata and classify each "
                       "image; a folder means every image in it. Needs only onnxruntime, numpy and Pillow.")  # fmt: skip
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("inputs", metavar="FILE", nargs="+", help="image files or folders")
    p.add_argument("--top", type=int, default=1, metavar="K", help="show the K most likely labels (default: 1)")
    p.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    _add_format(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("archs", help="list the architectures",
                       description="Every registered architecture: its report, input, outputs, parameters beside "
                                   "the report's own count, multiply-accumulates per image and the tasks it fits.")  # fmt: skip
    p.add_argument("--task", help="only the architectures that fit TASK, counted at its input and classes")
    p.add_argument("--image-size", type=int, metavar="PX", help="with --task: count at this image side (photo sets)")
    _add_format(p)
    p.set_defaults(func=cmd_archs)

    p = sub.add_parser("data", help="where each task's data is, its cache, and `data prepare TASK`",
                       description="`harness data [TASK]`: where each task's data was found, images per split and "
                       "class, skipped files, and the decode-once cache (never downloads or decodes). "
                       "`harness data prepare TASK...`: find (or download, when online) and decode into the cache.")  # fmt: skip
    p.add_argument("words", nargs="*", metavar="[prepare] TASK", help="a task to show, or `prepare` and tasks")
    _add_data_flags(p)
    _add_format(p)
    p.set_defaults(func=cmd_data)
    return parser


def _results_dir(args: argparse.Namespace) -> Path:
    from harness.store import resolve_results_dir

    return resolve_results_dir(args.results)


def _print_boards(boards: list[dict[str, Any]], fmt: str) -> None:
    from harness.leaderboard import render_board

    if fmt == "json":
        print_json(boards)
        return
    for board in boards:
        console.print(render_board(board, width=console.width))


def cmd_sweep(args: argparse.Namespace) -> int:
    from harness.config import SweepSpec

    if args.resume:
        return _resume(args)
    given = {
        "task": args.task, "archs": args.arch, "optimizers": args.optimizer, "lrs": args.lr,
        "lr_range": args.lr_range, "batch_sizes": args.batch_size, "weight_decays": args.weight_decay,
        "epochs": args.epochs, "seeds": args.seed, "search": args.search, "num_samples": args.num_samples,
        "scheduler": args.scheduler, "max_concurrent": args.max_concurrent, "time_budget_s": args.time_budget,
        "data_dir": args.data_dir, "variant": args.variant, "image_size": args.image_size, "augment": args.augment,
        "pixels": args.pixels, "train_limit": args.train_limit, "cpus_per_trial": args.cpus_per_trial,
        "gpus_per_trial": args.gpus_per_trial, "address": args.address, "storage": args.storage,
    }  # fmt: skip
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v is not None}
    if args.preset:
        from harness.presets import preset_sweeps

        specs = preset_sweeps(args.preset, given)
    else:
        specs = [SweepSpec.from_toml(args.config, given) if args.config else SweepSpec(**given)]
    for spec in specs:
        spec.validate()  # every sweep of a preset, before the first one starts
    from harness.store import prepare_results_dir

    results_dir = prepare_results_dir(_results_dir(args))
    from harness.sweep import run_sweep  # imports ray: only once the spec is known to be good

    code = 0
    for spec in specs:
        sweep_id = run_sweep(spec, results_dir=results_dir, argv=["harness", *args.argv], verbose=args.verbose,
                             live=not args.no_live and args.format == "table")  # fmt: skip
        code = max(code, _after_sweep(args, results_dir, spec.task, sweep_id))
    return code


def _resume(args: argparse.Namespace) -> int:
    """`harness sweep --resume [ID]`: the sweep's own spec; only output flags apply."""
    from harness.sweep import resume_sweep

    results_dir = _results_dir(args)
    sweep_id, task = resume_sweep(results_dir, None if args.resume == "latest" else args.resume,
                                  verbose=args.verbose, live=not args.no_live and args.format == "table")  # fmt: skip
    return _after_sweep(args, results_dir, task, sweep_id)


def _after_sweep(args: argparse.Namespace, results_dir: Path, task: str, sweep_id: str) -> int:
    """The sweep's leaderboard, then its best trial exported and verified (unless --no-export)."""
    from harness.leaderboard import best_trial_id, leaderboards
    from harness.store import Store

    with Store.existing(results_dir) as store:
        best = best_trial_id(store, task, sweep_id=sweep_id)
        verification = _export(store, best, results_dir / "onnx") if best and not args.no_export else None
        boards = leaderboards(store, task=task, sweep_id=sweep_id)  # with the export's status
    if args.format == "json":
        print_json({"sweep_id": sweep_id, "leaderboards": boards, "export": verification})
    else:
        _print_boards(boards, "table")
        if verification:
            _print_verification(verification)
        elif not args.no_export:
            print_warning(f"no trial of sweep {sweep_id} trained normally, nothing to export")
    return 0 if verification is None or verification["passed"] else 1


def cmd_reproduce(args: argparse.Namespace) -> int:
    from harness.presets import get_preset

    get_preset(args.report)  # an unknown report fails here, naming the five
    overrides = {k: v for k, v in (("epochs", args.epochs), ("train_limit", args.train_limit),
                                   ("data_dir", args.data_dir)) if v is not None}  # fmt: skip
    from harness.reproduce import reproduce
    from harness.store import prepare_results_dir

    rows = reproduce(args.report, results_dir=prepare_results_dir(_results_dir(args)), overrides=overrides,
                     argv=["harness", *args.argv], verbose=args.verbose,
                     live=not args.no_live and args.format == "table")  # fmt: skip
    if args.format == "json":
        print_json(rows)
    else:
        from harness.views import render_reproduction

        console.print(render_reproduction(rows))
    return 0


def _export(store: Store, trial_id: str, out_dir: Path) -> dict[str, Any]:
    from harness.export import export_trial

    with err_console.status(f"exporting trial {trial_id} to ONNX and verifying it under onnxruntime"):
        return {"trial_id": trial_id, **asdict(export_trial(store, trial_id=trial_id, out_dir=out_dir))}


def _print_verification(v: dict[str, Any]) -> None:
    from harness.views import render_verification

    console.print(render_verification(v))


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from harness.datasets import get_task
    from harness.leaderboard import leaderboards
    from harness.store import Store

    if args.task:
        get_task(args.task)  # an unknown name fails here, with the valid choices
    with Store.existing(_results_dir(args)) as store:
        boards = leaderboards(store, task=args.task, sweep_id=args.sweep)
    if not boards and args.format == "table":
        console.print("no trials in the store yet: run `harness sweep`")
    _print_boards(boards, args.format)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from harness.datasets import get_task
    from harness.leaderboard import best_trial_id
    from harness.store import Store

    results_dir = _results_dir(args)
    out_dir = Path(args.out) if args.out else results_dir / "onnx"
    with Store.existing(results_dir) as store:
        if args.trial:
            trials = [store.trial(args.trial)["id"]]
        else:
            tasks = [get_task(args.task).name] if args.task else store.tasks()
            trials = [t for t in (best_trial_id(store, task) for task in tasks) if t]
            if not trials:
                raise HarnessError("no trained trial to export", "run `harness sweep` first")
        verifications = [_export(store, t, out_dir) for t in trials]
    if args.format == "json":
        print_json(verifications)
    else:
        for v in verifications:
            _print_verification(v)
    return 0 if all(v["passed"] for v in verifications) else 1


def cmd_verify(args: argparse.Namespace) -> int:
    from harness.export import verify_file
    from harness.store import Store

    with Store.existing(_results_dir(args)) as store:
        result = asdict(verify_file(store, onnx_path=Path(args.model)))
    print_json(result) if args.format == "json" else _print_verification(result)
    return 0 if result["passed"] else 1


def cmd_predict(args: argparse.Namespace) -> int:
    from harness.predict import predict_files  # onnxruntime, numpy and Pillow only

    if args.top < 1:
        raise HarnessError(f"--top {args.top} is below 1", "pass --top K with K >= 1")
    predictions = [asdict(p) for p in predict_files(args.model, args.inputs, top_k=args.top)]
    if args.format == "json":
        print_json(predictions)
    else:
        from harness.views import render_predictions

        console.print(render_predictions(predictions))
    skipped = [p for p in predictions if p["error"]]
    if skipped:
        print_warning(f"skipped {len(skipped)} unreadable file(s), first: {skipped[0]['path']}")
    return 0


def cmd_archs(args: argparse.Namespace) -> int:
    from harness.architectures import describe_archs
    from harness.datasets import get_task, list_tasks

    tasks = [get_task(name) for name in list_tasks()]
    if args.task:
        task = get_task(args.task)
        rows = describe_archs(in_shape=task.shape(args.image_size), num_outputs=task.num_outputs, heads=task.heads,
                              tasks=tasks)  # fmt: skip
    else:
        rows = describe_archs(tasks=tasks)
    if args.format == "json":
        print_json(rows)
        return 0
    from harness.views import render_archs

    title = f"architectures that fit {args.task}" if args.task else "architectures (at their native input)"
    console.print(render_archs(title, rows, width=console.width))
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from harness.datasets import describe_task, get_task, list_tasks, prepare

    words = list(args.words)
    if (args.variant or args.image_size) and len([w for w in words if w != "prepare"]) != 1:
        raise HarnessError("--variant and --image-size apply to one task",
                           "name exactly one task, e.g. harness data cifar10 --variant full")  # fmt: skip
    if words[:1] == ["prepare"]:
        if len(words) == 1:
            raise HarnessError("`harness data prepare` needs a task", f"e.g. harness data prepare {list_tasks()[0]}")
        names = [get_task(name).name for name in words[1:]]
        for name in names:
            with err_console.status(f"preparing {name}: finding (or downloading) and decoding once"):
                meta = prepare(name, args.data_dir, variant=args.variant, image_size=args.image_size)
            if meta["skipped"]:
                print_warning(f"{name}: skipped {len(meta['skipped'])} unreadable file(s), first: "
                              f"{', '.join(meta['skipped'][:3])}")  # fmt: skip
    elif len(words) > 1:
        raise HarnessError(f"`harness data` takes one task, got {len(words)}",
                           "use `harness data prepare T1 T2` to prepare several")  # fmt: skip
    else:
        names = [get_task(words[0]).name] if words else list_tasks()
    rows = [describe_task(name, args.data_dir, variant=args.variant, image_size=args.image_size) for name in names]
    if args.format == "json":
        print_json(rows)
        return 0
    from harness.views import render_data

    console.print(render_data(rows, width=console.width))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
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
        print_error("interrupted; every finished epoch is in the store")
        return 130


if __name__ == "__main__":
    sys.exit(main())
