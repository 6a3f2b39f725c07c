"""The results store: one SQLite file, written only by the sweep driver.

Every reported epoch is one transaction as it arrives, so a killed sweep keeps every finished
epoch. WAL mode lets `harness leaderboard` read while a sweep writes. Ray workers never touch
this file (SQLite over network filesystems is unsafe, and one writer keeps it simple).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, cast

from harness.config.trial_config import TrialConfig
from harness.engine.reported import EpochReport
from harness.errors import HarnessError
from harness.kinds import Status, SweepStatus
from harness.paths import absolute, writable_dir
from harness.safefile import refuse_links
from harness.store.queries import EPOCH_COLUMNS, Reads
from harness.store.rows import SweepListRow, SweepRow, SweepTrialRow
from harness.store.schema import SCHEMA_VERSION, identify, upgrade

if TYPE_CHECKING:
    from harness.store.rows import RuntimeCheck

__all__ = ["DB_NAME", "EPOCH_COLUMNS", "SCHEMA_VERSION", "Store", "prepare_results_dir", "resolve_results_dir"]

DB_NAME = "harness.db"
SIDE_FILES = ("-wal", "-shm", "-journal")  # what SQLite writes beside the store, by the store's name


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def resolve_results_dir(results: str | os.PathLike | None = None) -> Path:
    """`--results`, else `HARNESS_RESULTS`, else ./results; absolute."""
    return absolute(results or os.environ.get("HARNESS_RESULTS") or "results")


def trial_key(sweep_id: str, ray_id: str) -> str:
    """The store's id of a trial: unique across sweeps, and safe in a file name."""
    return f"{sweep_id}.{ray_id}"


def prepare_results_dir(results_dir: Path) -> Path:
    """Create the folder and prove it is writable, before any sweep starts."""
    return writable_dir(
        results_dir, what="results folder", hint="pass --results DIR (or set HARNESS_RESULTS) to a writable folder"
    )


def _remove_new(path: Path) -> None:
    """The files a store that could not start left behind, where it holds nothing yet."""
    if path.is_file() and path.stat().st_size == 0:
        for leftover in (path, *(path.with_name(path.name + end) for end in SIDE_FILES)):
            leftover.unlink(missing_ok=True)


