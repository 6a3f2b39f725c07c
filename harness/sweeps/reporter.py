"""What a sweep tells a person while it runs, as an interface: the driver reports, the caller
decides how it is shown. The CLI passes `harness.views.console.ConsoleReporter` (rich spinners,
warnings on stderr, the live table); a library caller gets `Quiet`, which shows nothing."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from harness.config.trial_config import TrialConfig
from harness.engine.reported import EpochReport
from harness.kinds import Mode, Status


class Progress(Protocol):
    """The running display of one sweep's trials (entered while the sweep runs)."""

    def __enter__(self) -> Progress: ...
    def __exit__(self, *exc: object) -> None: ...
    # As Ray hands them: the trial's config, and its result (the trial's report, Ray's own keys beside it)
    def trial_started(self, trial_id: str, config: TrialConfig) -> None: ...
    def trial_result(self, trial_id: str, result: EpochReport) -> None: ...
    def trial_ended(self, trial_id: str, status: Status) -> None: ...


class Reporter(Protocol):
    def preparing(self, what: str) -> AbstractContextManager[object]:
        """Shown while the driver does slow work before any trial (decoding the data)."""
        ...

    def warning(self, message: str) -> None:
        """One line a person should read: a rebuilt cache, skipped files, a cluster that must grow."""
        ...

    def progress(self, *, title: str, total: int, metric: str, mode: Mode, waiting: str | None) -> Progress:
        """The display of a sweep of `total` trials ranked by `metric`; `waiting` is shown until
        the first trial starts."""
        ...


class _Silent:
    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def trial_started(self, trial_id: str, config: TrialConfig) -> None:
        return None

    def trial_result(self, trial_id: str, result: EpochReport) -> None:
        return None

    def trial_ended(self, trial_id: str, status: Status) -> None:
        return None


class Quiet:
    """Shows nothing: the store holds everything a sweep did."""

    def preparing(self, what: str) -> AbstractContextManager[object]:
        return nullcontext()

    def warning(self, message: str) -> None:
        return None

    def progress(self, *, title: str, total: int, metric: str, mode: Mode, waiting: str | None) -> Progress:
        return _Silent()
