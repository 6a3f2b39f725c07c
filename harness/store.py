"""The results store: one SQLite file, written only by the sweep driver.

Every reported epoch is one transaction as it arrives, so a killed sweep keeps every finished
epoch. WAL mode lets `harness leaderboard` read while a sweep writes. Ray workers never touch
this file (SQLite over network filesystems is unsafe, and one writer keeps it simple).
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from harness.errors import HarnessError
from harness.paths import absolute, writable_dir

DB_NAME = "harness.db"
SCHEMA_VERSION = 5
EPOCH_COLUMNS = (
    "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s", "eval_time_s", "samples_per_s",
)  # fmt: skip

SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    status TEXT NOT NULL,              -- running | finished | failed (no usable trial) | interrupted
    created_at TEXT NOT NULL,
    finished_at TEXT,
    seed INTEGER NOT NULL,
    command TEXT NOT NULL,             -- the command line that started it
    spec_json TEXT NOT NULL,           -- the validated SweepSpec
    environment_json TEXT NOT NULL     -- versions, CPU, GPU: what makes numbers comparable
);
CREATE TABLE IF NOT EXISTS trials (
    id TEXT PRIMARY KEY,               -- Ray Tune's trial id
    sweep_id TEXT NOT NULL REFERENCES sweeps(id),
    task TEXT NOT NULL,
    arch TEXT NOT NULL,
    optimizer TEXT NOT NULL,
    lr REAL NOT NULL,
    batch_size INTEGER NOT NULL,
    epochs INTEGER NOT NULL,           -- planned; the epochs table holds those run
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,              -- running | finished | stopped (ASHA, time budget) | diverged | error | interrupted
    error TEXT,                        -- one line: the exception's type and message
    traceback TEXT,                    -- the whole error report Ray kept (`harness show` prints it)
    params INTEGER,
    node TEXT,                         -- the Ray node it ran on: IP/node-id prefix
    checkpoint_path TEXT,              -- best checkpoint so far (directory)
    config_json TEXT,                  -- the whole trial config (weight decay, split, size, ...)
    best_epoch INTEGER,                -- the epoch of the best checkpoint
    test_json TEXT,                    -- that checkpoint on the test split: scores, confusion matrix
    started_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE TABLE IF NOT EXISTS epochs (
    trial_id TEXT NOT NULL REFERENCES trials(id),
    epoch INTEGER NOT NULL,            -- 1-based
    train_loss REAL, train_acc REAL, val_loss REAL, val_acc REAL,
    epoch_time_s REAL,                 -- training only, seconds
    eval_time_s REAL,                  -- validation pass, seconds
    samples_per_s REAL,                -- training images per second
    extra_json TEXT,                   -- the task's own scores, e.g. {"val_psnr": ...} for upsampling
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (trial_id, epoch)
);
CREATE TABLE IF NOT EXISTS exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id TEXT NOT NULL REFERENCES trials(id),
    path TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,              -- exported (not yet verified) | verified | failed
    quantize TEXT,                     -- NULL for the float32 file, "int8" for its quantized sibling
    opset INTEGER, ir_version INTEGER,
    provider TEXT,                     -- onnxruntime execution provider actually used
    max_abs_diff REAL, top1_agreement REAL,
    torch_metric REAL, ort_metric REAL,
    details_json TEXT
);
"""
# Upgrades of an older store, in order: MIGRATIONS[v] takes a version-v store to v + 1.
MIGRATIONS = {
    1: "ALTER TABLE epochs ADD COLUMN extra_json TEXT;",
    2: "ALTER TABLE trials ADD COLUMN config_json TEXT; ALTER TABLE trials ADD COLUMN best_epoch INTEGER;"
       " ALTER TABLE trials ADD COLUMN test_json TEXT;",
    3: "ALTER TABLE exports ADD COLUMN quantize TEXT;",
    4: "ALTER TABLE trials ADD COLUMN traceback TEXT;",
}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def resolve_results_dir(results: str | os.PathLike | None = None) -> Path:
    """`--results`, else `HARNESS_RESULTS`, else ./results; absolute."""
    return absolute(results or os.environ.get("HARNESS_RESULTS") or "results")


