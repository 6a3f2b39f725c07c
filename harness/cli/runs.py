"""`harness export-runs`: the store's trials as MLflow or TensorBoard runs, its arguments beside
what it does. mlflow and tensorboardX are imported only when the command runs."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from rich.text import Text

from harness.cli.shared import Command, add_results, results_dir_of
from harness.errors import HarnessError
from harness.escape import terminal
from harness.export.runs import Progress
from harness.formats import plural
from harness.paths import absolute
from harness.views.console import console, err_console, print_warning

EXAMPLES = """examples:
  harness export-runs --to mlflow --tracking-uri sqlite:///tracking/mlflow.db
  harness export-runs --to mlflow --tracking-uri tracking/ --sweep SWEEP_ID
  mlflow ui --backend-store-uri sqlite:///tracking/mlflow.db
  harness export-runs --to tensorboard tb/ --results results/
  tensorboard --logdir tb/
"""


def export_runs_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--to", required=True, choices=("mlflow", "tensorboard"), help="the tracker to write runs for")
    p.add_argument("dir", nargs="?", metavar="DIR", help="--to tensorboard: the log folder (created)")
    p.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="--to mlflow: a local tracking store, sqlite:///PATH.db or a folder (which gets mlflow.db); "
        "the artifacts go to mlartifacts/ beside it",
    )
    p.add_argument(
        "--sweep", metavar="ID", help="only this sweep's trials (ids: `harness sweeps`; default: every sweep)"
    )
    add_results(p)


def _target(args: argparse.Namespace) -> str:
    """The flag --to needs, given, and the other one not."""
    if args.to == "mlflow":
        if args.dir:
            raise HarnessError(f"--to mlflow takes --tracking-uri, not a folder ({args.dir!r})", "see --help")
        if not args.tracking_uri:
            raise HarnessError("--to mlflow needs --tracking-uri", "pass --tracking-uri sqlite:///PATH/mlflow.db")
        return args.tracking_uri
    if args.tracking_uri:
        raise HarnessError("--tracking-uri is for --to mlflow", "pass --to tensorboard DIR alone")
    if not args.dir:
        raise HarnessError("--to tensorboard needs the log folder", "pass --to tensorboard DIR")
    return args.dir


@contextmanager
def _progress(where: str) -> Iterator[Progress]:
    """A status line on stderr: how many trials are done, and which one is being written."""
    with err_console.status(Text(terminal(f"exporting runs to {where}"))) as status:

        def update(done: int, total: int, trial: str) -> None:
            at = f": {trial}" if trial else ""
            status.update(Text(terminal(f"exporting runs to {where}: {done}/{total} trials{at}")))

        yield update


def cmd_export_runs(args: argparse.Namespace) -> int:
    from harness.export.runs import select_runs
    from harness.store.db import Store

    target = _target(args)
    if args.to == "mlflow":
        from harness.export.mlflow_runs import local_tracking

        tracking = local_tracking(target)  # checked before the store is read or anything written
        where = tracking.uri
    else:
        logdir = absolute(target)
        if logdir.exists() and not logdir.is_dir():
            raise HarnessError(f"TensorBoard folder {target!r} is a file", "pass a folder (created when missing)")
        where = str(logdir)
    with Store.existing(results_dir_of(args)) as store:
        selected = select_runs(store, sweep_id=args.sweep)
    if not selected.runs:
        which = f"sweep {args.sweep!r}" if args.sweep else "the store"
        later = f"; {plural(selected.not_ended, 'trial')} still running or interrupted" if selected.not_ended else ""
        raise HarnessError(f"no ended trial to export in {which}{later}", "run `harness sweep` (or resume it) first")
    with _progress(where) as progress:
        if args.to == "mlflow":
            from harness.export.mlflow_runs import export_mlflow

            done = export_mlflow(selected.runs, tracking, progress=progress)
            extra = f", {done.replaced} half-written replaced" if done.replaced else ""
            view = f"mlflow ui --backend-store-uri {tracking.uri}"
        else:
            from harness.export.tensorboard_runs import export_tensorboard

            done = export_tensorboard(selected.runs, logdir, progress=progress)
            extra, view = "", f"tensorboard --logdir {logdir}"
    console.print(
        Text(
            terminal(
                f"{plural(done.written, 'run')} written to {where}, {done.skipped} already there{extra} "
                f"(see them with `{view}`)"
            )
        ),
        soft_wrap=True,
    )
    if selected.not_ended:
        print_warning(f"{plural(selected.not_ended, 'trial')} still running or interrupted: export them once they end")
    if selected.missing_files:
        gone = plural(selected.missing_files, "exported file")
        print_warning(f"{gone} named in the store no longer on disk: left out of the artifacts")
    return 0


EXPORT_RUNS = Command(
    help="write the store's trials as MLflow or TensorBoard runs",
    description="Write every ended trial (of one sweep, with --sweep) as a run: its config as params\n"
    "(MLflow) or hparams (TensorBoard), every epoch's metrics with step = epoch, tags for its\n"
    "sweep, status, device and precision, and (MLflow) its exported ONNX file and card as\n"
    "artifacts. MLflow: one experiment per task, in a local tracking store only (an SQLite file or\n"
    "a folder), the artifacts beside it. TensorBoard: one folder per trial under DIR. A run\n"
    "already there is skipped, so exporting again adds only the new trials.",
    arguments=export_runs_arguments,
    run=cmd_export_runs,
    epilog=EXAMPLES,
)
