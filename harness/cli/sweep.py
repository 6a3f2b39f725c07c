"""The commands that train, and the sweeps they leave: `harness sweep`, `harness reproduce` and
`harness sweeps`, each one's arguments beside what it does, and how a run ends (its board, export
and verification, its last line and exit code)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli.shared import (
    Command,
    add_format,
    add_results,
    add_resume,
    add_runtime,
    add_settings,
    chosen_runtimes,
    export_and_verify,
    export_folder,
    passed,
    print_boards,
    print_verification,
    results_dir_of,
)
from harness.config.spec import reproduce_settings
from harness.errors import HarnessError
from harness.kinds import SweepStatus
from harness.paths import is_uri, writable_dir
from harness.signals import interrupted_exit_code
from harness.views.console import ConsoleReporter, console, print_error, print_json, print_warning

if TYPE_CHECKING:
    from harness.export.verify import TrialVerification
    from harness.store.db import Store
    from harness.sweeps.outcome import Outcome


def _add_run_output(p: argparse.ArgumentParser) -> None:
    """What `sweep` and `reproduce` print while and after they train."""
    p.add_argument("--no-live", action="store_true", help="no live trial table (for logs)")
    p.add_argument("--verbose", action="store_true", help="show Ray's own output")
    add_results(p)
    add_format(p)


def sweep_arguments(p: argparse.ArgumentParser) -> None:
    add_settings(p)
    p.add_argument("--config", metavar="FILE.toml", help="a sweep file (keys as in the README); flags override it")
    p.add_argument(
        "--preset",
        metavar="REPORT",
        help="a report's sweep: its recipe first, then the space around it "
        "(uni2022-catsdogs, uchile2020-cifar10, itesm2022-catsdogs, uni2022-pokemon, itam2020-catsdogs-mnist);"
        " or speedrun-cifar10: one airbench-style trial that chases uchile2020's 72.90%% in less training time",
    )
    add_resume(p, what="an interrupted sweep", latest="the latest one in the store")
    p.add_argument("--no-export", action="store_true", help="skip exporting and verifying the best trial")
    add_runtime(p, default="onnxruntime only")
    _add_run_output(p)


def cmd_sweep(args: argparse.Namespace) -> int:
    from harness.config.settings import given as settings_given
    from harness.config.spec import SweepSpec
    from harness.store.db import prepare_results_dir

    chosen_runtimes(args)  # an unknown --runtime fails now, not after the sweep
    if args.resume:
        return _resume(args)
    given = settings_given(args, SweepSpec)  # one entry per sweep setting the command line set
    if args.preset:
        from harness.config.presets import preset_sweeps

        specs = preset_sweeps(args.preset, given)
    else:
        specs = [SweepSpec.from_toml(args.config, given) if args.config else SweepSpec(**given)]
    for spec in specs:
        spec.validate()  # every sweep of a preset, before the first one starts

    results_dir = prepare_results_dir(results_dir_of(args))
    if specs[0].storage and not is_uri(specs[0].storage):
        writable_dir(
            specs[0].storage, what="--storage folder", hint="pass --storage a folder every node can write, or a URI"
        )
    from harness.sweeps.driver import run_sweep  # imports ray: only once the spec is known to be good

    code = 0
    for spec in specs:
        outcome = run_sweep(
            spec,
            results_dir=results_dir,
            argv=["harness", *args.argv],
            verbose=args.verbose,
            reporter=ConsoleReporter(live=not args.no_live and args.format == "table"),
        )
        code = max(code, _after_sweep(args, results_dir, outcome))
        if outcome.status == SweepStatus.INTERRUPTED:
            break  # a preset's later sweeps wait for the user
    return code


SWEEP = Command(
    help="run a sweep with Ray Tune, then export and verify the best trial",
    description="Run every combination of --arch x --optimizer x --lr x --batch-size as a Ray "
    "Tune trial, record every epoch in the store, print the leaderboard, then export the "
    "best trial to ONNX and verify it under onnxruntime. With no flags: the digits default.",
    arguments=sweep_arguments,
    run=cmd_sweep,
)


def _resume(args: argparse.Namespace) -> int:
    """`harness sweep --resume [ID]`: the sweep's own spec; only output flags and --plugin (the
    sweep's plugin files, named again) apply."""
    from harness.sweeps.driver import resume_sweep

    outcome = resume_sweep(
        results_dir_of(args),
        None if args.resume == "latest" else args.resume,
        verbose=args.verbose,
        reporter=ConsoleReporter(live=not args.no_live and args.format == "table"),
        plugins=tuple(args.plugin or ()),
    )
    return _after_sweep(args, results_dir_of(args), outcome)


