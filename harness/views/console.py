"""The rich consoles, the live sweep display and error printing: the only module that owns output."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any, cast

from rich.console import Console
from rich.live import Live
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from harness.config.trial_config import TrialConfig
from harness.engine.reported import EpochReport
from harness.escape import markup, terminal, visible_controls
from harness.formats import lr, metric, plural, sig3
from harness.kinds import ENDED, Mode, Status, better
from harness.views.tables import fitted_table

# In a pipe or a CI log rich would assume 80 columns and squash wide tables into ellipses;
# logs read better unsquashed. $COLUMNS still wins.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160


class SafeConsole(Console):
    """A Console that writes no control character it did not make itself: the backstop behind
    the escaping where text is composed (harness.escape). Rich's own output (styles, links it
    was asked for, the live display's cursor moves) is emitted from a segment's style or as a
    control segment; a text segment that still holds an ESC, a C1 control or a bidi override
    came from a label, a file name or metadata, and is written out as `\\x1b` instead."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(visible_controls(segment.text, keep="\n"), segment.style)
            for segment in buffer
        )


console = SafeConsole(width=_WIDTH)
err_console = SafeConsole(stderr=True)


def print_error(message: str) -> None:
    """One line on stderr, never wrapped, so scripts can grep it (a newline from a file name in
    the message is written as `\\n`)."""
    err_console.print(Text(f"error: {terminal(message)}", style="bold red"), soft_wrap=True)


def print_warning(message: str) -> None:
    err_console.print(Text(f"warning: {terminal(message)}", style="yellow"), soft_wrap=True)


def print_json(data: Any) -> None:
    """Plain JSON on stdout (no colour codes), for pipes and tests. Strict JSON: a NaN or an
    infinity (a diverged trial's loss) is written as null, since Python's NaN is no JSON a
    strict parser accepts; commands that must not answer with one (predict) refuse it first."""
    sys.stdout.write(json.dumps(_finite(data), indent=2, default=str, allow_nan=False) + "\n")
    sys.stdout.flush()


