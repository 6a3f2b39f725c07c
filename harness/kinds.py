"""The fixed vocabularies: trial, sweep and runtime-check statuses, the metric's direction, and `better`.

Torch-free and import-light: `predict` and the datasets registry use it. Every member is a
`str`, so it compares, hashes, binds in SQLite and encodes in JSON as its value: rows read back
from the store (plain strings) match the members, and what is stored and printed stays the same.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from enum import Enum


class ValueEnum(str, Enum):
    """A str enum that prints as its value on every Python this supports.

    Python 3.11 made `str()`, `format()` and f-strings of a `(str, Enum)` member give
    "Status.FINISHED"; `enum.StrEnum`, which prints the value, needs 3.11. `repr` stays the
    enum's own, so a debugging print still shows the type.
    """

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, format_spec: str) -> str:
        return format(str(self.value), format_spec)


class Status(ValueEnum):
    """How a trial stands; the trials table's `status` column."""

    RUNNING = "running"  # a driver is training it, or was killed while it did (resume continues it)
    FINISHED = "finished"  # ran every planned epoch
    STOPPED = "stopped"  # stopped early on purpose: by ASHA, or where a time budget found it
    DIVERGED = "diverged"  # its loss became NaN or infinite
    ERROR = "error"  # it raised twice (one retry)
    INTERRUPTED = "interrupted"  # its sweep was stopped by Ctrl-C or SIGTERM; resume continues it


class SweepStatus(ValueEnum):
    """How a sweep stands; the sweeps table's `status` column."""

    RUNNING = "running"
    FINISHED = "finished"  # ran to its end (or its time budget) and some trial trained normally
    FAILED = "failed"  # ran to its end and no trial is usable
    INTERRUPTED = "interrupted"


class RuntimeStatus(ValueEnum):
    """A runtime's row in an exported file's verification matrix; the runtime_checks `status`."""

    PASSED = "passed"
    FAILED = "failed"  # ran, and missed the gate
    ERROR = "error"  # could not load or run the file
    INFO = "info"  # an informational row: figures only, never fails
    MISSING = "not installed"


# The matrix rows that "k/N runtimes" counts: informational rows and missing runtimes aside.
COUNTED: tuple[RuntimeStatus, ...] = (RuntimeStatus.PASSED, RuntimeStatus.FAILED, RuntimeStatus.ERROR)

# Trials that will not train any further in this sweep: "k/N trials done". Everything but the two
# that still run or will run again, so that a new status counts as ended unless it is added here.
ENDED: frozenset[Status] = frozenset(Status) - {Status.RUNNING, Status.INTERRUPTED}
# Trials that trained normally and can be ranked: run to the end, or stopped early on purpose.
USABLE: frozenset[Status] = frozenset({Status.FINISHED, Status.STOPPED})
# Trials that never rank above one that trained normally.
FAILED: frozenset[Status] = frozenset({Status.DIVERGED, Status.ERROR})


class Mode(ValueEnum):
    """Which end of a metric is better (Ray Tune's `mode`)."""

    MAX = "max"  # accuracy, PSNR, throughput
    MIN = "min"  # losses, seconds, parameter counts


_BETTER: dict[Mode, Callable[[float, float], bool]] = {Mode.MAX: operator.gt, Mode.MIN: operator.lt}


def better(a: float, b: float, mode: Mode) -> bool:
    """Whether `a` is strictly better than `b` under `mode` (a tie or a NaN is not better)."""
    return _BETTER[Mode(mode)](a, b)


def best_of(values: Iterable[float], mode: Mode) -> float:
    """The best of `values` (not empty) under `mode`."""
    return (max if Mode(mode) is Mode.MAX else min)(values)


def rank_key(value: float, mode: Mode) -> float:
    """A sort key that puts the best value first in an ascending sort."""
    return -value if Mode(mode) is Mode.MAX else value


def sql_aggregate(mode: Mode) -> str:
    """The SQL aggregate that picks the best value of a column: MAX or MIN."""
    return Mode(mode).value.upper()


# Which weights of a trial's checkpoint a probe scores: the best epoch's, or the ones its last
# epoch ended with (kept beside the best where they differ: harness.engine.checkpoint.LAST_FILE).
WEIGHTS = ("best", "last")
