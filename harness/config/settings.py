"""How a sweep setting meets the user, declared once beside its field.

Each field of `harness.config.spec.SweepSpec` carries a `Setting` in its metadata: its help text and
where --help shows it. Everything else is derived from the field: its flag (`--name`, a list
field's flag is its trial key: `lrs` -> `--lr`), the parser's type (from the annotation), the
flag-to-field mapping, the sweep-file key (the field name) and, for the fields trials get,
the Ray Tune search space (harness/sweeps/plan.py).
"""

from __future__ import annotations

import argparse
import math
import os
import typing
from collections.abc import Callable, Iterator
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.paths import absolute, absolute_storage

INT_MAX = 2**63 - 1  # SQLite's INTEGER and torch's int64: a larger count or seed overflows after Ray started


def number_problem(value: object, *, integer: bool = False) -> str | None:
    """Why `value` is not a number a setting can hold, in words ("is not a finite number"), or
    None: floats finite, ints within 64 bits; booleans are not numbers. Each setting's own
    range (> 0, >= 1, ...) is checked where it is declared (SweepSpec.validate)."""
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        return f"is not {'an integer' if integer else 'a number'}"
    if integer and not -INT_MAX <= value <= INT_MAX:
        return "is outside the 64-bit integers (|n| < 2**63)"
    if not math.isfinite(value):
        return "is not a finite number"
    return None


def finite_float(text: str) -> float:
    """argparse's type for a float flag outside the sweep settings: nan and inf are refused there,
    in argparse's one line, before anything runs."""
    value = float(text)  # ValueError: argparse says "invalid finite_float value"
    if problem := number_problem(value):
        raise argparse.ArgumentTypeError(f"{text!r} {problem}")
    return value


def bounded_int(text: str) -> int:
    """argparse's type for an integer flag outside the sweep settings: within 64 bits."""
    value = int(text)
    if problem := number_problem(value, integer=True):
        raise argparse.ArgumentTypeError(f"{text!r} {problem}")
    return value


GROUPS = {  # --help sections, in order, with what they say first
    "what to train": "list flags are repeatable or comma-separated: --lr 0.1,0.01 --lr 0.001",
    "data": None,
    "how to search": None,
    "where it runs": None,
}


def _directory(text: str, base: Path) -> str:
    return str(absolute(text, base=base))


def _storage(text: str, base: Path) -> str:
    return absolute_storage(text, base=base)  # a URI passes through


def _task(text: str, base: Path) -> str:
    """`folder:./images` -> `folder:/abs/images` (and hf:'s save_to_disk folders); names pass through."""
    prefix, sep, rest = text.partition(":")
    a_folder = prefix == "folder" or (prefix == "hf" and (rest.startswith((".", "~", "/")) or (base / rest).is_dir()))
    return f"{prefix}:{absolute(rest, base=base)}" if sep and a_folder else text


def _file_or_name(text: str, base: Path) -> str:
    """A plugin or --init: a .py/.pt/.safetensors path (or one that exists) made absolute; a module
    name or a trial id as it is."""
    looks_like_path = "/" in text or text.endswith((".py", ".pt", ".pth", ".safetensors"))
    return str(absolute(text, base=base)) if looks_like_path or (base / text).is_file() else text


def _arch(text: str, base: Path) -> str:
    """`nets/mynet.py:build` -> `/abs/nets/mynet.py:build`; a registered or library name as it is."""
    file, sep, function = text.rpartition(":")
    return f"{absolute(file, base=base)}:{function}" if sep and file.endswith(".py") else text


PATHS: dict[str, Callable[[str, Path], str]] = {
    "arch": _arch,
    "dir": _directory,
    "storage": _storage,
    "task": _task,
    "file_or_name": _file_or_name,
}


