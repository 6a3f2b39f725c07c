"""The store's reads: every query a command or the driver asks of the results store.

A mixin of `harness.store.db.Store`, which owns the connection and the writes; the rows come back
in the typed shapes of `harness.store.rows`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from harness.errors import HarnessError
from harness.kinds import COUNTED, Mode, sql_aggregate
from harness.store.rows import EpochRow, ExportRow, ProbeRow, RuntimeCheckRow, StoredTrial, TrialRow, TrialSummary

# Each trial's latest export of each kind (float32: quantize IS NULL, INT8: 'int8'), numbered in
# one pass over the exports: a subquery per trial scanned them all for every trial (10,000
# trials x 4,000 exports took 5.6 s).
# `matrix`: each export's cross-runtime tally, counted as harness.runtimes.registry.tally counts it;
# `matrices`: each export's rows, as one JSON array (the board's fastest deployment reads them).
LATEST_EXPORTS = (
    "WITH latest AS (SELECT id, trial_id, quantize, status, details_json,"
    " ROW_NUMBER() OVER (PARTITION BY trial_id, quantize ORDER BY id DESC) AS n FROM exports),"
    " matrix AS (SELECT export_id, SUM(status = 'passed') AS passed, COUNT(*) AS checked FROM runtime_checks"
    f" WHERE informational = 0 AND status IN ({', '.join(repr(s.value) for s in COUNTED)}) GROUP BY export_id),"
    " matrices AS (SELECT export_id, json_group_array(json(details_json)) AS rows FROM runtime_checks"
    " GROUP BY export_id)"
)
EPOCH_COLUMNS = (
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "epoch_time_s",
    "eval_time_s",
    "samples_per_s",
    "cpu_s",  # NULL in stores older than schema 8
    "gpu_s",  # NULL on the CPU
)


def _epoch_result(row: dict[str, Any]) -> dict[str, Any]:
    """A stored epoch as the trial reported it: its number, metrics and the task's own scores."""
    extra = json.loads(row["extra_json"]) if row["extra_json"] else {}
    return {"epoch": row["epoch"], **{c: row[c] for c in EPOCH_COLUMNS if row[c] is not None}, **extra}


class Reads:
    conn: sqlite3.Connection
    path: Path

    def _rows(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        """The query's rows as dicts; each public read names their shape (`harness.store.rows`), which
        the schema and the query guarantee, not mypy."""
        return [dict(r) for r in self.conn.execute(sql, params)]

    def sweep_record(self, sweep_id: str) -> list[StoredTrial]:
        """Every trial of a sweep with its config and stored epochs (as each was reported), in
        the order they started: what a resume re-plans the sweep from (harness.sweeps.resume)."""
        trials = self._rows(
            "SELECT id, ray_id, status, ended_at, checkpoint_path, config_json FROM trials WHERE sweep_id = ?"
            " ORDER BY started_at, id",
            (sweep_id,),
        )
        epochs: dict[str, list[dict[str, Any]]] = {t["id"]: [] for t in trials}
        for row in self._rows(
            f"SELECT e.trial_id, e.epoch, e.extra_json, {', '.join(f'e.{c}' for c in EPOCH_COLUMNS)} FROM epochs e"
            " JOIN trials t ON t.id = e.trial_id WHERE t.sweep_id = ? ORDER BY e.trial_id, e.epoch",
            (sweep_id,),
        ):
            epochs[row["trial_id"]].append(_epoch_result(row))
        return [cast(StoredTrial, {**t, "epochs": epochs[t["id"]]}) for t in trials]

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

    def trials(self, *, sweep_id: str | None = None) -> list[TrialRow]:
        """Every trial (of one sweep, when given), in the order they started."""
        where, params = (" WHERE sweep_id = ?", (sweep_id,)) if sweep_id else ("", ())
        return cast("list[TrialRow]", self._rows(f"SELECT * FROM trials{where} ORDER BY started_at, id", params))

    def short_ids(self) -> dict[str, str]:
        """Each trial's id as tables show it: Ray's short id where no other trial shares it."""
        rows = self._rows("SELECT id, ray_id, COUNT(*) OVER (PARTITION BY ray_id) AS n FROM trials")
        return {r["id"]: r["ray_id"] if r["n"] == 1 and r["ray_id"] else r["id"] for r in rows}

    def epochs(self, trial_id: str) -> list[EpochRow]:
        return cast("list[EpochRow]", self._rows("SELECT * FROM epochs WHERE trial_id = ? ORDER BY epoch", (trial_id,)))

    def runtime_checks(self, export_id: int) -> list[RuntimeCheckRow]:
        """The cross-runtime matrix recorded with one export's verification, in the order it ran."""
        rows = self._rows("SELECT details_json FROM runtime_checks WHERE export_id = ? ORDER BY id", (export_id,))
        return [json.loads(r["details_json"]) for r in rows]

    def latest_matrix(self, trial_id: str, *, quantize: str | None = None) -> list[RuntimeCheckRow]:
        """The cross-runtime matrix of the trial's latest export that ran one: its float32 file's,
        or its quantized file's (`quantize` "int8"); empty when none ran."""
        rows = self._rows(
            "SELECT id FROM exports e WHERE trial_id = ? AND quantize IS ?"
            " AND EXISTS (SELECT 1 FROM runtime_checks r WHERE r.export_id = e.id) ORDER BY id DESC LIMIT 1",
            (trial_id, quantize),
        )
        return self.runtime_checks(rows[0]["id"]) if rows else []

    def probes(self, trial_id: str) -> list[ProbeRow]:
        """The probes recorded for a trial (harness.results.probes), by name, each with its detail parsed."""
        rows = self._rows(
            "SELECT probe, value, n, ci95_low, ci95_high, baseline, detail_json, recorded_at FROM probes"
            " WHERE trial_id = ? ORDER BY probe",
            (trial_id,),
        )
        return [
            cast(
                ProbeRow, {**{k: v for k, v in r.items() if k != "detail_json"}, "detail": json.loads(r["detail_json"])}
            )
            for r in rows
        ]

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
            " f.status AS onnx, f.details_json AS onnx_details, q.details_json AS int8_details,"
            " m.passed AS runtimes_passed, m.checked AS runtimes_checked,"
            " fm.rows AS onnx_matrix, qm.rows AS int8_matrix"
            " FROM trials t LEFT JOIN epochs e ON e.trial_id = t.id"
            " LEFT JOIN latest f ON f.trial_id = t.id AND f.quantize IS NULL AND f.n = 1"
            " LEFT JOIN latest q ON q.trial_id = t.id AND q.quantize = 'int8' AND q.n = 1"
            " LEFT JOIN matrix m ON m.export_id = f.id"
            " LEFT JOIN matrices fm ON fm.export_id = f.id LEFT JOIN matrices qm ON qm.export_id = q.id"
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
            for t in ("sweeps", "trials", "epochs", "exports", "runtime_checks", "probes")
        }
