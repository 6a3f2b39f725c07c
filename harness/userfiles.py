"""Files a person hands the harness (images, sweep files, rows files, a model's metadata), read so
that none of them can hang it, exhaust its memory or end in a traceback.

- `open_regular`: only a regular file is opened. A FIFO named `x.png` would block `open()` until
  a writer comes (forever), `/dev/zero` never ends, a folder is not data. The kind is checked
  before opening and again on the opened descriptor (opened non-blocking), so a FIFO swapped in
  between cannot block either.
- `read_regular`: at most `limit` bytes; a larger file is refused before it is read.
- `parse_json` / `parse_toml`: nesting deeper than MAX_DEPTH is refused before the parser runs,
  so a file of 100,000 brackets is one line, not a RecursionError (json and tomllib recurse).
- `shape_problem`: a decoded document checked against the TypedDict that declares it, so a value
  of the wrong type is one line naming where it is, not a TypeError deep in a renderer.

No torch, no numpy: `harness predict` uses this where only onnxruntime is installed.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import types
import typing
from pathlib import Path
from typing import IO, Any, Literal

from harness.errors import HarnessError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

MAX_DEPTH = 64  # nesting levels; harness's own files use 5, Python's parsers fail near 1,000
MiB = 1 << 20


class NotRegularFile(HarnessError, OSError):
    """A path that is a FIFO, a device, a socket or a folder where a file is read. Also an OSError,
    so callers that skip unreadable files (image decoding) skip it like one."""


def file_kind(mode: int) -> str:
    """What a path that is not a regular file is, in words: "FIFO", "folder", ..."""
    for test, name in (
        (stat.S_ISDIR, "folder"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "special file"


def _refuse(path: Path, mode: int, what: str) -> NotRegularFile:
    return NotRegularFile(
        f"{what} {str(path)!r} is a {file_kind(mode)}, not a regular file", "pass a regular file; nothing was read"
    )


def open_regular(path: str | os.PathLike[str], *, what: str = "file") -> IO[bytes]:
    """`path` opened for reading in binary, if it is a regular file (a link to one is followed);
    NotRegularFile otherwise. A missing file raises FileNotFoundError, as open() does."""
    path = Path(path)
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise _refuse(path, mode, what)
    # O_NONBLOCK: if a FIFO replaced the file since the stat, open() returns instead of waiting
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _refuse(path, mode, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: ordinary reads from here on
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], *, what: str, limit: int, hint: str) -> bytes:
    """The bytes of the regular file `path`, refused in one line when it is larger than `limit`,
    missing, unreadable or not a regular file."""
    try:
        with open_regular(path, what=what) as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(limit + 1)  # never more than the limit, whatever the size said
    except FileNotFoundError:
        raise HarnessError(f"no {what} at {str(path)!r}", hint) from None
    except NotRegularFile:
        raise
    except OSError as exc:
        raise HarnessError(f"cannot read {what} {str(path)!r} ({exc.strerror or exc})", hint) from None
    if len(data) > limit:
        raise HarnessError(
            f"{what} {str(path)!r} has {max(size, len(data)):,} bytes, more than the {limit:,} such a file may have",
            hint,
        )
    return data


# Strings (whose brackets are not structure) and, in TOML, comments: removed before counting.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_TOML_SKIPPED = re.compile(r"'''.*?'''|\"\"\"(?:[^\\]|\\.)*?\"\"\"|\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|#[^\n]*", re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def nesting_depth(text: str, *, toml: bool = False, stop: int = MAX_DEPTH) -> int:
    """The deepest nesting of [ and { in JSON (or TOML) text, counted outside strings and
    comments; counting stops once past `stop`. Malformed text counts as well as it can: the
    parser reports what is wrong with it."""
    depth = deepest = 0
    for match in _BRACKET.finditer((_TOML_SKIPPED if toml else _JSON_STRING).sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > stop:
                break
    return deepest


def _too_deep(what: str, hint: str) -> HarnessError:
    return HarnessError(f"{what} is nested more than {MAX_DEPTH} levels deep", hint)


def parse_json(text: str, *, what: str, hint: str, kind: str = "JSON") -> Any:
    """`json.loads(text)`, with nesting bounded first; any failure is one HarnessError saying
    that `what` is not `kind`."""
    if nesting_depth(text) > MAX_DEPTH:
        raise _too_deep(what, hint)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise HarnessError(f"{what} is not {kind} ({exc})", hint) from None


def parse_toml(data: bytes, *, what: str, hint: str) -> dict[str, Any]:
    """`tomllib.loads` of UTF-8 bytes, with nesting bounded first; any failure is one HarnessError."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{what} is not valid TOML ({exc})", hint) from None
    if nesting_depth(text, toml=True) > MAX_DEPTH:
        raise _too_deep(what, hint)
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise HarnessError(f"{what} is not valid TOML ({exc})", hint) from None


# -- the shape of a decoded document ----------------------------------------------------------


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer"}
    return names.get(type(value), "null" if value is None else f"a {type(value).__name__}")


def _hint_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_hint_name(a) for a in typing.get_args(hint))
    if origin is Literal:
        return " or ".join(map(repr, typing.get_args(hint)))
    if origin is not None:
        return origin.__name__
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def shape_problem(value: Any, hint: Any, *, where: str, require_keys: bool = True) -> str | None:
    """Where `value` (decoded JSON) is not of the type `hint` declares, in words, or None.
    TypedDicts are checked key by key: unknown keys are allowed (a newer writer), declared
    keys must have their type, and the required ones must be there unless not `require_keys`
    (readers that `.get` every key)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return None
    if origin in (typing.Union, types.UnionType):
        if any(shape_problem(value, a, where=where, require_keys=require_keys) is None for a in args):
            return None
        return f"{where} is {_type_name(value)}, not {_hint_name(hint)}"
    if origin is Literal:
        return None if value in args else f"{where} is {value!r}, not {_hint_name(hint)}"
    if typing.is_typeddict(hint):
        if not isinstance(value, dict):
            return f"{where} is {_type_name(value)}, not an object"
        fields = typing.get_type_hints(hint)
        missing = sorted(k for k in hint.__required_keys__ if k not in value) if require_keys else []
        if missing:
            return f"{where} lacks {', '.join(missing)}"
        for key, sub in fields.items():
            if key in value:
                problem = shape_problem(value[key], sub, where=f"{where}.{key}", require_keys=require_keys)
                if problem:
                    return problem
        return None
    if origin in (list, tuple):
        if not isinstance(value, list):
            return f"{where} is {_type_name(value)}, not a list"
        item = args[0] if args else Any
        for i, v in enumerate(value):
            problem = shape_problem(v, item, where=f"{where}[{i}]", require_keys=require_keys)
            if problem:
                return problem
        return None
    if origin is dict:
        if not isinstance(value, dict):
            return f"{where} is {_type_name(value)}, not an object"
        for k, v in value.items():
            problem = shape_problem(v, args[1] if args else Any, where=f"{where}.{k}", require_keys=require_keys)
            if problem:
                return problem
        return None
    if hint is type(None):
        return None if value is None else f"{where} is {_type_name(value)}, not null"
    # JSON has one number type: an int is a float; a boolean is never a number
    wanted = (int, float) if hint is float else (hint,)
    if isinstance(value, bool) and hint is not bool or not isinstance(value, wanted):
        return f"{where} is {_type_name(value)}, not {_hint_name(hint)}"
    return None
