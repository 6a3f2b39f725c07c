"""The parser's own kinds: argparse with one-line usage errors, the list flags
(`--lr 0.1,0.01 --lr 0.001`), and the flags several commands share (--results, --format, ...).
`harness.cli.main` builds the commands with them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from harness.views.console import print_error

__all__ = [
    "ListAction",
    "Parser",
    "add_debug",
    "add_format",
    "add_ort_web",
    "add_results",
    "add_results_to",
    "add_resume",
    "add_runtime",
]


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
