"""The one error type users can cause; the CLI prints it as one line and exits with 2."""

from __future__ import annotations

import difflib
import errno
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


# What to do about the operating system's refusals a user can cause, by errno.
OS_HINTS = {
    errno.ENAMETOOLONG: "use shorter file and folder names (most file systems allow 255 bytes per name)",
    errno.ENOSPC: "free some space, or point the command at another disk",
    errno.EACCES: "check the path's permissions",
    errno.EPERM: "check the path's permissions",
    errno.EROFS: "pass a folder on a writable file system",
    errno.ELOOP: "the path runs through a loop of links: pass the real path",
    errno.ENOTDIR: "a file stands where the path needs a folder",
    errno.EISDIR: "pass a file, not a folder",
}


def from_os_error(exc: OSError) -> HarnessError:
    """An OSError that reached the command line (a 300-character file name, a full disk, a
    read-only folder) as one line: what failed, on which path, and what to do about it."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [repr(str(p)) for p in (exc.filename, exc.filename2) if p is not None]
    where = f" ({' -> '.join(paths)})" if paths else ""
    hint = OS_HINTS.get(exc.errno or 0, "run with --debug for the traceback")
    return HarnessError(f"{reason}{where}", hint)