def prepare_results_dir(results_dir: Path) -> Path:
    """Create the folder and prove it is writable, before any sweep starts."""
    return writable_dir(results_dir, what="results folder",
                        hint="pass --results DIR (or set HARNESS_RESULTS) to a writable folder")  # fmt: skip


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, timeout=30)
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise HarnessError(
                f"{str(path)!r} is not a harness results store ({exc})",
                "move it away or pass --results DIR for another folder",
            ) from None
        self.conn.execute("PRAGMA foreign_keys=ON")
        if version > SCHEMA_VERSION:
            raise HarnessError(
                f"results store {str(path)!r} has schema {version}, newer than this harness ({SCHEMA_VERSION})",
                "upgrade harness or pass --results DIR for another store",
            )
        if version < SCHEMA_VERSION:  # a new or older file: opening an up-to-date store writes nothing
            with self.conn:
                if version == 0:
                    self.conn.executescript(SCHEMA)  # a new file: today's schema at once
                else:
                    for v in range(version, SCHEMA_VERSION):
                        self.conn.executescript(MIGRATIONS[v])
                self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @classmethod
    def create(cls, results_dir: Path) -> "Store":
        """Open for writing, creating the folder and the file when needed."""
        return cls(prepare_results_dir(results_dir) / DB_NAME)

    @classmethod
    def existing(cls, results_dir: Path) -> "Store":
        """Open a store that must already exist (reading commands never create one)."""
        path = results_dir / DB_NAME
        if not path.is_file():
            raise HarnessError(
                f"no results store at {str(path)!r}",
                "run `harness sweep` first, or pass --results DIR where one was written",
            )
        return cls(path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes: the driver only, one transaction each ---------------------------------

    def create_sweep(self, *, sweep_id: str, task: str, seed: int, command: str, spec_json: str,
                     environment: dict[str, Any]) -> None:  # fmt: skip
        with self.conn:
            self.conn.execute(
                "INSERT INTO sweeps (id, task, status, created_at, seed, command, spec_json, environment_json)"
                " VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
                (sweep_id, task, now(), seed, command, spec_json, json.dumps(environment, sort_keys=True)),
            )

    def sweep(self, sweep_id: str | None = None) -> dict[str, Any]:
        """A sweep by id, or the latest one."""
        rows = (self._rows("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)) if sweep_id
                else self._rows("SELECT * FROM sweeps ORDER BY created_at DESC, id DESC LIMIT 1"))  # fmt: skip
        if not rows:
            which = f"no sweep {sweep_id!r}" if sweep_id else "no sweep"
            raise HarnessError(f"{which} in {str(self.path)!r}", "`harness sweeps` lists the stored sweeps")
        return rows[0]

    def sweeps(self) -> list[dict[str, Any]]:
        """Every sweep, newest first, with its trials counted by status."""
        rows = self._rows("SELECT * FROM sweeps ORDER BY created_at DESC, id DESC")
        counts = self._rows("SELECT sweep_id, status, COUNT(*) AS n FROM trials GROUP BY sweep_id, status")
        for row in rows:
            row["trials"] = {c["status"]: c["n"] for c in counts if c["sweep_id"] == row["id"]}
        return rows

    def latest_reproduction(self, report: str) -> dict[str, Any]:
        """The newest sweep that reproduces `report` (`harness reproduce REPORT --resume`)."""
        for row in self._rows("SELECT * FROM sweeps ORDER BY created_at DESC, id DESC"):
            if json.loads(row["spec_json"]).get("reproduce") == report:
                return row
        raise HarnessError(f"no reproduction of {report} in {str(self.path)!r}", f"run `harness reproduce {report}` first")

    def sweep_trials(self, sweep_id: str) -> list[dict[str, Any]]:
        """The sweep's trials in the order they ended: id, status, error and epochs run."""
        return self._rows(
            "SELECT t.id, t.status, t.error, t.ended_at, COUNT(e.epoch) AS epochs_run FROM trials t"
            " LEFT JOIN epochs e ON e.trial_id = t.id WHERE t.sweep_id = ? GROUP BY t.id"
            " ORDER BY t.ended_at IS NULL, t.ended_at, t.id",
            (sweep_id,),
        )

    def reopen_sweep(self, sweep_id: str) -> None:
        with self.conn:
            self.conn.execute("UPDATE sweeps SET status = 'running', finished_at = NULL WHERE id = ?", (sweep_id,))

    def trial_statuses(self, sweep_id: str) -> dict[str, int]:
        """How many of the sweep's trials are in each status."""
        rows = self._rows("SELECT status, COUNT(*) AS n FROM trials WHERE sweep_id = ? GROUP BY status", (sweep_id,))
        return {r["status"]: r["n"] for r in rows}

    def finish_sweep(self, sweep_id: str, status: str) -> None:
        with self.conn:
            self.conn.execute(
                "UPDATE sweeps SET status = ?, finished_at = ? WHERE id = ?", (status, now(), sweep_id)
            )

    def start_trial(self, *, trial_id: str, sweep_id: str, config: dict[str, Any]) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO trials (id, sweep_id, task, arch, optimizer, lr, batch_size, epochs, seed,"
                " status, started_at, config_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET status = 'running', ended_at = NULL",
                (trial_id, sweep_id, config["task"], config["arch"], config["optimizer"], config["lr"],
                 config["batch_size"], config["epochs"], config["seed"], now(),
                 json.dumps(config, sort_keys=True, default=str)),
            )  # fmt: skip

    def record_epoch(self, *, trial_id: str, result: dict[str, Any], node: str | None = None) -> None:
        """One epoch's metrics; a re-reported epoch (after a restore) replaces the old row."""
        values = [result.get(c) for c in EPOCH_COLUMNS]
        # Task-specific scores (val_psnr, ...): every train_/val_ number without a column of its own.
        extra = {k: v for k, v in sorted(result.items())
                 if k.startswith(("train_", "val_")) and k not in EPOCH_COLUMNS and isinstance(v, (int, float))}  # fmt: skip
        with self.conn:
            self.conn.execute(
                f"INSERT INTO epochs (trial_id, epoch, {', '.join(EPOCH_COLUMNS)}, extra_json, recorded_at)"
                f" VALUES (?, ?, {', '.join('?' * len(EPOCH_COLUMNS))}, ?, ?)"
                f" ON CONFLICT(trial_id, epoch) DO UPDATE SET"
                f" {', '.join(f'{c} = excluded.{c}' for c in EPOCH_COLUMNS)}, extra_json = excluded.extra_json,"
                f" recorded_at = excluded.recorded_at",
                (trial_id, result["epoch"], *values, json.dumps(extra) if extra else None, now()),
            )
            self.conn.execute(
                "UPDATE trials SET params = COALESCE(?, params), node = COALESCE(?, node),"
                " status = CASE WHEN ? THEN 'diverged' ELSE status END WHERE id = ?",
                (result.get("params"), node, bool(result.get("diverged")), trial_id),
            )
            # The best checkpoint's epoch (every report), its test-split scores (the last epoch's).
            self.conn.execute("UPDATE trials SET best_epoch = COALESCE(?, best_epoch), test_json = COALESCE(?, test_json)"
                              " WHERE id = ?", (result.get("best_epoch") or None, result.get("test_json"), trial_id))  # fmt: skip

    def set_checkpoint(self, trial_id: str, path: str) -> None:
        with self.conn:
            self.conn.execute("UPDATE trials SET checkpoint_path = ? WHERE id = ?", (path, trial_id))

    def end_trial(self, trial_id: str, *, status: str, error: str | None = None, traceback: str | None = None) -> None:
        """Close a trial; a diverged trial stays diverged whatever Ray thinks of it."""
        with self.conn:
            self.conn.execute(
                "UPDATE trials SET status = CASE WHEN status = 'diverged' THEN status ELSE ? END,"
                " error = ?, traceback = ?, ended_at = ? WHERE id = ?",
                (status, error, traceback, now(), trial_id),
            )

    def interrupt_trials(self, sweep_id: str, *, status: str = "interrupted") -> None:
        """Trials of a sweep that ended while they still ran: "interrupted" (Ctrl-C, a killed
        driver) or "stopped" (the time budget ran out). Their finished epochs stay."""
        with self.conn:
            self.conn.execute(
                "UPDATE trials SET status = ?, ended_at = ? WHERE sweep_id = ? AND status = 'running'",
                (status, now(), sweep_id),
            )

    def add_export(self, *, trial_id: str, path: str, opset: int, ir_version: int, quantize: str | None = None) -> int:
        """A written ONNX file, not yet verified (status "exported"); returns its row id."""
        with self.conn:
            cursor = self.conn.execute(
                "INSERT INTO exports (trial_id, path, created_at, status, opset, ir_version, quantize)"
                " VALUES (?, ?, ?, 'exported', ?, ?, ?)",
                (trial_id, path, now(), opset, ir_version, quantize),
            )
        return int(cursor.lastrowid or 0)

    def set_verification(self, export_id: int, *, status: str, provider: str, max_abs_diff: float,
                         top1_agreement: float, torch_metric: float, ort_metric: float,
                         details: dict[str, Any]) -> None:  # fmt: skip
        """The verification of an exported file: "verified" or "failed", with its numbers."""
        with self.conn:
            self.conn.execute(
                "UPDATE exports SET status = ?, provider = ?, max_abs_diff = ?, top1_agreement = ?,"
                " torch_metric = ?, ort_metric = ?, details_json = ? WHERE id = ?",
                (status, provider, max_abs_diff, top1_agreement, torch_metric, ort_metric,
                 json.dumps(details, sort_keys=True), export_id),
            )  # fmt: skip

    # -- reads ---------------------------------------------------------------------------

    def _rows(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql, params)]

    def trial(self, trial_id: str) -> dict[str, Any]:
        rows = self._rows("SELECT * FROM trials WHERE id = ?", (trial_id,))
        if not rows:
            raise HarnessError(f"no trial {trial_id!r} in {str(self.path)!r}", "see `harness leaderboard` for trial ids")
        return rows[0]

    def epochs(self, trial_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM epochs WHERE trial_id = ? ORDER BY epoch", (trial_id,))

    def exports(self, trial_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM exports WHERE trial_id = ? ORDER BY id", (trial_id,))

    def epochs_by_trial(self, *, task: str, sweep_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Every epoch of the task's trials (of one sweep, when given), per trial, in order: one query."""
        sql = "SELECT e.* FROM epochs e JOIN trials t ON t.id = e.trial_id WHERE t.task = ?"
        rows = self._rows(sql + (" AND t.sweep_id = ?" if sweep_id else "") + " ORDER BY e.trial_id, e.epoch",
                          (task, sweep_id) if sweep_id else (task,))  # fmt: skip
        out: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            out.setdefault(row["trial_id"], []).append(row)
        return out

    def trial_summaries(self, *, task: str | None = None, sweep_id: str | None = None, metric: str = "val_acc",
                        mode: str = "max") -> Iterator[dict[str, Any]]:  # fmt: skip
        """Per trial: config, status, best metric and its epoch, means of time and throughput,
        and the status of its latest export."""
        if metric not in EPOCH_COLUMNS:
            raise ValueError(f"metric {metric!r} is not an epoch column")
        best = "MAX" if mode == "max" else "MIN"
        filters = {"t.task": task, "t.sweep_id": sweep_id}
        where = " AND ".join(f"{col} = ?" for col, v in filters.items() if v is not None)
        params = tuple(v for v in filters.values() if v is not None)
        yield from self._rows(
            f"SELECT t.*, COUNT(e.epoch) AS epochs_run, {best}(e.{metric}) AS best_metric,"
            " AVG(e.epoch_time_s) AS mean_epoch_time_s, AVG(e.samples_per_s) AS mean_samples_per_s,"
            # the latest float32 export's status and figures, and the latest INT8 one's
            " (SELECT x.status FROM exports x WHERE x.trial_id = t.id AND x.quantize IS NULL ORDER BY x.id DESC LIMIT 1) AS onnx,"
            " (SELECT x.details_json FROM exports x WHERE x.trial_id = t.id AND x.quantize IS NULL ORDER BY x.id DESC LIMIT 1)"
            " AS onnx_details,"
            " (SELECT x.details_json FROM exports x WHERE x.trial_id = t.id AND x.quantize = 'int8' ORDER BY x.id DESC LIMIT 1)"
            " AS int8_details"
            f" FROM trials t LEFT JOIN epochs e ON e.trial_id = t.id {'WHERE ' + where if where else ''}"
            " GROUP BY t.id",
            params,
        )

    def tasks(self, sweep_id: str | None = None) -> list[str]:
        if sweep_id:
            return [r["task"] for r in self._rows("SELECT DISTINCT task FROM trials WHERE sweep_id = ? ORDER BY task", (sweep_id,))]
        return [r["task"] for r in self._rows("SELECT DISTINCT task FROM trials ORDER BY task")]

    def counts(self) -> dict[str, int]:
        """Row counts per table: tests use them to prove that a refused command wrote nothing."""
        return {t: self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("sweeps", "trials", "epochs", "exports")}  # fmt: skip
