"""What each command does: read the parsed flags, call the library, print the result.

`harness.cli` builds the parser and routes each command here; nothing below parses flags.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from harness.console import console, err_console, print_error, print_json, print_warning
from harness.errors import HarnessError
from harness.kinds import SweepStatus
from harness.paths import absolute, is_uri, writable_dir
from harness.signals import interrupted_exit_code

if TYPE_CHECKING:
    from harness.boards import Board
    from harness.outcome import Outcome
    from harness.store import Store
    from harness.verify import TrialVerification, Verification


def _results_dir(args: argparse.Namespace) -> Path:
    from harness.store import resolve_results_dir

    return resolve_results_dir(args.results)


def _print_boards(boards: list[Board], fmt: str, *, table_rows: int | None = None) -> None:
    """`table_rows`: a table shows each board's first rows only, and a line counting them all
    (machine formats always get every row they were given)."""
    from harness.leaderboard_views import board_markdown, boards_csv, head, render_board, render_references

    if fmt == "json":
        print_json(boards)
    elif fmt == "csv":
        print(boards_csv(boards), end="")
    elif fmt == "markdown":
        print("\n".join(board_markdown(board) for board in boards), end="")
    else:
        for board in boards:
            shown, more = head(board, rows=table_rows)
            console.print(render_board(shown, width=console.width))
            if more:
                console.print(more, style="dim")
            if board["references"]:  # matched against every row, shown or not
                console.print(render_references(board))


def cmd_sweep(args: argparse.Namespace) -> int:
    from harness.config import SweepSpec
    from harness.settings import given as settings_given

    if args.resume:
        return _resume(args)
    given = settings_given(args, SweepSpec)  # one entry per sweep setting the command line set
    if args.preset:
        from harness.presets import preset_sweeps

        specs = preset_sweeps(args.preset, given)
    else:
        specs = [SweepSpec.from_toml(args.config, given) if args.config else SweepSpec(**given)]
    for spec in specs:
        spec.validate()  # every sweep of a preset, before the first one starts
    from harness.store import prepare_results_dir

    results_dir = prepare_results_dir(_results_dir(args))
    if specs[0].storage and not is_uri(specs[0].storage):
        writable_dir(
            specs[0].storage, what="--storage folder", hint="pass --storage a folder every node can write, or a URI"
        )
    from harness.sweep import run_sweep  # imports ray: only once the spec is known to be good

    code = 0
    for spec in specs:
        outcome = run_sweep(
            spec,
            results_dir=results_dir,
            argv=["harness", *args.argv],
            verbose=args.verbose,
            live=not args.no_live and args.format == "table",
        )
        code = max(code, _after_sweep(args, results_dir, outcome))
        if outcome.status == SweepStatus.INTERRUPTED:
            break  # a preset's later sweeps wait for the user
    return code


def _resume(args: argparse.Namespace) -> int:
    """`harness sweep --resume [ID]`: the sweep's own spec; only output flags apply."""
    from harness.sweep import resume_sweep

    outcome = resume_sweep(
        _results_dir(args),
        None if args.resume == "latest" else args.resume,
        verbose=args.verbose,
        live=not args.no_live and args.format == "table",
    )
    return _after_sweep(args, _results_dir(args), outcome)


