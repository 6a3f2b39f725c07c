"""One driver per sweep: a lock held for the sweep's whole life that dies with its holder.

Two drivers of one sweep would train the same trials into the same store. The driver holds an
exclusive `flock` on RESULTS/locks/<sweep id>.lock; the kernel releases it when the process
ends in any way (SIGKILL, a crash), so `--resume` after a killed driver simply takes it, while
`--resume` beside a live driver is refused with that driver's pid and host, read from the file.
(flock is per machine on most network filesystems: run a sweep's drivers from one machine.)
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
from pathlib import Path
from typing import IO, Any

from harness.errors import HarnessError
from harness.safefile import LINK_HINT, subfolder


class DriverLock:
    def __init__(self, results_dir: Path, sweep_id: str) -> None:
        self.path = results_dir / "locks" / f"{sweep_id}.lock"
        self.sweep_id = sweep_id
        self._file: IO[str] | None = None

    def acquire(self) -> DriverLock:
        """Take the lock, or raise the one-line error naming the driver that holds it."""
        subfolder(self.path.parent.parent, self.path.parent.name, what="locks folder")
        handle = _open_lock(self.path)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = _holder(handle.read())
            handle.close()
            raise HarnessError(
                f"sweep {self.sweep_id} is running (pid {holder.get('pid', '?')} on host {holder.get('host', '?')})",
                "wait for it, or stop that driver (Ctrl-C) before resuming",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None

    def __enter__(self) -> DriverLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _open_lock(path: Path) -> IO[str]:
    """The lock file, opened where it is: never through a link planted at its name (the lock is
    truncated and rewritten, so a link would empty its target), never anything but a plain file
    (a FIFO there would block its reader). It is not renamed into place: the flock is on this
    file, the one every driver of the sweep opens."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise HarnessError(f"sweep lock {str(path)!r} is a symbolic link; nothing was written", LINK_HINT) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise HarnessError(f"sweep lock {str(path)!r} is not a plain file", "remove it, then run the command again")
    return os.fdopen(fd, "r+")


def _holder(text: str) -> dict[str, Any]:
    try:
        holder = json.loads(text)
        return holder if isinstance(holder, dict) else {}
    except json.JSONDecodeError:
        return {}
