"""One driver per sweep: a lock held for the sweep's whole life that dies with its holder.

Two drivers of one sweep would train the same trials into the same store. The driver holds an
exclusive `flock` on RESULTS/locks/<sweep id>.lock; the kernel releases it when the process
ends in any way (SIGKILL, a crash), so `--resume` after a killed driver simply takes it, while
`--resume` beside a live driver is refused with that driver's pid and host, read from the file.
(flock is per machine on most network filesystems: run a sweep's drivers from one machine.)
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path
from typing import IO, Any

from harness.errors import HarnessError


class DriverLock:
    def __init__(self, results_dir: Path, sweep_id: str) -> None:
        self.path = results_dir / "locks" / f"{sweep_id}.lock"
        self.sweep_id = sweep_id
        self._file: IO[str] | None = None

    def acquire(self) -> DriverLock:
        """Take the lock, or raise the one-line error naming the driver that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
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


def _holder(text: str) -> dict[str, Any]:
    try:
        holder = json.loads(text)
        return holder if isinstance(holder, dict) else {}
    except json.JSONDecodeError:
        return {}
