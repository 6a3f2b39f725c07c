"""A run's command as the reproduction document shows it: without the machine's folders."""

from __future__ import annotations

import re
import shlex


def portable_command(command: str) -> str:
    """The command as the document shows it: an absolute path in it (a results folder, a data
    root, a plugin file) is this machine's and reads `.../NAME`; every other word as typed."""
    if not command:
        return command
    try:
        words = shlex.split(command)
    except ValueError:  # not shlex.join's output (a hand-edited store): nothing to split, no path shown
        return command.split(" ", 1)[0] + " ..."
    return shlex.join(_portable_word(word) for word in words)


def _portable_word(word: str) -> str:
    flag, _, value = word.partition("=") if word.startswith("--") and "=" in word else ("", "", word)
    if not (value.startswith(("/", "~", "\\")) or re.match(r"[A-Za-z]:[\\/]", value)):
        return word
    name = re.split(r"[\\/]", value.rstrip("/\\"))[-1]
    shown = f".../{name}" if name and not name.startswith("~") else "..."
    return f"{flag}={shown}" if flag else shown
