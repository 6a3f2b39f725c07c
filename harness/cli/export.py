"""The commands that make and use an exported file: `harness export`, `harness verify`, `harness
card`, `harness web` and `harness predict`, each one's arguments beside what it does.

`card` and `predict` run where torch is not installed: nothing here imports it at the top."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from harness.cli.shared import (
    Command,
    add_format,
    add_ort_web,
    add_plugins,
    add_results,
    add_runtime,
    chosen_runtimes,
    export_and_verify,
    export_folder,
    load_plugins,
    passed,
    print_verification,
    results_dir_of,
)
from harness.config.settings import bounded_int
from harness.errors import HarnessError
from harness.escape import markup, terminal
from harness.paths import absolute, writable_dir
from harness.views.card import write_card
from harness.views.console import console, err_console, print_json, print_warning


def export_arguments(p: argparse.ArgumentParser) -> None:
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
        type=bounded_int,
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
    add_plugins(p)
    add_results(p)
    add_format(p)


def cmd_export(args: argparse.Namespace) -> int:
    from harness.datasets import get_task
    from harness.export.onnx import check_opset
    from harness.results.leaderboard import best_trial_id
    from harness.store.db import Store

    check_opset(args.opset)
    runtimes = chosen_runtimes(args)
    plugins = tuple(args.plugin or ())
    if args.web:
        from harness.runtimes.webpage import ort_web_dist

        ort_web_dist(args.ort_web)  # before the export: a missing onnxruntime-web is known now
    results_dir = results_dir_of(args)
    out = absolute(args.out) if args.out else export_folder(results_dir)
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
            for v in export_and_verify(
                store, t, out, opset=args.opset, quantize=args.quantize, runtimes=runtimes, plugins=plugins
            )
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
                model,
                folder,
                ort_web=args.ort_web,
                log=lambda line: err_console.print(Text(terminal(line)), soft_wrap=True),
            )
    return 0 if all(passed(v.verification) for v in verifications) else 1


EXPORT = Command(
    help="export the best (or a named) trial to ONNX and verify it",
    description="Export a trial's best checkpoint to ONNX (dynamic batch, metadata), check it "
    "with onnx.checker and verify it under onnxruntime on the whole test split. Default: "
    "the best trial of every task in the store.",
    arguments=export_arguments,
    run=cmd_export,
)


def verify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("--task", help="verify on this task's test split (default: the model's own task)")
    add_runtime(p, default="installed: every runtime found here")
    add_plugins(p)
    add_results(p)
    add_format(p)


def cmd_verify(args: argparse.Namespace) -> int:
    from harness.datasets import get_task
    from harness.export.onnx import verify_file
    from harness.export.verify import verification_json
    from harness.store.db import Store

    runtimes = chosen_runtimes(args, default="installed")
    plugins = tuple(args.plugin or ())
    load_plugins(args)  # a plugin's task may be the one --task names
    with (
        Store.existing(results_dir_of(args), writer=True) as store,
        err_console.status(
            f"verifying {markup(args.model)} under onnxruntime and {len(runtimes)} runtime(s),"
            " each on the whole test split"
        ),
    ):
        result = verify_file(
            store,
            onnx_path=absolute(args.model),
            task=args.task and get_task(args.task).name,
            runtimes=runtimes,
            plugins=plugins,
        )
        write_card(Path(result.path), store)  # X.md beside the file, with this verification
    print_json(verification_json(result)) if args.format == "json" else print_verification(result)
    return 0 if passed(result) else 1


VERIFY = Command(
    help="compare an exported model with its PyTorch checkpoint",
    description="Run the whole test split through onnxruntime and the trial's PyTorch "
    "checkpoint, time both, then through every other runtime installed (--runtime): one row "
    "per runtime under the same gate; exit 1 when one disagrees. A runtime that is not "
    "installed is listed, not an error.",
    arguments=verify_arguments,
    run=cmd_verify,
)


def card_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL.onnx")
    add_results(p)
    add_format(p, extra=("markdown",))


def cmd_card(args: argparse.Namespace) -> int:
    from harness.export.card import read_card  # onnxruntime and the store: no torch

    card = read_card(absolute(args.model), results_dir=results_dir_of(args))
    if args.format == "json":
        print_json(card)
        return 0
    from harness.views.card import card_markdown, render_card

    print(card_markdown(card), end="") if args.format == "markdown" else console.print(render_card(card))
    return 0


CARD = Command(
    help="print an exported model's card: its metadata and the store's verifications of it",
    description="What the file says about itself (data, split, network, training recipe, test "
    "metric, published figure, preprocessing) and every verification the store holds for that "
    "file (matched by its sha256). markdown is the text of the X.md written beside X.onnx.",
    arguments=card_arguments,
    run=cmd_card,
)


def web_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("dir", metavar="DIR", help="the folder to write the page into (created)")
    add_ort_web(p)


def cmd_web(args: argparse.Namespace) -> int:
    write_web_page(absolute(args.model), absolute(args.dir), ort_web=args.ort_web, log=print)
    return 0


WEB = Command(
    help="write a static page that runs a model in the browser (onnxruntime-web)",
    description="Write index.html, its script, the model and onnxruntime-web's WASM files into "
    "DIR: a page that classifies a dropped image (or upsamples it, for an image model) offline. "
    "Serve DIR over HTTP (`python -m http.server -d DIR`): a file:// page cannot load WebAssembly.",
    arguments=web_arguments,
    run=cmd_web,
)


def write_web_page(model: Path, folder: Path, *, ort_web: str | None, log: Callable[[str], None]) -> None:
    """`harness web` and `harness export --web`: the page, and how to open it."""
    from harness.runtimes.webpage import ort_web_dist, write_page

    ort_web_dist(ort_web)  # a missing onnxruntime-web leaves no empty folder behind
    folder = writable_dir(folder, what="page folder", hint="pass a folder you can write")
    index = write_page(model, folder, ort_web_dir=ort_web)
    log(f"wrote {index}; serve it with `python -m http.server -d {folder}` and open http://localhost:8000/")


def predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("inputs", metavar="FILE", nargs="+", help="image files or folders")
    p.add_argument("--top", type=bounded_int, default=1, metavar="K", help="show the K most likely labels (default: 1)")
    p.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    add_format(p)


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


PREDICT = Command(
    help="classify image files with an exported model (onnxruntime only)",
    description="Read preprocessing and labels from the model's metadata and classify each "
    "image; a folder means every image in it. Needs only onnxruntime, numpy and Pillow.",
    arguments=predict_arguments,
    run=cmd_predict,
)