class Store(Reads):
    """The connection and the writes; the reads are `harness.store.queries.Reads`."""

    def __init__(self, path: Path, *, writer: bool = False) -> None:
        """Open the store at `path`: a harness store (upgraded in one transaction when older), or,
        for a `writer`, a new one. Any other file is refused before a byte of it is written."""
        self.path = path
        # SQLite opens its file and writes its -wal, -shm and -journal files beside it through any
        # link at their names: a store is never opened through one (harness.safefile).
        refuse_links((path, *(path.with_name(path.name + end) for end in SIDE_FILES)), what="results store file")
        version = identify(path, writer=writer)
        new = version == 0  # no store here yet (or an empty file): a failed start removes what it made
        self.conn = sqlite3.connect(path, timeout=30)
        self.conn.row_factory = sqlite3.Row
        try:
            if version < SCHEMA_VERSION:  # a new or older store: opening an up-to-date one writes nothing
                upgrade(self.conn, version)
            self.conn.execute("PRAGMA journal_mode=WAL")  # readers never block the driver
            # No fsync per commit (3 ms each, 4 commits a trial): in WAL mode a commit still
            # survives a killed process; only a power cut can lose the last ones, never corrupt
            # the file, and what the store lost a resume trains again (it is the one record).
            self.conn.execute("PRAGMA synchronous=NORMAL")
            if writer:  # prove it now, before Ray starts, not at the first epoch: a real write, undone
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                finally:
                    self.conn.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            self.conn.close()
            if new:  # a full disk leaves an empty file that every later command would stumble on
                _remove_new(path)
            raise HarnessError(
                f"results store {str(path)!r} cannot be written ({exc})",
                "make it writable, or pass --results DIR for another folder",
            ) from None
        self.conn.execute("PRAGMA foreign_keys=ON")

    @classmethod
    def create(cls, results_dir: Path) -> Store:
        """Open for writing, creating the folder and the file when needed."""
        return cls(prepare_results_dir(results_dir) / DB_NAME, writer=True)

    @classmethod
    def check_writable(cls, results_dir: Path) -> None:
        """Refuse a store that exists but cannot be written, without creating one that does not."""
        if (results_dir / DB_NAME).exists():
            cls(results_dir / DB_NAME, writer=True).close()

    @classmethod
    def existing(cls, results_dir: Path, *, writer: bool = False) -> Store:
        """Open a store that must already exist (reading commands never create one); `writer`
        for commands that add to it (export, verify)."""
        path = results_dir / DB_NAME
        if not path.is_file():
            raise HarnessError(
                f"no results store at {str(path)!r}",
                "run `harness sweep` first, or pass --results DIR where one was written",
            )
        return cls(path, writer=writer)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes: the driver only, one transaction each ---------------------------------

    def create_sweep(
        self, *, sweep_id: str, task: str, seed: int, command: str, spec_json: str, environment: Mapping[str, object]
    ) -> None:
        """`environment`: what the sweep ran on (the driver's `SweepEnvironment`), kept as JSON as given."""
        with self.conn:
            self.conn.execute(
                "INSERT INTO sweeps (id, task, status, created_at, seed, command, spec_json, environment_json)"
                " VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
                (sweep_id, task, now(), seed, command, spec_json, json.dumps(environment, sort_keys=True)),
            )

    def sweep(self, sweep_id: str | None = None) -> SweepRow:
        """A sweep by id, or the latest one."""
        rows = cast(
            "list[SweepRow]",
            self._rows("SELECT * FROM sweeps WHERE id = ?", (sweep_id,))
            if sweep_id
            else self._rows("SELECT * FROM sweeps ORDER BY created_at DESC, id DESC LIMIT 1"),
        )
        if not rows:
            which = f"no sweep {sweep_id!r}" if sweep_id else "no sweep"
            raise HarnessError(f"{which} in {str(self.path)!r}", "`harness sweeps` lists the stored sweeps")
        return rows[0]

    def sweeps(self) -> list[SweepListRow]:
        """Every sweep, newest first, with its trials counted by status."""
        rows = cast("list[SweepRow]", self._rows("SELECT * FROM sweeps ORDER BY created_at DESC, id DESC"))
        counts = self._rows("SELECT sweep_id, status, COUNT(*) AS n FROM trials GROUP BY sweep_id, status")
        return [{**row, "trials": {c["status"]: c["n"] for c in counts if c["sweep_id"] == row["id"]}} for row in rows]

    def latest_reproduction(self, report: str) -> SweepRow:
        """The newest sweep that reproduces `report` (`harness reproduce REPORT --resume`)."""
        for row in cast("list[SweepRow]", self._rows("SELECT * FROM sweeps ORDER BY created_at DESC, id DESC")):
            if json.loads(row["spec_json"]).get("reproduce") == report:
                return row
        raise HarnessError(
            f"no reproduction of {report} in {str(self.path)!r}", f"run `harness reproduce {report}` first"
        )

    def sweep_trials(self, sweep_id: str) -> list[SweepTrialRow]:
        """The sweep's trials in the order they ended: id, status, error and epochs run."""
        return cast(
            "list[SweepTrialRow]",
            self._rows(
                "SELECT t.id, t.status, t.error, t.ended_at, COUNT(e.epoch) AS epochs_run FROM trials t"
                " LEFT JOIN epochs e ON e.trial_id = t.id WHERE t.sweep_id = ? GROUP BY t.id"
                " ORDER BY t.ended_at IS NULL, t.ended_at, t.id",
                (sweep_id,),
            ),
        )

    def reopen_sweep(self, sweep_id: str) -> None:
        with self.conn:
            self.conn.execute("UPDATE sweeps SET status = 'running', finished_at = NULL WHERE id = ?", (sweep_id,))

    def trial_statuses(self, sweep_id: str) -> dict[str, int]:
        """How many of the sweep's trials are in each status."""
        rows = self._rows("SELECT status, COUNT(*) AS n FROM trials WHERE sweep_id = ? GROUP BY status", (sweep_id,))
        return {r["status"]: r["n"] for r in rows}

    def finish_sweep(self, sweep_id: str, status: SweepStatus) -> None:
        with self.conn:
            self.conn.execute("UPDATE sweeps SET status = ?, finished_at = ? WHERE id = ?", (status, now(), sweep_id))

    def start_trial(self, *, trial_id: str, sweep_id: str, config: TrialConfig) -> str:
        """Record a trial by Ray's id (`trial_id`); returns the store's id for it, qualified by
        the sweep, since Ray's short ids repeat across sweeps. `config`: the trial's config as
        Ray hands it (with what the plan adds beside TrialSpec's fields: recipe, base_seed,
        replicate), stored whole."""
        qualified = trial_key(sweep_id, trial_id)
        with self.conn:
            self.conn.execute(
                "INSERT INTO trials (id, ray_id, sweep_id, task, arch, optimizer, lr, batch_size, epochs, seed,"
                " status, started_at, config_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET status = 'running', ended_at = NULL",
                (
                    qualified,
                    trial_id,
                    sweep_id,
                    config["task"],
                    config["arch"],
                    config["optimizer"],
                    config["lr"],
                    config["batch_size"],
                    config["epochs"],
                    config["seed"],
                    now(),
                    json.dumps(config, sort_keys=True, default=str),
                ),
            )
        return qualified

    def record_epoch(self, *, trial_id: str, result: EpochReport, node: str | None = None) -> bool:
        """One epoch's metrics, written once: an epoch the store holds already (re-reported by a
        trial that resumed from an earlier checkpoint) writes nothing. Returns whether it wrote.
        `result`: Ray's result (the trial's report, with Ray's own keys beside it); what it lacks is NULL."""
        values = [result.get(c) for c in EPOCH_COLUMNS]
        # Task-specific scores (val_psnr, ...): every train_/val_ number without a column of its own.
        extra = {
            k: v
            for k, v in sorted(result.items())
            if k.startswith(("train_", "val_")) and k not in EPOCH_COLUMNS and isinstance(v, (int, float))
        }
        with self.conn:
            inserted = self.conn.execute(
                f"INSERT INTO epochs (trial_id, epoch, {', '.join(EPOCH_COLUMNS)}, extra_json, recorded_at)"
                f" VALUES (?, ?, {', '.join('?' * len(EPOCH_COLUMNS))}, ?, ?)"
                f" ON CONFLICT(trial_id, epoch) DO NOTHING",
                (trial_id, result["epoch"], *values, json.dumps(extra) if extra else None, now()),
            ).rowcount
            if not inserted:  # the trial's row was updated with it the first time
                return False
            # Where it ran (device, gpu_ids, precision) as its first reported epoch says: a
            # resumed trial keeps the first.
            gpu_ids = result.get("gpu_ids")
            self.conn.execute(
                "UPDATE trials SET params = COALESCE(?, params), node = COALESCE(?, node),"
                " status = CASE WHEN ? THEN 'diverged' ELSE status END, device = COALESCE(device, ?),"
                " gpu_ids = COALESCE(gpu_ids, ?), precision = COALESCE(precision, ?), notes = COALESCE(notes, ?)"
                " WHERE id = ?",
                (
                    result.get("params"),
                    node,
                    bool(result.get("diverged")),
                    result.get("device"),
                    None if gpu_ids is None else json.dumps([str(g) for g in gpu_ids]),
                    result.get("precision"),
                    result.get("notes") or None,
                    trial_id,
                ),
            )
            # The best checkpoint's epoch (every report), its test-split scores (the last epoch's).
            self.conn.execute(
                "UPDATE trials SET best_epoch = COALESCE(?, best_epoch), test_json = COALESCE(?, test_json)"
                " WHERE id = ?",
                (result.get("best_epoch") or None, result.get("test_json"), trial_id),
            )
        return True

    def set_checkpoint(self, trial_id: str, path: str) -> str | None:
        """The trial's best checkpoint is now `path`; returns the one it replaces (None: none)."""
        with self.conn:
            row = self.conn.execute("SELECT checkpoint_path FROM trials WHERE id = ?", (trial_id,)).fetchone()
            self.conn.execute("UPDATE trials SET checkpoint_path = ? WHERE id = ?", (path, trial_id))
        previous = row["checkpoint_path"] if row else None
        return previous if previous != path else None

    def restart_trial(self, trial_id: str) -> None:
        """A trial whose checkpoint is damaged starts again from its first epoch: the epochs
        stored of it go, since the new run's would not follow from them."""
        with self.conn:
            self.conn.execute("DELETE FROM epochs WHERE trial_id = ?", (trial_id,))
            self.conn.execute(
                "UPDATE trials SET checkpoint_path = NULL, best_epoch = NULL, test_json = NULL WHERE id = ?",
                (trial_id,),
            )

    def end_trial(
        self, trial_id: str, *, status: Status, error: str | None = None, traceback: str | None = None
    ) -> None:
        """Close a trial; a diverged trial stays diverged whatever Ray thinks of it."""
        with self.conn:
            self.conn.execute(
                "UPDATE trials SET status = CASE WHEN status = 'diverged' THEN status ELSE ? END,"
                " error = ?, traceback = ?, ended_at = ? WHERE id = ?",
                (status, error, traceback, now(), trial_id),
            )

    def interrupt_trials(self, sweep_id: str, *, status: Status = Status.INTERRUPTED) -> None:
        """Trials of a sweep that ended while they still ran: "interrupted" (Ctrl-C, a killed
        driver) or "stopped" (the time budget ran out). Their finished epochs stay."""
        with self.conn:
            self.conn.execute(
                "UPDATE trials SET status = ?, ended_at = ? WHERE sweep_id = ? AND status = 'running'",
                (status, now(), sweep_id),
            )

    def add_export(
        self,
        *,
        trial_id: str,
        path: str,
        opset: int,
        ir_version: int,
        quantize: str | None = None,
        sha256: str | None = None,
    ) -> int:
        """A written ONNX file, not yet verified (status "exported"); returns its row id."""
        with self.conn:
            cursor = self.conn.execute(
                "INSERT INTO exports (trial_id, path, created_at, status, opset, ir_version, quantize, sha256)"
                " VALUES (?, ?, ?, 'exported', ?, ?, ?, ?)",
                (trial_id, path, now(), opset, ir_version, quantize, sha256),
            )
        return int(cursor.lastrowid or 0)

    def set_verification(
        self,
        export_id: int,
        *,
        status: str,
        provider: str,
        max_abs_diff: float,
        top1_agreement: float,
        torch_metric: float,
        ort_metric: float,
        details: Mapping[str, object],  # harness.export.documents.VerificationDetails, kept as JSON
    ) -> None:
        """The verification of an exported file: "verified" or "failed", with its numbers
        (`details`: the verification's whole record, kept as the JSON it is given)."""
        with self.conn:
            self.conn.execute(
                "UPDATE exports SET status = ?, provider = ?, max_abs_diff = ?, top1_agreement = ?,"
                " torch_metric = ?, ort_metric = ?, details_json = ? WHERE id = ?",
                (
                    status,
                    provider,
                    max_abs_diff,
                    top1_agreement,
                    torch_metric,
                    ort_metric,
                    json.dumps(details, sort_keys=True),
                    export_id,
                ),
            )

    def record_probe(
        self,
        *,
        trial_id: str,
        probe: str,
        value: float,
        n: int,
        ci95_low: float | None,
        ci95_high: float | None,
        baseline: float | None,
        detail: Mapping[str, object],
    ) -> None:
        """A probe's figure for a trial (harness.results.probes); running the probe again replaces it
        (`detail`: how the probe measured it, kept as the JSON it is given)."""
        with self.conn:
            self.conn.execute(
                "INSERT INTO probes (trial_id, probe, value, n, ci95_low, ci95_high, baseline, detail_json,"
                " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(trial_id, probe) DO UPDATE SET"
                " value = excluded.value, n = excluded.n, ci95_low = excluded.ci95_low,"
                " ci95_high = excluded.ci95_high, baseline = excluded.baseline,"
                " detail_json = excluded.detail_json, recorded_at = excluded.recorded_at",
                (trial_id, probe, value, n, ci95_low, ci95_high, baseline, json.dumps(detail, sort_keys=True), now()),
            )

    def add_runtime_checks(self, export_id: int, checks: Sequence[RuntimeCheck]) -> None:
        """The cross-runtime matrix of one verification of an export, in one transaction."""
        at = now()
        with self.conn:
            self.conn.executemany(
                "INSERT INTO runtime_checks (export_id, runtime, status, version, provider, precision, informational,"
                " max_abs_diff, top1_agreement, metric, b1_p50_ms, details_json, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        export_id,
                        c.runtime,
                        c.status,
                        c.version,
                        c.provider,
                        c.inference_precision,  # the column keeps its name: precision
                        int(c.informational),
                        c.max_abs_diff,
                        c.top1_agreement,
                        c.metric,
                        c.b1_ms,
                        json.dumps(c.as_json(), sort_keys=True),
                        at,
                    )
                    for c in checks
                ],
            )
