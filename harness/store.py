"""The results store: one SQLite file, written only by the sweep driver.

Every reported epoch is one transaction as it arrives, so a killed sweep keeps every finished
epoch. WAL mode lets `harness leaderboard` read while a sweep writes. Ray workers never touch
this file (SQLite over network filesystems is unsafe, and one writer keeps it simple).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

from harness.errors import HarnessError
from harness.kinds import Mode, Status, SweepStatus, sql_aggregate
from harness.paths import absolute, writable_dir
from harness.recorded import Recorded
from harness.rows import EpochRow, ExportRow, SweepListRow, SweepRow, SweepTrialRow, TrialRow, TrialSummary
from harness.schema import SCHEMA_VERSION, identify, upgrade

__all__ = ["DB_NAME", "EPOCH_COLUMNS", "SCHEMA_VERSION", "Store", "prepare_results_dir", "resolve_results_dir"]

DB_NAME = "harness.db"
# Each trial's latest export of each kind (float32: quantize IS NULL, INT8: 'int8'), numbered in
# one pass over the exports: a subquery per trial scanned them all for every trial (10,000
# trials x 4,000 exports took 5.6 s).
LATEST_EXPORTS = (
    "WITH latest AS (SELECT trial_id, quantize, status, details_json,"
    " ROW_NUMBER() OVER (PARTITION BY trial_id, quantize ORDER BY id DESC) AS n FROM exports)"
)
EPOCH_COLUMNS = (
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "epoch_time_s",
    "eval_time_s",
    "samples_per_s",
)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def resolve_results_dir(results: str | os.PathLike | None = None) -> Path:
    """`--results`, else `HARNESS_RESULTS`, else ./results; absolute."""
    return absolute(results or os.environ.get("HARNESS_RESULTS") or "results")


def trial_key(sweep_id: str, ray_id: str) -> str:
    """The store's id of a trial: unique across sweeps, and safe in a file name."""
    return f"{sweep_id}.{ray_id}"


def _epoch_result(row: dict[str, Any]) -> dict[str, Any]:
    """A stored epoch as the trial reported it: its number, metrics and the task's own scores."""
    extra = json.loads(row["extra_json"]) if row["extra_json"] else {}
    return {"epoch": row["epoch"], **{c: row[c] for c in EPOCH_COLUMNS if row[c] is not None}, **extra}


def prepare_results_dir(results_dir: Path) -> Path:
    """Create the folder and prove it is writable, before any sweep starts."""
    return writable_dir(
        results_dir, what="results folder", hint="pass --results DIR (or set HARNESS_RESULTS) to a writable folder"
    )


