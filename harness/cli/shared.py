"""What the command groups share: the parser's kinds (argparse with one-line usage errors, the
list flags `--lr 0.1,0.01 --lr 0.001`), the flags several commands take (--results, --format, ...),
`Command` (what each group module declares per command, for the table in `harness.cli.main`), and
the helpers that print boards and export, verify and print a trial.

Heavy imports (torch, ray, onnx) stay inside the helpers: every group imports this module when
`--help` runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from harness.config.settings import add_flags
from harness.config.spec import SweepSpec
from harness.escape import markup
from harness.views.card import write_card
from harness.views.console import console, err_console, print_error, print_json

if TYPE_CHECKING:
    from harness.export.verify import TrialVerification, Verification
    from harness.results.boards import Board
    from harness.runtimes.base import Runtime
    from harness.store.db import Store


@dataclass(frozen=True)
class Command:
    """One command: its parser's texts, the function that adds its arguments, and the one that
    runs it (returning the exit code). With an `epilog` (after the flags), it and the description
    are printed as written, line breaks kept."""

    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    epilog: str | None = None


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

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        for part in str(values).split(","):
            if not part.strip():
                continue
            try:
                items.append(self.convert(part.strip()))
            except ValueError:
                parser.error(f"argument {option_string}: invalid value {part.strip()!r}")
        setattr(namespace, self.dest, items)


def add_runtime(p: argparse.ArgumentParser, *, default: str) -> None:
    p.add_argument(
        "--runtime",
        metavar="LIST",
        help="run the file under these runtimes too, each on the whole test split: comma-separated "
        "onnxruntime, openvino, openvino-default, opencv, tract, onnxruntime-node, onnxruntime-web; "
        f"or installed, or all (default: {default})",
    )


def add_results(p: argparse.ArgumentParser) -> None:
    add_results_to(p)


def add_results_to(p: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup) -> None:
    """--results on a parser or in a group of flags that exclude each other."""
    p.add_argument(
        "--results", metavar="DIR", help="results folder holding harness.db (default: $HARNESS_RESULTS or ./results)"
    )


def add_resume(p: argparse.ArgumentParser, *, what: str, latest: str) -> None:
    p.add_argument(
        "--resume", nargs="?", const="latest", metavar="SWEEP_ID", help=f"continue {what} (default: {latest})"
    )


def add_ort_web(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ort-web",
        metavar="DIR",
        help="onnxruntime-web's dist folder to copy from (default: the one scripts/install-runtimes installed)",
    )


def add_format(p: argparse.ArgumentParser, *, extra: tuple[str, ...] = ()) -> None:
    p.add_argument(
        "--format", choices=("table", "json", *extra), default="table", help="output format (default: table)"
    )


def add_debug(p: argparse.ArgumentParser) -> None:
    # Accepted after the command too (`harness show X --debug`); SUPPRESS keeps a subcommand
    # from resetting a --debug given before it.
    p.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks instead of one-line errors"
    )


def add_settings(
    p: argparse.ArgumentParser, *, names: tuple[str, ...] | None = None, default: str | None = None
) -> None:
    """The flags of the sweep settings (all, or `names`), from their declarations in config."""
    add_flags(p, SweepSpec, names=names, default=default, list_action=ListAction)


def add_plugins(p: argparse.ArgumentParser) -> None:
    """--plugin, as `harness sweep` declares it: users' code to import first."""
    add_settings(p, names=("plugins",))


def load_plugins(args: argparse.Namespace) -> None:
    """Import the plugins the command line names (with HARNESS_PLUGINS and entry points)."""
    from harness.architectures import load_user_code

    load_user_code((), tuple(getattr(args, "plugin", None) or ()))


def results_dir_of(args: argparse.Namespace) -> Path:
    from harness.store.db import resolve_results_dir

    return resolve_results_dir(args.results)


def export_folder(results_dir: Path) -> Path:
    """RESULTS/onnx, the default export folder: made by the harness, so a link there is refused
    (a folder the user names with --out may be a link: that is their choice)."""
    from harness.safefile import subfolder

    return subfolder(results_dir, "onnx", what="export folder")


def print_boards(
    boards: list[Board], fmt: str, *, table_rows: int | None = None, matched_references_only: bool = False
) -> None:
    """`table_rows`: a table shows each board's first rows only, and a line counting them all
    (machine formats always get every row they were given). `matched_references_only`: the
    published-vs-ours table only where some trial ran a report's recipe (after a sweep: a sweep
    of other networks or data is no reproduction; `harness leaderboard` always shows it)."""
    from harness.views.leaderboard import board_markdown, boards_csv, head, render_board, render_references

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
            references = board["references"]  # matched against every row, shown or not
            if matched_references_only and not any(ref["trial_id"] for ref in references):
                continue
            if references:
                console.print(render_references(board))


def chosen_runtimes(args: argparse.Namespace, *, default: str | None = None) -> list[Runtime]:
    """`--runtime`, checked before any work starts; none given and no default: none."""
    from harness.runtimes.registry import choose

    spec = getattr(args, "runtime", None) or default
    return choose(spec) if spec else []


def export_and_verify(
    store: Store,
    trial_id: str,
    out: Path,
    *,
    opset: int | None = None,
    quantize: str | None = None,
    runtimes: Sequence[Runtime] = (),
    plugins: tuple[str, ...] = (),
) -> list[TrialVerification]:
    from harness.export.onnx import OPSET, export_trial
    from harness.export.verify import TrialVerification

    also = f" and {len(runtimes)} runtime(s)" if runtimes else ""
    with err_console.status(f"exporting trial {markup(trial_id)} to ONNX and verifying it under onnxruntime{also}"):
        results = export_trial(
            store,
            trial_id=trial_id,
            out=out,
            opset=opset or OPSET,
            quantize=quantize,
            runtimes=runtimes,
            plugins=plugins,
        )
    for result in results:  # X.md beside each file, with this verification
        write_card(Path(result.path), store)
    return [TrialVerification(trial_id=trial_id, verification=r) for r in results]


def print_verification(v: Verification) -> None:
    from harness.views.tables import render_verification

    console.print(render_verification(v))
    if v.runtimes:
        from harness.export.verify import GATES
        from harness.views.runtimes import render_matrix

        rule = GATES[v.gate].rule
        if any(c.gate == "reduced" for c in v.runtimes):
            rule += f"; a row computed in bf16 or fp16: {GATES['reduced'].rule}"
        console.print(render_matrix([c.as_json() for c in v.runtimes], rule=rule, fastest=v.fastest))


def passed(v: Verification) -> bool:
    """onnxruntime's verification and every runtime of the matrix that ran (informational rows aside)."""
    from harness.export.matrix import all_passed

    return v.passed and all_passed(v.runtimes)