@dataclass(frozen=True)
class Setting:
    help: str  # for --help, without the default (derived from the field)
    group: str  # a GROUPS key
    trial: str | None = None  # a searched list: the key of the one value each trial gets (`lrs` -> `lr`)
    flag: str | None = None  # default: `--` + the trial key or the field name, with dashes
    alias: str | None = None  # a second flag for it (`--split` for `--variant`)
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None  # text -> value, when the annotation's type cannot say it
    path: str | None = None  # a PATHS kind: relative to the working folder (flag) or the sweep file's folder
    default_text: str | None = None  # --help's "(default: ...)" when the field's default (None) does not say it
    reproduce: bool = False  # `harness reproduce` takes it too, overriding every recipe


def setting(default: Any, **kwargs: Any) -> Any:
    """A dataclass field with its Setting: `lrs: tuple[float, ...] = setting((0.003,), help=..., ...)`."""
    return field(default=default, metadata={"setting": Setting(**kwargs)})


@dataclass(frozen=True)
class Declared:
    """One setting as the rest of the code sees it: the field, its Setting and what they imply."""

    name: str  # the field name, also the sweep-file key
    setting: Setting
    hint: Any  # the field's annotation, resolved
    default: Any

    @property
    def item(self) -> type:
        """The type of one value: `tuple[float, ...]` -> float, `int | None` -> int."""
        hint = _without_none(self.hint)
        if typing.get_origin(hint) is tuple:
            return typing.get_args(hint)[0]
        return hint

    @property
    def is_list(self) -> bool:
        """A list on the command line and in a sweep file: a tuple of any length."""
        args = typing.get_args(_without_none(self.hint))
        return typing.get_origin(_without_none(self.hint)) is tuple and args[-1] is Ellipsis

    @property
    def flag(self) -> str:
        return self.setting.flag or "--" + (self.setting.trial or self.name).replace("_", "-")

    @property
    def dest(self) -> str:
        """argparse's attribute for the flag (`--lr` -> `lr`)."""
        return self.flag.removeprefix("--").replace("-", "_")

    def parse(self, text: str) -> Any:
        """One command-line value: a path is made absolute against the working folder."""
        if self.setting.path:
            return PATHS[self.setting.path](text, Path(os.getcwd()))
        return (self.setting.parse or self.item)(text)

    def help(self, *, default: str | None = None) -> str:
        stated = self.setting.default_text or default or _default_text(self.default)
        return f"{self.setting.help} (default: {stated})" if stated else self.setting.help


def declared(cls: type) -> Iterator[Declared]:
    """Every field of the dataclass `cls` that declares a Setting, in field order."""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if "setting" in f.metadata:
            yield Declared(f.name, f.metadata["setting"], hints[f.name], _default(f))


def add_flags(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    names: tuple[str, ...] | None = None,
    default: str | None = None,
    list_action: type[argparse.Action],
) -> None:
    """The flags of `cls`'s settings (or only `names`), in --help sections by group; `default`
    replaces every flag's stated default (e.g. "the recipe's")."""
    chosen = [d for d in declared(cls) if names is None or d.name in names]
    for group in GROUPS:
        members = [d for d in chosen if d.setting.group == group]
        section = parser.add_argument_group(group, GROUPS[group]) if members and names is None else parser
        for d in members:
            kwargs: dict[str, Any] = {"dest": d.dest, "help": d.help(default=default), "metavar": d.setting.metavar}
            if d.is_list:
                kwargs.update(action=list_action, convert=d.parse)
            elif d.item is bool:  # a switch: given or not
                kwargs.update(action="store_const", const=True, help=d.setting.help)
                del kwargs["metavar"]
            else:
                kwargs.update(type=d.parse)
            section.add_argument(*(f for f in (d.flag, d.setting.alias) if f), **kwargs)


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The settings a command line gave (lists as tuples), by field name; absent flags are left out."""
    values = {}
    for d in declared(cls):
        value = getattr(args, d.dest, None)
        if value is not None:
            values[d.name] = tuple(value) if isinstance(value, list) else value
    return values


def _without_none(hint: Any) -> Any:
    args = typing.get_args(hint)
    if type(None) in args:  # X | None
        return next(a for a in args if a is not type(None))
    return hint


def _default(f: Field) -> Any:
    return None if f.default is MISSING else f.default


def _default_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)