def _finite(data: Any) -> Any:
    """`data` with every NaN or infinite float as None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(value) for value in data]
    return data


# A style for every Status (a test holds it to that), plus "pending".
STATUS_STYLE: dict[str, str] = {
    "pending": "dim",
    Status.RUNNING: "cyan",
    Status.FINISHED: "green",
    Status.STOPPED: "blue",
    Status.DIVERGED: "yellow",
    Status.ERROR: "bold red",
    Status.INTERRUPTED: "magenta",
}


class SweepDisplay:
    """A live table of trials: status, epoch / epochs, best metric, s/epoch, node."""

    def __init__(
        self, *, title: str, total: int, metric: str, mode: Mode, live: bool = True, waiting: str | None = None
    ) -> None:
        self.title, self.total, self.metric, self.mode = title, total, metric, mode
        self.rows: dict[str, dict[str, Any]] = {}
        self.waiting = waiting  # shown until the first trial starts: the cluster must grow first
        self._final = False  # the last frame, left on the screen, shows every trial
        # A live table only makes sense on a terminal; otherwise a line per finished trial on
        # stderr, which keeps stdout clean for --format json. The table is drawn from the rows
        # at each refresh (2 a second), not at each event, and only as many rows as the screen
        # holds: drawing all 256 rows took 130 ms, at 4 a second and after every result (the
        # driver used 60-100% of a core on a 256-trial sweep).
        self.live = (
            Live(console=console, refresh_per_second=2, get_renderable=self._frame)
            if live and console.is_terminal
            else None
        )

    def __enter__(self) -> SweepDisplay:
        if self.live:
            self.live.start()
        elif self.waiting:
            print_warning(self.waiting)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self._final = True
            self.live.stop()

    def trial_started(self, trial_id: str, config: TrialConfig) -> None:
        self.waiting = None
        empty = {"config": config, "epoch": 0, "best": None, "s_epoch": None, "eval_s": None, "node": ""}
        self.rows.setdefault(trial_id, empty)
        self.rows[trial_id]["status"] = Status.RUNNING

    def trial_result(self, trial_id: str, result: EpochReport) -> None:
        row = self.rows[trial_id]
        value = cast("float | None", result.get(self.metric))  # the task's metric: one of the report's numbers
        if value is not None and (row["best"] is None or better(value, row["best"], self.mode)):
            row["best"] = value
        row.update(
            epoch=result["epoch"],
            s_epoch=result.get("epoch_time_s"),
            eval_s=result.get("eval_time_s"),
            node=result.get("node") or result.get("node_ip", ""),
        )
        if result.get("diverged"):
            row["status"] = Status.DIVERGED

    def trial_ended(self, trial_id: str, status: Status) -> None:
        row = self.rows[trial_id]
        row["status"] = row["status"] if row["status"] == Status.DIVERGED else status
        if not self.live:
            cfg, best = row["config"], row["best"]
            err_console.print(
                f"[{self._done()}/{self.total}] trial {markup(trial_id)} {markup(cfg['arch'])}"
                f" {markup(cfg['optimizer'])} lr={lr(cfg['lr'])}:"
                f" {row['status']} after {plural(row['epoch'], 'epoch')}, best {self.metric}"
                f" {metric(best, self.metric)}",
                highlight=False,
                soft_wrap=True,
            )

    def _done(self) -> int:
        return sum(row["status"] in ENDED for row in list(self.rows.values()))

    def _frame(self) -> Table:
        """What the live display draws now (from its own thread): the latest trials that fit
        the screen (title, header, borders and caption take 7 lines), or all in the last frame."""
        return self.render(limit=None if self._final else max(1, console.height - 7))

    def render(self, *, limit: int | None = None) -> Table:
        """The table of trials in the order they started; `limit`: only the latest ones."""
        columns = [
            ("trial", "left", 6),
            ("arch", "left", 9),
            ("optimizer", "left", 8),
            ("lr", "right", 7),
            ("status", "left", 10),
            ("epoch", "right", 5),
            (f"best {self.metric}", "right", 10),
            ("s/epoch", "right", 4),
            ("eval s", "right", 4),  # each epoch's validation, beside its training: --eval-limit bounds it
            ("node", "left", 3),
        ]
        # The node only tells something when trials spread over several machines.
        items = list(self.rows.items())  # a copy: the driver adds rows while the display draws
        if len({row["node"] for _, row in items}) <= 1:
            columns.pop()
        shown = items if limit is None else items[-limit:]
        rows = []
        for trial_id, row in shown:
            cfg, status = row["config"], row["status"]
            rows.append(
                [
                    markup(trial_id),  # read back from a store on a resume
                    markup(cfg["arch"]),  # a plugin's name, and the task's in the title: text, never markup
                    markup(cfg["optimizer"]),
                    lr(cfg["lr"]),
                    f"[{STATUS_STYLE.get(status, '')}]{status}[/]",
                    f"{row['epoch']}/{cfg['epochs']}",
                    metric(row["best"], self.metric),  # as the board prints it
                    sig3(row["s_epoch"]),
                    sig3(row.get("eval_s")),
                    markup(row["node"]),
                ][: len(columns)]
            )
        return fitted_table(
            markup(self.title),
            columns,
            rows,
            width=console.width,
            caption=markup(self.waiting or "")
            or f"{self._done()}/{self.total} trials done"
            + (f", the latest {len(shown)} of {len(items)} shown" if len(shown) < len(items) else ""),
            caption_justify="left",
        )


class ConsoleReporter:
    """The CLI's `harness.sweeps.reporter.Reporter`: a spinner on stderr while the data are
    prepared, warnings as one line on stderr, and the live table of trials (a line per ended
    trial on stderr when stdout is not a terminal or `live` is off)."""

    def __init__(self, *, live: bool) -> None:
        self.live = live

    def preparing(self, what: str) -> AbstractContextManager[object]:
        return err_console.status(Text(terminal(what)))  # names a task's folder: text, never markup

    def warning(self, message: str) -> None:
        print_warning(message)

    def progress(self, *, title: str, total: int, metric: str, mode: Mode, waiting: str | None) -> SweepDisplay:
        return SweepDisplay(title=title, total=total, metric=metric, mode=mode, live=self.live, waiting=waiting)
