"""Sweep files: a TOML file of the same settings as the flags, one key per setting (the field's
name), checked key by key before a `SweepSpec` is built from it.

A `[task]` table names the data for a team (path = "images" or hf = "saved", image_size, split);
paths in the file are relative to the file's own folder.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from typing import Any

from harness.config.settings import PATHS, Declared
from harness.errors import HarnessError, unknown_choice
from harness.paths import existing_file
from harness.userfiles import MiB, parse_toml, read_regular

SWEEP_FILE_BYTES = MiB  # a sweep file is a screenful of settings


def read_sweep_file(path: str, settings: Iterable[Declared], overrides: dict[str, Any]) -> dict[str, Any]:
    """The settings `path` holds, with `overrides` (the command line's) on top: lists as tuples,
    paths absolute; one line naming the key for anything the file gets wrong."""
    file = existing_file(path, what="sweep file", hint="pass the path of a .toml file")
    data = read_regular(file, what="sweep file", limit=SWEEP_FILE_BYTES, hint="pass the path of a .toml file")
    table = parse_toml(data, what=f"sweep file {path!r}", hint="fix the file")
    keys = {d.name: d for d in settings}
    if isinstance(table.get("task"), dict):
        table.update(_task_table(path, table.pop("task")))
    for key, value in table.items():
        if key not in keys:
            raise unknown_choice(f"key in {path}", key, sorted(keys))
        _check_type(path, key, value, keys[key].hint)
        kind = keys[key].setting.path
        if kind:  # relative to the file's own folder
            convert, base = PATHS[kind], file.parent
            table[key] = [convert(v, base) for v in value] if isinstance(value, list) else convert(value, base)
    return {
        k: tuple(v) if isinstance(v, list) else (v,) if keys[k].is_list and not isinstance(v, tuple) else v
        for k, v in {**table, **overrides}.items()
    }


def _check_type(path: str, key: str, value: Any, hint: Any) -> None:
    """A sweep file's value has the field's declared type: `int | None` takes an int, a tuple
    field a list of its item type (or one item), `lr_range` a list of two numbers. Booleans are
    never numbers, and an int is a float."""
    if type(None) in typing.get_args(hint):  # X | None: a file cannot say None, so it says X
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        fixed = args[-1] is not Ellipsis
        items = value if isinstance(value, list) else None if fixed else [value]
        item, want = args[0], f"a list of {len(args)} {args[0].__name__}s" if fixed else f"a list of {args[0].__name__}"
        if items is None or (fixed and len(items) != len(args)):
            raise HarnessError(f"sweep file {path!r}: {key} = {value!r} is not {want}", "fix that line of the file")
    else:
        items, item, want = [value], hint, hint.__name__
    ok = (float, int) if item is float else (item,)
    if any((isinstance(v, bool) and item is not bool) or not isinstance(v, ok) for v in items):
        raise HarnessError(f"sweep file {path!r}: {key} = {value!r} is not {want}", "fix that line of the file")


TASK_TABLE = {"path": "folder", "hf": "hf"}  # [task] keys naming the data -> the task's prefix


def _task_table(path: str, table: dict[str, Any]) -> dict[str, Any]:
    """A sweep file's `[task]` table (path = "images", image_size = 96, split = "0.7,0.15,0.15") as
    the settings it stands for: task = "folder:images", image_size, variant."""
    known = {*TASK_TABLE, "image_size", "split"}
    for key in table:
        if key not in known:
            raise unknown_choice(f"key of [task] in {path}", key, sorted(known))
    sources = [k for k in TASK_TABLE if k in table]
    if len(sources) != 1 or not isinstance(table[sources[0]], str):
        raise HarnessError(f"sweep file {path!r}: [task] needs one of path = or hf = ", 'e.g. path = "images"')
    out: dict[str, Any] = {"task": f"{TASK_TABLE[sources[0]]}:{table[sources[0]]}"}
    if "image_size" in table:
        out["image_size"] = table["image_size"]
    if "split" in table:
        out["variant"] = table["split"]
    return out
