"""The one error type users can cause; the CLI prints it as one line and exits with 2."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


class HarnessError(Exception):
    """A mistake the user can fix: a bad flag, an unknown name, missing data, a bad file.

    `hint` says what to do about it; the CLI prints `error: <message> (<hint>)`.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


def unknown_choice(kind: str, value: object, choices: list[str]) -> HarnessError:
    """The error for a name that is not in a registry, naming the valid choices."""
    close = difflib.get_close_matches(str(value), choices, n=1)
    did_you_mean = f"did you mean {close[0]!r}? " if close else ""
    return HarnessError(f"unknown {kind} {value!r}", f"{did_you_mean}choose from: {', '.join(sorted(choices))}")


def lookup(kind: str, table: Mapping[str, T], name: str) -> T:
    """`table[name]`, or the HarnessError that names the valid choices: every registry's getter."""
    try:
        return table[name]
    except KeyError:
        raise unknown_choice(kind, name, list(table)) from None
