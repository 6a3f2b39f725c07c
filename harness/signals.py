"""SIGTERM handled like Ctrl-C: what a process manager (systemd, Kubernetes, `kill`) sends is a
request to stop cleanly, so the sweep stops as after Ctrl-C (trials marked, the store and Tune's
state consistent, `--resume` continues), and the command exits 143 (128 + SIGTERM) instead of 130.

While Ray Tune runs, SIGTERM is passed on to Tune as the SIGUSR1 it stops on gracefully (Tune
installs that handler itself); anywhere else it raises KeyboardInterrupt. `ray.init` installs a
SIGTERM handler of its own (a bare exit), which this replaces.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

TERMINATED = threading.Event()  # set once SIGTERM arrived: the exit code says so


def _raise(signum: int, frame: FrameType | None) -> None:
    TERMINATED.set()
    raise KeyboardInterrupt


def _to_tune(signum: int, frame: FrameType | None) -> None:
    TERMINATED.set()
    if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, signal.SIG_IGN, None):
        raise KeyboardInterrupt  # Tune is not listening (yet): stop like Ctrl-C outside it
    os.kill(os.getpid(), signal.SIGUSR1)


def install() -> None:
    """SIGTERM raises KeyboardInterrupt in the main thread (the CLI calls this at start)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise)


@contextmanager
def passed_to_tune() -> Iterator[None]:
    """Around `Tuner.fit()`: SIGTERM asks Tune to stop, as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.signal(signal.SIGTERM, _to_tune)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, _raise)


def interrupted_exit_code() -> int:
    """130 after Ctrl-C, 143 after SIGTERM (128 + the signal's number, as shells report it)."""
    return 128 + (signal.SIGTERM if TERMINATED.is_set() else signal.SIGINT)