class Store:
    def __init__(self, path: Path, *, writer: bool = False) -> None:
        """Open the store at `path`: a harness store (upgraded in one transaction when older), or,
        for a `writer`, a new one. Any other file is refused before a byte of it is written."""
        self.path = path
        version = identify(path, writer=writer)
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
        self, *, sweep_id: str, task: str, seed: int, command: str, spec_json: str, environment: dict[str, Any]
    ) -> None:
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

    def start_trial(self, *, trial_id: str, sweep_id: str, config: dict[str, Any]) -> str:
        """Record a trial by Ray's id (`trial_id`); returns the store's id for it, qualified by
        the sweep, since Ray's short ids repeat across sweeps."""
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

    def record_epoch(self, *, trial_id: str, result: dict[str, Any], node: str | None = None) -> bool:
        """One epoch's metrics, written once: an epoch the store holds already (re-reported by a
        trial that resumed from an earlier checkpoint) writes nothing. Returns whether it wrote."""
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
                " gpu_ids = COALESCE(gpu_ids, ?), precision = COALESCE(precision, ?) WHERE id = ?",
                (
                    result.get("params"),
                    node,
                    bool(result.get("diverged")),
                    result.get("device"),
                    None if gpu_ids is None else json.dumps([str(g) for g in gpu_ids]),
                    result.get("precision"),
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
        details: dict[str, Any],
    ) -> None:
        """The verification of an exported file: "verified" or "failed", with its numbers."""
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

    # -- reads ---------------------------------------------------------------------------

    def _rows(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        """The query's rows as dicts; each public read names their shape (`harness.rows`), which
        the schema and the query guarantee, not mypy."""
        return [dict(r) for r in self.conn.execute(sql, params)]

    def recorded(self, sweep_id: str, *, storage: str | None = None) -> Recorded:
        """What a resumed sweep must not do again, by Ray's trial id: its trials that ended (not
        interrupted) with the last epoch stored of each, and the best checkpoint of each other
        one (`storage`: the sweep's)."""
        rows = self._rows(
            f"SELECT t.ray_id, t.status, t.ended_at, t.checkpoint_path, e.epoch, e.extra_json,"
            f" {', '.join(f'e.{c}' for c in EPOCH_COLUMNS)} FROM trials t LEFT JOIN epochs e ON e.trial_id = t.id"
            " AND e.epoch = (SELECT MAX(epoch) FROM epochs WHERE trial_id = t.id) WHERE t.sweep_id = ?",
            (sweep_id,),
        )
        ended = {r["ray_id"]: r for r in rows if r["ended_at"] and r["status"] != Status.INTERRUPTED}
        return Recorded(
            ended={i: r["status"] for i, r in ended.items()},
            last_epochs={i: _epoch_result(r) for i, r in ended.items() if r["epoch"] is not None},
            checkpoints={
                r["ray_id"]: r["checkpoint_path"] for r in rows if r["checkpoint_path"] and r["ray_id"] not in ended
            },
            storage=storage,
        )

    def trial(self, trial_id: str) -> TrialRow:
        """A trial by its id, or by Ray's short id where that names one trial only."""
        rows = cast(
            "list[TrialRow]",
            self._rows("SELECT * FROM trials WHERE id = ?", (trial_id,))
            or self._rows("SELECT * FROM trials WHERE ray_id = ? ORDER BY id", (trial_id,)),
        )
        if not rows:
            raise HarnessError(
                f"no trial {trial_id!r} in {str(self.path)!r}", "see `harness leaderboard` for trial ids"
            )
        if len(rows) > 1:
            raise HarnessError(
                f"trial id {trial_id!r} names {len(rows)} trials of different sweeps "
                f"({', '.join(r['id'] for r in rows[:3])})",
                "pass the full id",
            )
        return rows[0]

    def short_ids(self) -> dict[str, str]:
        """Each trial's id as tables show it: Ray's short id where no other trial shares it."""
        rows = self._rows("SELECT id, ray_id, COUNT(*) OVER (PARTITION BY ray_id) AS n FROM trials")
        return {r["id"]: r["ray_id"] if r["n"] == 1 and r["ray_id"] else r["id"] for r in rows}

    def epochs(self, trial_id: str) -> list[EpochRow]:
        return cast("list[EpochRow]", self._rows("SELECT * FROM epochs WHERE trial_id = ? ORDER BY epoch", (trial_id,)))

    def exports(self, trial_id: str) -> list[ExportRow]:
        return cast("list[ExportRow]", self._rows("SELECT * FROM exports WHERE trial_id = ? ORDER BY id", (trial_id,)))

    def epochs_by_trial(self, *, task: str, sweep_id: str | None = None) -> dict[str, list[EpochRow]]:
        """Every epoch of the task's trials (of one sweep, when given), per trial, in order: one query."""
        sql = "SELECT e.* FROM epochs e JOIN trials t ON t.id = e.trial_id WHERE t.task = ?"
        rows = cast(
            "list[EpochRow]",
            self._rows(
                sql + (" AND t.sweep_id = ?" if sweep_id else "") + " ORDER BY e.trial_id, e.epoch",
                (task, sweep_id) if sweep_id else (task,),
            ),
        )
        out: dict[str, list[EpochRow]] = {}
        for row in rows:
            out.setdefault(row["trial_id"], []).append(row)
        return out

    def trial_summaries(
        self, *, task: str | None = None, sweep_id: str | None = None, metric: str = "val_acc", mode: Mode = Mode.MAX
    ) -> Iterator[TrialSummary]:
        """Per trial: config, status, best metric and its epoch, means of time and throughput,
        and the status of its latest export."""
        if metric not in EPOCH_COLUMNS:
            raise ValueError(f"metric {metric!r} is not an epoch column")
        best = sql_aggregate(mode)
        filters = {"t.task": task, "t.sweep_id": sweep_id}
        where = " AND ".join(f"{col} = ?" for col, v in filters.items() if v is not None)
        params = tuple(v for v in filters.values() if v is not None)
        rows = self._rows(
            f"{LATEST_EXPORTS} SELECT t.*, COUNT(e.epoch) AS epochs_run, {best}(e.{metric}) AS best_metric,"
            " AVG(e.epoch_time_s) AS mean_epoch_time_s, AVG(e.samples_per_s) AS mean_samples_per_s,"
            # the latest float32 export's status and figures, and the latest INT8 one's
            " f.status AS onnx, f.details_json AS onnx_details, q.details_json AS int8_details"
            " FROM trials t LEFT JOIN epochs e ON e.trial_id = t.id"
            " LEFT JOIN latest f ON f.trial_id = t.id AND f.quantize IS NULL AND f.n = 1"
            " LEFT JOIN latest q ON q.trial_id = t.id AND q.quantize = 'int8' AND q.n = 1"
            f" {'WHERE ' + where if where else ''} GROUP BY t.id",
            params,
        )
        yield from cast("list[TrialSummary]", rows)

    def tasks(self, sweep_id: str | None = None) -> list[str]:
        if sweep_id:
            return [
                r["task"]
                for r in self._rows("SELECT DISTINCT task FROM trials WHERE sweep_id = ? ORDER BY task", (sweep_id,))
            ]
        return [r["task"] for r in self._rows("SELECT DISTINCT task FROM trials ORDER BY task")]

    def counts(self) -> dict[str, int]:
        """Row counts per table: tests use them to prove that a refused command wrote nothing."""
        return {
            t: self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("sweeps", "trials", "epochs", "exports")
        }
