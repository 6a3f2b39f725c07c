"""Every file the harness writes, written so that a planted symbolic link cannot redirect it.

A results folder, a page folder or a docs folder may hold a link that someone else put at the
name the harness is about to write (`model.onnx -> ~/.bashrc`). Opening that name for writing
follows the link and overwrites its target. So no file is opened at its final name: the bytes
go to a new temporary file in the same folder (O_EXCL and O_NOFOLLOW: never an existing file,
never through a link), which is then renamed over the final name. A rename replaces the
directory entry itself, never what a link or a hard link there points to, and within one folder
it is atomic: a reader sees the old file or the new one, never half of one. A link already at
the final name is refused, not silently replaced: someone put it there, and should hear of it.
(A link planted between that check and the rename is replaced, not written through: a race
changes which of the two happens, never what reaches a link's target.)

Folders the user names (`--out`, `--results`, the page folder) may be links: that is their
choice. Folders the harness makes inside them (`locks/`, `reproduction/`, a page per model) go
through `subfolder`, which refuses a link there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from harness.errors import HarnessError

LINK_HINT = "remove the link (the harness never writes through one), or pass another output path"
TEMP_PREFIX = ".harness-tmp-"  # the temporary files' names start with it: a crash leaves them visible
# O_NOFOLLOW is redundant with O_EXCL (which already fails on any existing name, a link included),
# and states the intent; O_CLOEXEC keeps the descriptor from Ray's and Node's child processes.
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def refuse_link(path: str | os.PathLike[str], *, what: str = "output file") -> Path:
    """`path`, or the one-line error naming the link (and where it points) that sits at it."""
    path = Path(path)
    if path.is_symlink():
        raise HarnessError(
            f"{what} {str(path)!r} is a symbolic link (to {os.readlink(path)!r}); nothing was written", LINK_HINT
        )
    return path


def refuse_links(paths: Iterable[str | os.PathLike[str]], *, what: str = "output file") -> None:
    """Check every name of a multi-file output before the first is written: a refusal leaves
    none of them half-replaced."""
    for path in paths:
        refuse_link(path, what=what)


def subfolder(parent: str | os.PathLike[str], name: str, *, what: str = "output folder") -> Path:
    """`parent/name`, created when missing; a link there (to anywhere) is refused."""
    folder = Path(parent) / name
    if folder.is_symlink():
        raise HarnessError(
            f"{what} {str(folder)!r} is a symbolic link (to {os.readlink(folder)!r}); nothing was written", LINK_HINT
        )
    folder.mkdir(parents=True, exist_ok=True)
    if folder.is_symlink() or not folder.is_dir():  # a link or a file put there since the check
        raise HarnessError(f"{what} {str(folder)!r} is not a folder; nothing was written", LINK_HINT)
    return folder


@contextlib.contextmanager
def writer(path: str | os.PathLike[str], *, what: str = "output file") -> Iterator[BinaryIO]:
    """A binary file to write `path` through: a temporary file beside it, renamed over `path`
    when the block ends without an error, removed when it raises (nothing is half-written)."""
    final = refuse_link(path, what=what)
    if final.is_dir():  # an OSError, as open() gives: a caller that tolerates an unwritable file still does
        raise IsADirectoryError(errno.EISDIR, "a folder is where the file goes", str(final))
    # at most 255 bytes, the limit of a name on most file systems (a CJK character is 3 bytes)
    temp_name = f"{TEMP_PREFIX}{secrets.token_hex(6)}-{final.name}".encode()[:255].decode("utf-8", "ignore")
    temp = final.with_name(temp_name)
    # 0o666 less the umask, as open() gives; the handle's name is the temporary path (onnx reads it)
    handle = open(temp, "wb", opener=lambda name, _: os.open(name, _NEW_FILE, 0o666))
    try:
        with handle:
            yield handle
        refuse_link(final, what=what)  # a link planted while the bytes were written
        with contextlib.suppress(FileNotFoundError):  # a file replaced keeps its mode (a README's, a shared folder's)
            os.chmod(temp, stat.S_IMODE(os.stat(final).st_mode))
        os.replace(temp, final)
    except BaseException:  # an error, Ctrl-C: the temporary file goes, the final name is untouched
        temp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes, *, what: str = "output file") -> Path:
    with writer(path, what=what) as handle:
        handle.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, *, what: str = "output file") -> Path:
    return write_bytes(path, text.encode("utf-8"), what=what)


def copy_file(source: str | os.PathLike[str], target: str | os.PathLike[str], *, what: str = "output file") -> Path:
    """Copy `source`'s bytes to `target` as `writer` writes (the source may be a link: it is read)."""
    with open(source, "rb") as src, writer(target, what=what) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return Path(target)