def _after_sweep(args: argparse.Namespace, results_dir: Path, outcome: Outcome) -> int:
    """The sweep's leaderboard, its best trial exported and verified (unless --no-export or
    nothing trained normally), and one line when trials failed; the exit code says how it went
    (`_ending`)."""
    from harness.results.leaderboard import best_trial_id, leaderboards
    from harness.store.db import Store

    verifications: list[TrialVerification] = []
    with Store.existing(results_dir, writer=True) as store:
        if outcome.status == SweepStatus.FINISHED and not args.no_export:
            for task in outcome.tasks:
                best = best_trial_id(store, task, sweep_id=outcome.sweep_id)
                runtimes = chosen_runtimes(args)
                verifications += (
                    export_and_verify(store, best, export_folder(results_dir), runtimes=runtimes)[:1] if best else []
                )
        boards = leaderboards(store, sweep_id=outcome.sweep_id)  # with the export's status
    if args.format == "json":
        exported = [v.as_json() for v in verifications]
        print_json(
            {
                "sweep_id": outcome.sweep_id,
                "status": outcome.status,
                "trials": outcome.trials,
                "summary": outcome.summary(),
                "leaderboards": boards,
                "export": exported[0] if len(exported) == 1 else exported or None,
            }
        )
    else:
        from harness.views.leaderboard import TABLE_ROWS

        # a 1,000-trial sweep ends with 20 rows and a count
        print_boards(boards, "table", table_rows=TABLE_ROWS, matched_references_only=True)
        for verification in verifications:
            print_verification(verification.verification)
    return _ending(
        outcome,
        what="sweep",
        resume=f"harness sweep --resume {outcome.sweep_id}",
        verified=all(passed(v.verification) for v in verifications),
    )


def _ending(outcome: Outcome, *, what: str, resume: str, verified: bool = True) -> int:
    """The last line and the exit code of a sweep or reproduction: 130 (143 after SIGTERM) when
    interrupted, 1 when no trial is usable or a verification failed, else 0 (with a warning line
    when some trials failed)."""
    summary = outcome.summary()
    if outcome.status == SweepStatus.INTERRUPTED:
        print_error(
            f"{what} {outcome.sweep_id} interrupted; every finished epoch is in the store (`{resume}` continues it)"
        )
        return interrupted_exit_code()
    if outcome.status == SweepStatus.FAILED:
        print_error(summary or f"{what} {outcome.sweep_id} trained no trial")
        return 1
    if summary:
        print_warning(summary)
    return 0 if verified else 1


def reproduce_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "report",
        help="uni2022-catsdogs, uchile2020-cifar10, itesm2022-catsdogs, uni2022-pokemon, itam2020-catsdogs-mnist",
    )
    add_settings(p, names=reproduce_settings(), default="the recipe's; a change is marked beside the result")
    p.add_argument(
        "--recipe",
        action="append",
        metavar="LABEL",
        help="run only the recipe of REPORT with this label, e.g. 'upsampling model 1' (a wrong label lists "
        "them); repeat for several (default: every recipe)",
    )
    p.add_argument(
        "--skip-missing",
        action="store_true",
        help="run the recipes whose data is there and list the others as not run (default: refuse)",
    )
    add_resume(p, what="an interrupted reproduction of REPORT", latest="the latest one")
    p.add_argument(
        "--no-export",
        action="store_true",
        help="skip exporting and verifying each recipe's trial (a quick check: no test figure under ONNX)",
    )
    _add_run_output(p)


