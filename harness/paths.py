"""Every path a user gives, made absolute on the driver before anything runs.

Ray runs trials in a working folder of its own, so a relative `--data-dir ./data` that the
driver found would be a different, missing folder inside every trial. Flags and the
environment variables that name folders are therefore resolved here, once, against the
driver's working folder; a storage URI (s3://, gs://, ...) passes through unchanged.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from harness.errors import HarnessError
from harness.userfiles import file_kind

# Environment variables that name folders; relative values are made absolute at start-up.
PATH_VARIABLES = ("HARNESS_DATA_DIR", "HARNESS_CACHE_DIR", "HARNESS_RESULTS")


def absolute(path: str | os.PathLike, *, base: str | os.PathLike | None = None) -> Path:
    """`path` with ~ expanded, made absolute against `base` (default: the working folder),
    `..` folded; symbolic links are kept as the user named them."""
    expanded = Path(path).expanduser()
    if not expanded.is_absolute():
        expanded = Path(base or os.getcwd()) / expanded
    return Path(os.path.normpath(expanded))


def safe_name(text: str, *, limit: int = 120) -> str:
    """`text` as one file name on any system: letters, digits, `-`, `_`, `.` and `=` kept, every other
    character (a slash, a colon, a space, a control character) as `_`; a run of dots as one dot, no
    leading or trailing dot, at most `limit` characters. Names made from data (a task, a label, a
    rows file's report name) never reach outside their folder and are never hidden."""
    kept = "".join(c if c.isascii() and (c.isalnum() or c in "-_.=") else "_" for c in text)
    return re.sub(r"\.{2,}", ".", kept).strip(".")[:limit].rstrip(".") or "_"


def is_uri(text: str) -> bool:
    """A storage URI such as s3://bucket/ray or file:///shared: Ray resolves those itself."""
    return "://" in text


def absolute_storage(text: str, *, base: str | os.PathLike | None = None) -> str:
    return text if is_uri(text) else str(absolute(text, base=base))


def absolutize_environment(environ: dict[str, str] | None = None) -> None:
    """Rewrite relative HARNESS_* folder variables as absolute ones, in place, so that Ray's
    workers (which inherit the driver's environment) see the same folders as the driver."""
    env = os.environ if environ is None else environ
    for name in PATH_VARIABLES:
        if env.get(name):
            env[name] = str(absolute(env[name]))


def existing_file(path: str | os.PathLike, *, what: str, hint: str) -> Path:
    """An input file that must be there: absolute, or one line saying it is missing."""
    resolved = absolute(path)
    if resolved.is_dir():
        raise HarnessError(f"{what} {str(path)!r} is a folder, not a file", hint)
    if not resolved.is_file():
        if resolved.exists():  # a FIFO would block whoever opens it: say what it is
            raise HarnessError(
                f"{what} {str(path)!r} is a {file_kind(resolved.stat().st_mode)}, not a regular file", hint
            )
        raise HarnessError(f"{what} {str(path)!r} does not exist", hint)
    return resolved


def writable_dir(path: str | os.PathLike, *, what: str, hint: str) -> Path:
    """An output folder: created when missing, proven writable, returned absolute."""
    import tempfile

    resolved = absolute(path)
    try:
        resolved.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=resolved, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise HarnessError(f"{what} {str(path)!r} cannot be written ({exc.strerror or exc})", hint) from None
    return resolved
