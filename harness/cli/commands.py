"""What each command does: read the parsed flags, call the library, print the result.

`harness.cli.main` builds the parser and routes each command here (the two that train, `sweep` and
`reproduce`, to `harness.cli.runs`; both use the helpers of `harness.cli.shared`); nothing below
parses flags.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from harness.cli.shared import (
    chosen_runtimes,
    export_and_verify,
    passed,
    print_boards,
    print_verification,
    results_dir_of,
)
from harness.errors import HarnessError
from harness.paths import absolute, writable_dir
from harness.views.card import write_card
from harness.views.console import console, err_console, print_json, print_warning


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from harness.datasets import get_task
    from harness.results.leaderboard import leaderboards
    from harness.store.db import Store
    from harness.views.leaderboard import TABLE_ROWS

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
            else f"no trials of {args.task} in the store: `harness sweeps` lists what it holds"
        )
    # A table shows the top rows unless --top or --all chose; JSON, CSV and markdown are for
    # programs and documents, which get every row unless --top cuts them.
    cut = args.format == "table" and args.top is None and not args.all
    print_boards(boards, args.format, table_rows=TABLE_ROWS if cut else None)
    return 0


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
        console.print(f"wrote {path}")
    return 0


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
        console.print(f"wrote {path}")
    return 0


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


def cmd_export(args: argparse.Namespace) -> int:
    from harness.datasets import get_task
    from harness.export.onnx import check_opset
    from harness.results.leaderboard import best_trial_id
    from harness.store.db import Store

    check_opset(args.opset)
    runtimes = chosen_runtimes(args)
    if args.web:
        from harness.runtimes.webpage import ort_web_dist

        ort_web_dist(args.ort_web)  # before the export: a missing onnxruntime-web is known now
    results_dir = results_dir_of(args)
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
        verifications = [
            v
            for t in trials
            for v in export_and_verify(store, t, out, opset=args.opset, quantize=args.quantize, runtimes=runtimes)
        ]
    if args.format == "json":
        print_json([v.as_json() for v in verifications])
    else:
        for v in verifications:
            print_verification(v.verification)
    if args.web:
        from rich.text import Text

        from harness.runtimes.webpage import web_dirs

        floats = [Path(v.verification.path) for v in verifications if v.verification.quantize is None]
        for model, folder in web_dirs(floats, absolute(args.web)):
            # stdout carries the results; one unwrapped line each on stderr
            write_web_page(
                model, folder, ort_web=args.ort_web, log=lambda line: err_console.print(Text(line), soft_wrap=True)
            )
    return 0 if all(passed(v.verification) for v in verifications) else 1


def write_web_page(model: Path, folder: Path, *, ort_web: str | None, log: Callable[[str], None]) -> None:
    """`harness web` and `harness export --web`: the page, and how to open it."""
    from harness.runtimes.webpage import ort_web_dist, write_page

    ort_web_dist(ort_web)  # a missing onnxruntime-web leaves no empty folder behind
    folder = writable_dir(folder, what="page folder", hint="pass a folder you can write")
    index = write_page(model, folder, ort_web_dir=ort_web)
    log(f"wrote {index}; serve it with `python -m http.server -d {folder}` and open http://localhost:8000/")


def cmd_web(args: argparse.Namespace) -> int:
    write_web_page(absolute(args.model), absolute(args.dir), ort_web=args.ort_web, log=print)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from harness.datasets import get_task
    from harness.export.onnx import verify_file
    from harness.export.verify import verification_json
    from harness.store.db import Store

    runtimes = chosen_runtimes(args, default="installed")
    with (
        Store.existing(results_dir_of(args), writer=True) as store,
        err_console.status(
            f"verifying {args.model} under onnxruntime and {len(runtimes)} runtime(s), each on the whole test split"
        ),
    ):
        result = verify_file(
            store, onnx_path=absolute(args.model), task=args.task and get_task(args.task).name, runtimes=runtimes
        )
        write_card(Path(result.path), store)  # X.md beside the file, with this verification
    print_json(verification_json(result)) if args.format == "json" else print_verification(result)
    return 0 if passed(result) else 1


def cmd_card(args: argparse.Namespace) -> int:
    from harness.export.card import read_card  # onnxruntime and the store: no torch

    card = read_card(absolute(args.model), results_dir=results_dir_of(args))
    if args.format == "json":
        print_json(card)
        return 0
    from harness.views.card import card_markdown, render_card

    print(card_markdown(card), end="") if args.format == "markdown" else console.print(render_card(card))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from harness.runtimes.predict import predict_files  # onnxruntime, numpy and Pillow only

    if args.top < 1:
        raise HarnessError(f"--top {args.top} is below 1", "pass --top K with K >= 1")
    predictions = [asdict(p) for p in predict_files(args.model, args.inputs, top_k=args.top)]
    if args.format == "json":
        print_json(predictions)
    else:
        from harness.views.tables import render_predictions

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
    from harness.views.tables import render_archs

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
    from harness.views.tables import render_data

    console.print(render_data(rows, width=console.width))
    return 0