def cmd_reproduce(args: argparse.Namespace) -> int:
    from harness.config.presets import get_preset
    from harness.config.settings import declared, given
    from harness.config.spec import SweepSpec
    from harness.report.compare import finish
    from harness.store.db import prepare_results_dir
    from harness.sweeps.reproduce import plan_reproduction, reproduce, resume_reproduction

    get_preset(args.report)  # an unknown report fails here, naming the five
    reporter = ConsoleReporter(live=not args.no_live and args.format == "table")
    overrides = given(args, SweepSpec)  # only the settings reproduce takes (--epochs, --train-limit, --data-dir)
    if args.resume:
        if overrides or args.skip_missing or args.recipe:
            raise HarnessError(
                "--resume continues a reproduction as it was started",
                f"drop {', '.join(d.flag for d in declared(SweepSpec) if d.setting.reproduce)}, --recipe"
                " and --skip-missing",
            )
        outcome = resume_reproduction(
            args.report,
            None if args.resume == "latest" else args.resume,
            results_dir=results_dir_of(args),
            verbose=args.verbose,
            reporter=reporter,
        )
    else:
        plan = plan_reproduction(
            args.report, overrides, skip_missing=args.skip_missing, recipes=args.recipe
        )  # refusals write nothing
        outcome = reproduce(
            plan,
            results_dir=prepare_results_dir(results_dir_of(args)),
            argv=["harness", *args.argv],
            verbose=args.verbose,
            reporter=reporter,
        )
    results_dir = results_dir_of(args)

    def export(store: Store, trial_id: str) -> float | None:
        if args.no_export:
            return None
        return export_and_verify(store, trial_id, export_folder(results_dir))[0].verification.torch_metric

    rows = finish(args.report, results_dir=results_dir, outcome=outcome, export=export)
    if args.format == "json":
        print_json(rows)  # each row names its sweep; the exit code says how the run ended
    else:
        from harness.views.tables import render_reproduction

        console.print(render_reproduction(rows))
    return _ending(outcome, what="reproduction", resume=f"harness reproduce {args.report} --resume")


REPRODUCE = Command(
    help="re-run a report's published runs and print ours beside its figures",
    description="Run each recipe of REPORT (its network, optimizer, learning rate, batch, epochs, "
    "augmentation, split, image size and input scaling) as one trial, export and verify it, and "
    "print the report's published figure beside ours, with how the report measured differently.",
    arguments=reproduce_arguments,
    run=cmd_reproduce,
)


def sweeps_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", help="only the sweeps of this task")
    add_results(p)
    add_format(p)


def cmd_sweeps(args: argparse.Namespace) -> int:
    from harness.datasets import get_task
    from harness.store.db import Store
    from harness.sweeps.outcome import sweep_rows

    if args.task:
        get_task(args.task)  # an unknown name fails here, with the valid choices
    with Store.existing(results_dir_of(args)) as store:
        rows = sweep_rows(store, task=args.task)
    if args.format == "json":
        print_json(rows)
        return 0
    from harness.views.tables import render_sweeps

    console.print(render_sweeps(rows) if rows else "no sweeps in the store yet: run `harness sweep`")
    return 0


SWEEPS = Command(
    help="list the stored sweeps: status, trials by status, duration, best metric",
    description="Every sweep in the store, newest first: its id (for --sweep and --resume), "
    "task, status (running, finished, failed, interrupted), trials by status, start, duration "
    "and best validation metric.",
    arguments=sweeps_arguments,
    run=cmd_sweeps,
)