def _after_sweep(args: argparse.Namespace, results_dir: Path, outcome: Outcome) -> int:
    """The sweep's leaderboard, its best trial exported and verified (unless --no-export or
    nothing trained normally), and one line when trials failed; the exit code says how it went
    (`_ending`)."""
    from harness.leaderboard import best_trial_id, leaderboards
    from harness.store import Store

    verifications: list[TrialVerification] = []
    with Store.existing(results_dir, writer=True) as store:
        if outcome.status == SweepStatus.FINISHED and not args.no_export:
            for task in outcome.tasks:
                best = best_trial_id(store, task, sweep_id=outcome.sweep_id)
                verifications += _export(store, best, results_dir / "onnx")[:1] if best else []
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
        from harness.leaderboard_views import TABLE_ROWS

        _print_boards(boards, "table", table_rows=TABLE_ROWS)  # a 1,000-trial sweep ends with 20 rows and a count
        for verification in verifications:
            _print_verification(verification.verification)
    return _ending(
        outcome,
        what="sweep",
        resume=f"harness sweep --resume {outcome.sweep_id}",
        verified=all(v.verification.passed for v in verifications),
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


def cmd_reproduce(args: argparse.Namespace) -> int:
    from harness.config import SweepSpec
    from harness.presets import get_preset
    from harness.reproduce import plan_reproduction, reproduce, resume_reproduction
    from harness.settings import declared, given
    from harness.store import prepare_results_dir

    get_preset(args.report)  # an unknown report fails here, naming the five
    live = not args.no_live and args.format == "table"
    overrides = given(args, SweepSpec)  # only the settings reproduce takes (--epochs, --train-limit, --data-dir)
    if args.resume:
        if overrides or args.skip_missing:
            raise HarnessError(
                "--resume continues a reproduction as it was started",
                f"drop {', '.join(d.flag for d in declared(SweepSpec) if d.setting.reproduce)} and --skip-missing",
            )
        rows, outcome = resume_reproduction(
            args.report,
            None if args.resume == "latest" else args.resume,
            results_dir=_results_dir(args),
            verbose=args.verbose,
            live=live,
        )
    else:
        plan = plan_reproduction(args.report, overrides, skip_missing=args.skip_missing)  # refusals write nothing
        rows, outcome = reproduce(
            plan,
            results_dir=prepare_results_dir(_results_dir(args)),
            argv=["harness", *args.argv],
            verbose=args.verbose,
            live=live,
        )
    if args.format == "json":
        print_json(rows)  # each row names its sweep; the exit code says how the run ended
    else:
        from harness.views import render_reproduction

        console.print(render_reproduction(rows))
    return _ending(outcome, what="reproduction", resume=f"harness reproduce {args.report} --resume")


def _export(
    store: Store, trial_id: str, out: Path, *, opset: int | None = None, quantize: str | None = None
) -> list[TrialVerification]:
    from harness.export import OPSET, export_trial
    from harness.verify import TrialVerification

    with err_console.status(f"exporting trial {trial_id} to ONNX and verifying it under onnxruntime"):
        results = export_trial(store, trial_id=trial_id, out=out, opset=opset or OPSET, quantize=quantize)
    return [TrialVerification(trial_id=trial_id, verification=r) for r in results]


def _print_verification(v: Verification) -> None:
    from harness.views import render_verification

    console.print(render_verification(v))


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from harness.datasets import get_task
    from harness.leaderboard import leaderboards
    from harness.leaderboard_views import TABLE_ROWS
    from harness.store import Store

    if args.task:
        get_task(args.task)  # an unknown name fails here, with the valid choices
    if args.top is not None and args.top < 1:
        raise HarnessError(f"--top {args.top} is below 1", "pass --top N with N >= 1, or leave it out for every row")
    with Store.existing(_results_dir(args)) as store:
        boards = leaderboards(
            store, task=args.task, sweep_id=args.sweep, top=args.top, sort=args.sort, group=args.group_seeds
        )
    if not boards and args.format == "table":
        console.print(
            "no trials in the store yet: run `harness sweep`"
            if not args.task
            else f"no trials of {args.task} in the store: `harness sweeps` lists what it holds"
        )
    # A table shows the top rows unless --top or --all chose; JSON, CSV and markdown are for
    # programs and documents, which get every row unless --top cuts them.
    cut = args.format == "table" and args.top is None and not args.all
    _print_boards(boards, args.format, table_rows=TABLE_ROWS if cut else None)
    return 0


def cmd_sweeps(args: argparse.Namespace) -> int:
    from harness.datasets import get_task
    from harness.outcome import sweep_rows
    from harness.store import Store

    if args.task:
        get_task(args.task)  # an unknown name fails here, with the valid choices
    with Store.existing(_results_dir(args)) as store:
        rows = sweep_rows(store, task=args.task)
    if args.format == "json":
        print_json(rows)
        return 0
    from harness.views import render_sweeps

    console.print(render_sweeps(rows) if rows else "no sweeps in the store yet: run `harness sweep`")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from harness.show import render_report, trial_report
    from harness.store import Store

    with Store.existing(_results_dir(args)) as store:
        report = trial_report(store, args.trial)
    written = []
    if args.png:
        from harness.plots import write_pngs

        written = [str(p) for p in write_pngs(report, absolute(args.png))]
    if args.format == "json":
        print_json({**report, "png": written})
        return 0
    console.print(render_report(report))
    for path in written:
        console.print(f"wrote {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.presets import get_preset
    from harness.reproduce import compare
    from harness.store import Store

    get_preset(args.report)  # an unknown report fails here, naming the five
    with Store.existing(_results_dir(args)) as store:
        rows = compare(store, args.report)
    if args.format == "json":
        print_json(rows)
        return 0
    from harness.views import render_reproduction

    console.print(render_reproduction(rows, title="published vs the store's trials"))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from harness.datasets import get_task
    from harness.export import check_opset
    from harness.leaderboard import best_trial_id
    from harness.store import Store

    check_opset(args.opset)
    results_dir = _results_dir(args)
    out = absolute(args.out) if args.out else results_dir / "onnx"
    writable_dir(
        out.parent if out.suffix == ".onnx" else out,
        what="--out folder",
        hint="pass --out a folder (or .onnx file name) you can write",
    )
    with Store.existing(results_dir, writer=True) as store:
        if args.trial:
            trials = [store.trial(args.trial)["id"]]
        else:
            tasks = [get_task(args.task).name] if args.task else store.tasks()
            trials = [t for t in (best_trial_id(store, task) for task in tasks) if t]
            if not trials:
                raise HarnessError("no trained trial to export", "run `harness sweep` first")
        if out.suffix == ".onnx" and len(trials) > 1:
            raise HarnessError(
                f"--out {str(out)!r} names one file, but {len(trials)} trials are to be exported",
                "pass --out a folder, or --task T / --trial ID for one",
            )
        verifications = [v for t in trials for v in _export(store, t, out, opset=args.opset, quantize=args.quantize)]
    if args.format == "json":
        print_json([v.as_json() for v in verifications])
    else:
        for v in verifications:
            _print_verification(v.verification)
    return 0 if all(v.verification.passed for v in verifications) else 1


def cmd_verify(args: argparse.Namespace) -> int:
    from harness.datasets import get_task
    from harness.export import verify_file
    from harness.store import Store

    with Store.existing(_results_dir(args), writer=True) as store:
        result = verify_file(store, onnx_path=absolute(args.model), task=args.task and get_task(args.task).name)
    print_json(asdict(result)) if args.format == "json" else _print_verification(result)
    return 0 if result.passed else 1


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
    if args.image_size is not None and not args.task:
        raise HarnessError("--image-size needs --task", "e.g. harness archs --task cats_vs_dogs --image-size 64")
    if args.task:
        task = get_task(args.task)
        size = task.request(None, args.image_size).image_size  # a size the task cannot take is one line
        rows = describe_archs(in_shape=task.shape(size), num_outputs=task.num_outputs, heads=task.heads, tasks=tasks)
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
        raise HarnessError(
            "--variant and --image-size apply to one task",
            "name exactly one task, e.g. harness data cifar10 --variant full",
        )
    if words[:1] == ["prepare"]:
        if len(words) == 1:
            raise HarnessError("`harness data prepare` needs a task", f"e.g. harness data prepare {list_tasks()[0]}")
        names = [get_task(name).name for name in words[1:]]
        for name in names:
            with err_console.status(f"preparing {name}: finding (or downloading) and decoding once"):
                meta = prepare(name, args.data_dir, variant=args.variant, image_size=args.image_size, verify=True)
            if meta.get("rebuilt"):
                print_warning(f"the decoded cache of {name} was rebuilt: {meta['rebuilt']}")
            if meta["skipped"]:
                print_warning(
                    f"{name}: skipped {len(meta['skipped'])} unreadable file(s), first: "
                    f"{', '.join(meta['skipped'][:3])}"
                )
    elif len(words) > 1:
        raise HarnessError(
            f"`harness data` takes one task, got {len(words)}", "use `harness data prepare T1 T2` to prepare several"
        )
    else:
        names = [get_task(words[0]).name] if words else list_tasks()
    rows = [describe_task(name, args.data_dir, variant=args.variant, image_size=args.image_size) for name in names]
    if args.format == "json":
        print_json(rows)
        return 0
    from harness.views import render_data

    console.print(render_data(rows, width=console.width))
    return 0
